"""Where the lab keeps its files: a cache for Kafka's jars and a home for the running cluster."""
from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Downloaded Kafka jars live here, shared by every cluster and test session."""
    if os.environ.get("DELIVERYLAB_CACHE"):
        return Path(os.environ["DELIVERYLAB_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "deliverylab"


def home_dir() -> Path:
    """The run folder of the local cluster (state file, broker data, logs).

    Tests point DELIVERYLAB_HOME elsewhere so they never touch a learner's running cluster.
    """
    if os.environ.get("DELIVERYLAB_HOME"):
        return Path(os.environ["DELIVERYLAB_HOME"]).expanduser()
    return cache_dir() / "cluster"


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]

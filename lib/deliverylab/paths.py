"""Where the lab keeps its files: a cache for Kafka's jars and a home for the running cluster,
and the lock that makes two processes take turns on one of them."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


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


@contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """An exclusive lock on `folder` (its `.lock` file), held until the block ends, across
    processes: two notebooks starting at once download the jars once and start one cluster."""
    import fcntl  # POSIX only: imported here so that `import deliverylab` works on native
    # Windows too, where the `deliverylab` command then says to use WSL2 (cluster/host.py)

    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)

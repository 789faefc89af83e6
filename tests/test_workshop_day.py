"""The short workshop day (bench/workshop_day.py, about 25 fast runs in a row on the session's
cluster): no run fails, nothing is left behind (topics, groups, workers, nftables tables, empty
cgroups, run folders), and the day's figures are measured. The full day (140+ runs) is a bench."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.kafka

BENCH = Path(__file__).resolve().parents[1] / "bench" / "workshop_day.py"


def workshop_day():
    spec = importlib.util.spec_from_file_location("workshop_day", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_a_short_workshop_day_fails_nothing_and_leaves_nothing(cluster):
    w = workshop_day()
    steps = w.short_day()
    assert len(steps) >= 24
    report = w.day(cluster, Path(cluster.home), steps, log=lambda line: None, leftovers_within_s=30)
    assert report["failures"] == [], report["failures"]
    assert report["reference_held"]
    assert not any(report["leftovers"].values()), report["leftovers"]
    for when in ("start", "middle", "end"):
        assert report["samples"][when]["broker_rss_mb"] > 0  # the JVMs were found and measured
    assert report["samples"]["end"]["runs_folder_mb"] < 1.0  # every run removed its folder

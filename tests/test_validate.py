"""Repeated-run validation at small R on real brokers: every guarantee holds in every run."""
from __future__ import annotations

import pytest

from deliverylab import plots
from deliverylab.nemesis import NETWORK_FAULTS
from deliverylab.experiments.validate import report, scenarios, validate, violations

pytestmark = pytest.mark.kafka


def test_every_guarantee_holds_at_small_repeat(cluster):
    # The network scenarios (a partition must outlast the broker session: ~12 s a run) are
    # asserted one by one, with the same invariants, in test_network_faults.py; the scenarios
    # without an invariant only report a spread, which one run cannot show (their effects are
    # asserted in test_engine.py and test_network_faults.py).
    runs = validate(repeat=1, messages=60, producer_messages=1000, crash_prob=0.05,
                    skip_faults=NETWORK_FAULTS, checked_only=True)
    assert set(runs.scenario) == {s.name for s in scenarios() if s.invariant is not None
                                  and s.params.get("fault") not in NETWORK_FAULTS}
    bad = violations(runs)
    assert bad.empty, f"guarantees violated:\n{bad.to_string()}"
    checked = runs.dropna(subset=["held"])
    assert len(checked) >= 20 and checked.held.all()
    assert runs[runs.kind == "consumer"].crashes.sum() > 0  # the crashes really happened
    table = report(runs)
    assert list(table.columns[:4]) == ["scenario", "guarantee", "runs", "held"]
    fig = plots.compare(runs, by="scenario", metrics=("lost", "duplicated"))
    assert fig.axes


def test_violation_is_detected():
    """The checker side of validation: a run that lost a message under at-least-once fails."""
    import pandas as pd
    runs = pd.DataFrame([{"scenario": "at-least-once / after-process", "held": False, "lost": 1,
                          "duplicated": 0}])
    assert len(violations(runs)) == 1

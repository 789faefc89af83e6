"""The course's opening and closing story on real brokers: the settings many apps run with lose
payments and charge twice under a broker fault and worker crashes; the recommended settings,
under the same faults, do neither."""
from __future__ import annotations

import pytest

from deliverylab.errors import LabError
from deliverylab.experiments import Story, run_story

pytestmark = pytest.mark.kafka

# The checkout sends for 7.5 s, so the run outlasts the fault (struck in the 2nd quarter, ~1 s to
# apply, 1 s to heal) even with two test clusters on two cores. The charging stage charges what
# the checkout stored (≤ 240 payments): 3 or 4 crashes.
CI = dict(payments=240, rate=32, crash_every=60)


def handed_over_exactly(r):
    """The charging input is the checkout's read-back: each payment once per stored copy, and
    none the checkout lost — so a payment lost at checkout can never be charged."""
    pm = r.producer.messages
    carried = list(r.consumer.spec["input_payments"])
    stored = [int(i) for i, n in zip(pm["index"], pm["stored_copies"]) for _ in range(int(n))]
    assert carried == stored and r.summary["charges"] == len(stored)
    gone = set(pm.loc[pm["stored_copies"] == 0, "index"].astype(int))
    assert gone.isdisjoint(carried)
    return gone


def test_typical_settings_lose_payments_and_charge_twice(cluster):
    r = run_story(Story("typical", **CI), cluster)
    s = r.summary
    assert s["broker_faults"] == 1 and s["worker_crashes"] == s["charges"] // 60
    assert s["producer_acked_but_lost"] >= 1, s  # acks=1: the stale follower took over
    gone = handed_over_exactly(r)
    assert len(gone) >= s["producer_acked_but_lost"]  # lost at checkout → never charged
    assert s["consumer_duplicated"] >= 1, s  # auto-commit: charged, then killed before the timer
    assert s["lost_payments"] >= 1 and s["double_charges"] >= 1
    assert len(r.lost) == s["lost_payments"]
    assert int((r.doubled["times_charged"] - 1).sum()) == s["double_charges"]
    assert r.lost["payment_id"].is_unique and r.lost["payment_id"].str.startswith("pay-").all()
    assert set(r.causes["notebook"]) >= {"07", "01, 03"}
    assert r.warnings == []  # the fault ended inside the run; commits fell between crashes


def test_recommended_settings_lose_nothing_and_charge_once_under_the_same_faults(cluster):
    r = run_story(Story("recommended", **CI), cluster)
    s = r.summary
    assert s["broker_faults"] == 1 and s["worker_crashes"] == 4  # the same faults struck
    assert handed_over_exactly(r) == set() and s["charges"] == 240  # all stored, once
    assert (s["lost_payments"], s["double_charges"]) == (0, 0), s
    assert s["producer_failed_reported"] == 0
    assert r.lost.empty and r.doubled.empty
    assert r.warnings == []


@pytest.mark.parametrize("kw, match", [
    ({"settings": "safe"}, "typical"),
    ({"payments": 900}, "at most 500"),
    ({"payments": 50, "crash_every": 80}, "never crash"),
    ({"rate": 0}, "rate"),
])
def test_bad_story_is_one_clear_error(kw, match):
    with pytest.raises(LabError, match=match):
        Story(**kw).check()

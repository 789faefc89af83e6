"""The course's opening and closing story on real brokers: the settings many apps run with lose
payments and charge twice under a broker fault and worker crashes; the recommended settings,
under the same faults, do neither."""
from __future__ import annotations

import pytest

from deliverylab.errors import LabError
from deliverylab.experiments import Story, run_story

pytestmark = pytest.mark.kafka

# The checkout sends for 7.5 s, so the run outlasts the fault (struck in the 2nd quarter, ~1 s to
# apply, 1 s to heal) even with two test clusters on two cores.
CI = dict(payments=300, rate=40, charges=200, crash_every=60)


def test_typical_settings_lose_payments_and_charge_twice(cluster):
    r = run_story(Story("typical", **CI), cluster)
    s = r.summary
    assert s["broker_faults"] == 1 and s["worker_crashes"] == 3
    assert s["producer_acked_but_lost"] >= 1, s  # acks=1: the stale follower took over
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
    assert s["broker_faults"] == 1 and s["worker_crashes"] == 3  # the same faults struck
    assert (s["lost_payments"], s["double_charges"]) == (0, 0), s
    assert s["producer_failed_reported"] == 0
    assert r.lost.empty and r.doubled.empty
    assert r.warnings == []


@pytest.mark.parametrize("kw, match", [
    ({"settings": "safe"}, "typical"),
    ({"payments": 900}, "at most 500"),
    ({"charges": 50, "crash_every": 80}, "never crash"),
    ({"rate": 0}, "rate"),
])
def test_bad_story_is_one_clear_error(kw, match):
    with pytest.raises(LabError, match=match):
        Story(**kw).check()

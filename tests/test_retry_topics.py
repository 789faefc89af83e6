"""The retry pipeline on the session's real cluster: nothing lost, poison in the DLT, transient
messages processed on a later attempt, and the counts add up to the input."""
from __future__ import annotations

import pandas as pd
import pytest

from deliverylab.errors import LabError
from deliverylab.retry_topics import (RetryPipeline, count_places, failure_plan, plot_latency,
                                      plot_places, reordered_example, run_retry_pipeline)

SPEC = dict(messages=60, transient_rate=0.15, poison_rate=0.05, delays_ms=(100, 200), seed=3)


def test_failure_plan_is_seeded_and_has_every_kind():
    a, b = failure_plan(RetryPipeline(**SPEC)), failure_plan(RetryPipeline(**SPEC))
    pd.testing.assert_frame_equal(a, b)
    assert set(a["kind"]) == {"ok", "transient", "poison"}
    assert a.loc[a.kind == "transient", "fails"].between(1, 2).all()


def test_count_places_is_pure_and_finds_lost_and_duplicated():
    plan = failure_plan(RetryPipeline(messages=4, transient_rate=0, poison_rate=0)).set_index("msg_id")
    records = pd.DataFrame([
        {"stage": "processed", "msg_id": "m000000", "attempt": 1, "t": 1.0, "created": 0.5, "t0": 0.0},
        {"stage": "retry-1", "msg_id": "m000001", "attempt": 1, "t": 1.0, "created": 0.5, "t0": 0.0},
        {"stage": "dlt", "msg_id": "m000001", "attempt": 3, "t": 2.0, "created": 0.5, "t0": 0.0},
        {"stage": "processed", "msg_id": "m000002", "attempt": 1, "t": 1.0, "created": 0.5, "t0": 0.0},
        {"stage": "processed", "msg_id": "m000002", "attempt": 1, "t": 1.1, "created": 0.5, "t0": 0.0},
    ])
    out = count_places(plan, records).set_index("msg_id")
    assert out.loc["m000000", "place"] == "processed (attempt 1)"
    assert out.loc["m000001", "final"] == "dead-lettered" and out.loc["m000001", "retry_hops"] == 1
    assert out.loc["m000002", "final"] == "duplicated"
    assert out.loc["m000003", "final"] == "lost"
    assert out.loc["m000000", "latency_s"] == pytest.approx(0.5)


def test_bad_spec_is_one_clear_error():
    with pytest.raises(LabError, match="mode"):
        RetryPipeline(mode="retry-queue").check()
    with pytest.raises(LabError, match="delays_ms"):
        RetryPipeline(delays_ms=()).check()


def _check_accounting(result, spec: RetryPipeline) -> None:
    s, m = result.summary, result.messages
    assert s["lost"] == 0 and s["duplicated"] == 0, result.extra
    assert not s["timed_out"] and s["errors"] == 0, result.extra
    assert len(m) == spec.messages
    assert s["processed"] + s["dead_lettered"] == spec.messages
    assert sum(s[f"processed_attempt_{a}"] for a in range(1, spec.attempts + 1)) == s["processed"]
    # poison always fails: every poison message, and only those, ends in the DLT
    assert (m.loc[m.kind == "poison", "final"] == "dead-lettered").all()
    assert set(m.loc[m.final == "dead-lettered", "kind"]) <= {"poison"}
    # transient ones succeed on the attempt after their last failure
    plan = failure_plan(spec).set_index("msg_id")
    transient = m[m.kind == "transient"].set_index("msg_id")
    assert (transient["final"] == "processed").all()
    assert (transient["attempts"] == plan.loc[transient.index, "fails"] + 1).all()
    assert (m.loc[m.kind == "ok", "attempts"] == 1).all()


def test_retry_topics_lose_nothing(cluster):
    spec = RetryPipeline(**SPEC)
    result = run_retry_pipeline(spec, cluster=cluster)
    _check_accounting(result, spec)
    topics = result.topics.set_index("stage")["records"]
    failing_first = int((result.messages.kind != "ok").sum())
    assert topics["input"] == spec.messages
    assert topics["retry-1"] == failing_first  # every first failure goes to retry-1
    assert topics["dlt"] == result.summary["dead_lettered"]
    # the example of reordering exists exactly when some key was reordered
    assert (len(reordered_example(result)) > 0) == (result.summary["reordered_keys"] > 0)
    assert plot_places(result).axes and plot_latency([result]).axes


def test_blocking_retries_lose_nothing_and_keep_order(cluster):
    spec = RetryPipeline(**SPEC, mode="blocking")
    result = run_retry_pipeline(spec, cluster=cluster)
    _check_accounting(result, spec)
    assert result.summary["reordered_keys"] == 0
    assert "retry-1" not in set(result.topics["stage"])

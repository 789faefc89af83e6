"""The retry pipeline on the session's real cluster: nothing lost, poison in the DLT, transient
messages processed on a later attempt, and the counts add up to the input — also when the main
stage is SIGKILLed mid-run, and never by counting a half-read topic."""
from __future__ import annotations

import os
import time

import pandas as pd
import pytest
from confluent_kafka import Consumer

import deliverylab.readback
from deliverylab.errors import LabError
from deliverylab.experiments import RetryPipeline, failure_plan, run_retry_pipeline
from deliverylab.plots import latency_points, place_bars
from deliverylab.retry_counts import count_places, reordered_example
from lab_asserts import left_behind

SPEC = dict(messages=60, transient_rate=0.15, poison_rate=0.05, delays_ms=(100, 200), seed=3)


def test_failure_plan_is_seeded_and_has_every_kind():
    a, b = failure_plan(RetryPipeline(**SPEC)), failure_plan(RetryPipeline(**SPEC))
    pd.testing.assert_frame_equal(a, b)
    assert set(a["kind"]) == {"ok", "transient", "poison"}
    assert a.loc[a.kind == "transient", "fails"].between(1, 2).all()


def test_count_places_is_pure_and_finds_lost_and_duplicated():
    plan = failure_plan(RetryPipeline(messages=4, transient_rate=0, poison_rate=0)).set_index("msg_id")
    records = pd.DataFrame([
        {"stage": "processed", "msg_id": "m000000", "attempt": 1, "at": 11.0, "consumed_at": 10.5},
        {"stage": "retry-1", "msg_id": "m000001", "attempt": 1, "at": 11.0, "consumed_at": 10.5},
        {"stage": "dlt", "msg_id": "m000001", "attempt": 3, "at": 12.0, "consumed_at": 10.5},
        {"stage": "processed", "msg_id": "m000002", "attempt": 1, "at": 11.0, "consumed_at": 10.5},
        {"stage": "processed", "msg_id": "m000002", "attempt": 1, "at": 11.1, "consumed_at": 10.6},
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
    with pytest.raises(LabError, match="crash_at"):
        RetryPipeline(messages=10, crash_at=10).check()
    with pytest.raises(LabError, match="limit of 1,000,000"):
        RetryPipeline(messages=10**20).check()


def _check_accounting(result, spec: RetryPipeline, duplicates_allowed: bool = False) -> None:
    s, m = result.summary, result.messages
    assert s["lost"] == 0, result.errors
    assert duplicates_allowed or s["duplicated"] == 0, result.errors
    assert not s["timed_out"] and s["errors"] == 0 and not result.errors, result.errors
    assert len(m) == spec.messages
    assert s["processed"] + s["dead_lettered"] + s["duplicated"] == spec.messages
    assert sum(s[f"processed_attempt_{a}"] for a in range(1, spec.attempts + 1)) == s["processed"]
    m = m[m.final != "duplicated"]  # a duplicated message ended twice; the rest ended once
    # poison always fails: every poison message, and only those, ends in the DLT
    assert (m.loc[m.kind == "poison", "final"] == "dead-lettered").all()
    assert set(m.loc[m.final == "dead-lettered", "kind"]) <= {"poison"}
    # transient ones succeed on the attempt after their last failure
    plan = failure_plan(spec).set_index("msg_id")
    transient = m[m.kind == "transient"].set_index("msg_id")
    assert (transient["final"] == "processed").all()
    assert (transient["attempts"] == plan.loc[transient.index, "fails"] + 1).all()
    assert (m.loc[m.kind == "ok", "attempts"] == 1).all()
    # latency counts from the main stage's first read, so worker start-up is not in it
    assert s["startup_s"] > 0 and s["latency_p50_s"] < s["elapsed_s"]


@pytest.mark.kafka
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
    assert place_bars(result).axes and latency_points([result]).axes
    prefix = os.path.commonprefix(list(result.topics["topic"]))  # lab-retry-<run>-
    assert len(prefix) > len("lab-retry-") and left_behind(cluster, prefix) == (set(), set())


@pytest.mark.kafka
def test_blocking_retries_lose_nothing_and_keep_order(cluster):
    spec = RetryPipeline(**SPEC, mode="blocking")
    result = run_retry_pipeline(spec, cluster=cluster)
    _check_accounting(result, spec)
    assert result.summary["reordered_keys"] == 0
    assert "retry-1" not in set(result.topics["stage"])


@pytest.mark.kafka
def test_retry_topics_lose_nothing_when_the_main_stage_is_killed(cluster):
    """SIGKILL after the batch holding message K was forwarded and acknowledged, before the
    commit: the restarted stage forwards that batch again — duplicated, and nothing lost."""
    spec = RetryPipeline(**{**SPEC, "crash_at": 30})
    result = run_retry_pipeline(spec, cluster=cluster)
    _check_accounting(result, spec, duplicates_allowed=True)
    assert result.summary["crashes"] == 1 and result.summary["restarts"] == 1, result.events
    crash = result.events[result.events.kind == "crash"]
    assert '"index": 30' in crash["detail"].iloc[0]
    # the crashed batch was forwarded again: message 30 is in the output twice (at-least-once)
    assert result.messages.set_index("index").loc[30, "final"] == "duplicated"
    assert result.summary["duplicated"] >= 1


class _StallingReadBack(Consumer):
    """A read-back consumer that hands out its first few records and then nothing more, as when
    a partition's leader goes away mid-read. (The pipeline's stages run in worker processes and
    are not affected.)"""

    GIVEN = 5

    def __init__(self, conf):
        super().__init__(conf)
        self.readback = str(conf.get("group.id", "")).startswith("deliverylab-readback-")
        self.given = 0

    def consume(self, num_messages=1, timeout=-1):
        msgs = super().consume(num_messages, timeout=timeout)
        if not self.readback:
            return msgs
        msgs = msgs[:max(0, self.GIVEN - self.given)]
        self.given += len(msgs)
        return msgs


@pytest.mark.kafka
def test_a_half_read_topic_is_an_error_not_lost_messages(cluster, monkeypatch):
    """The retry pipeline's read-back that stops early must raise, not count unread records as
    lost (the bug of the retry pipeline's own read-back copy, fixed by using readback.read_topic)."""
    monkeypatch.setattr(deliverylab.readback, "Consumer", _StallingReadBack)
    monkeypatch.setattr(deliverylab.readback, "TIMEOUT_S", 3.0)
    spec = RetryPipeline(**{**SPEC, "messages": 30})
    with pytest.raises(LabError, match="did not reach the end"):
        result = run_retry_pipeline(spec, cluster=cluster)
        pytest.fail(f"counted a half-read pipeline: {result.summary}")


def _retry_workers_of(run_home) -> list[int]:
    """Pids of retry-stage worker processes whose command line names a run folder under run_home."""
    from pathlib import Path
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"deliverylab.workers" in cmd and b"retry-" in cmd and str(run_home).encode() in cmd:
                found.append(int(entry.name))
    return found


@pytest.mark.kafka
def test_an_interrupted_pipeline_leaves_no_worker_running(cluster):
    """A kernel interrupt (KeyboardInterrupt from the progress callback, as a panel would see it)
    stops the run, and every stage's worker is killed before the call returns."""
    from deliverylab.paths import home_dir

    calls = []

    def progress(done, total):
        calls.append(done)
        if len(calls) == 2:
            raise KeyboardInterrupt
    spec = RetryPipeline(**{**SPEC, "delays_ms": (2000, 4000)})  # long enough to be mid-run
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_retry_pipeline(spec, cluster=cluster, progress=progress)
    assert time.monotonic() - t0 < 30
    assert not _retry_workers_of(home_dir() / "runs")

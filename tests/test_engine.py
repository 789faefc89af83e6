"""What Kafka's semantics guarantee, checked on real brokers with real SIGKILLed workers.

Each assertion is a guarantee (or a documented hazard) of a delivery model or producer setting;
the counts come from the ledger and a read-back, and a fresh consumer recounts the topic.
"""
from __future__ import annotations

import json
import shutil
import uuid

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from deliverylab.clients import quiet
from deliverylab.experiments import (ConsumerExperiment, ProducerExperiment, run_consumer,
                                     run_producer)
from deliverylab.crash import CrashSpec
from deliverylab.nemesis import FaultSpec, seeded_fault
from deliverylab.vocabulary import CRASH_POINTS, MODELS
from lab_asserts import left_behind

pytestmark = pytest.mark.kafka


def consumer(cluster, model, n=120, point=None, every=40, **kw):
    crash = CrashSpec(point, every=every) if point else None
    return run_consumer(ConsumerExperiment(model=model, messages=n, crash=crash, **kw), cluster)


@pytest.mark.parametrize("model", MODELS)
def test_no_crash_delivers_every_message_once(cluster, model):
    s = consumer(cluster, model).summary
    assert (s["sent"], s["delivered_once"], s["lost"], s["duplicated"], s["crashes"]) == (120, 120, 0, 0, 0)
    assert s["input_records"] == 120 and not s["timed_out"]


def test_at_most_once_crash_after_commit_loses_never_duplicates(cluster):
    s = consumer(cluster, "at-most-once", point="after-commit", commit_every=1).summary
    assert s["crashes"] == 3
    assert s["lost"] == 3  # exactly the message each crash had committed but not processed
    assert s["duplicated"] == 0


def test_at_least_once_crash_after_process_duplicates_never_loses(cluster):
    runs = {k: consumer(cluster, "at-least-once", point="after-process", commit_every=k).summary
            for k in (5, 25)}
    for s in runs.values():
        assert s["crashes"] == 3 and s["lost"] == 0 and s["duplicated"] > 0
    per_crash = {k: s["duplicated"] / s["crashes"] for k, s in runs.items()}
    assert per_crash[25] > per_crash[5], per_crash


@pytest.mark.parametrize("point", ["commit-in-flight", "after-commit", "after-poll"])
def test_at_least_once_never_loses_at_any_point(cluster, point):
    s = consumer(cluster, "at-least-once", point=point).summary
    assert s["crashes"] == 3 and s["lost"] == 0


def test_exactly_once_mid_transaction(cluster):
    s = consumer(cluster, "exactly-once", n=100, point="mid-transaction", every=30).summary
    assert s["crashes"] == 3
    assert (s["lost"], s["duplicated"]) == (0, 0)  # the read_committed output
    assert s["aborted_reads"] > 0  # read_uncommitted sees the aborted copies
    assert s["uncommitted_duplicated"] > 0
    assert s["store_duplicated"] > 0  # the database write is outside the transaction


@pytest.mark.parametrize("point", CRASH_POINTS["idempotent-consumer"])
def test_idempotent_consumer_every_crash_point(cluster, point):
    s = consumer(cluster, "idempotent-consumer", point=point).summary
    assert s["crashes"] == 3
    assert (s["lost"], s["duplicated"]) == (0, 0)


def mid_process(cluster, model):
    """A crash at the end of message 5's work, which spans several auto-commit ticks."""
    return run_consumer(ConsumerExperiment(model=model, messages=12, processing_ms=250,
                                           auto_commit_interval_ms=50,
                                           crash=CrashSpec("mid-process", at=(5,))), cluster)


def test_auto_commit_loses_the_record_whose_work_a_tick_overtook(cluster):
    # librdkafka stored offset 6 when poll() handed out message 5; a tick during its work
    # committed it; the crash before its effect leaves message 5 lost for good.
    r = mid_process(cluster, "auto-commit")
    assert r.summary["crashes"] == 1
    assert r.messages.loc[r.messages.outcome == "lost", "index"].tolist() == [5]
    assert r.warnings == []


def test_auto_commit_with_store_after_processing_loses_nothing(cluster):
    r = mid_process(cluster, "auto-commit-store")
    assert r.summary["crashes"] == 1 and r.summary["lost"] == 0
    assert r.summary["delivered_once"] + r.summary["duplicated_messages"] == 12


def test_auto_commit_duplicates_grow_with_the_interval(cluster):
    # 20 ms of work per message: the crash at message 70 comes 1.4 s into the run, after at
    # least one tick at either interval, so both restarts resume from a real commit.
    runs = {ms: run_consumer(ConsumerExperiment(model="auto-commit", messages=80, processing_ms=20,
                                                auto_commit_interval_ms=ms,
                                                crash=CrashSpec("after-process", at=(70,))), cluster)
            for ms in (100, 1000)}
    for r in runs.values():
        assert r.summary["lost"] == 0 and r.summary["crashes"] == 1 and r.warnings == []
    assert runs[100].summary["duplicated"] < runs[1000].summary["duplicated"], \
        {ms: r.summary["duplicated"] for ms, r in runs.items()}


def test_at_least_once_time_based_commits_fall_between_crashes(cluster):
    # With processing time, a 100 ms commit interval commits every few messages: a crash repeats
    # only those, not everything since the start (the warning would say so).
    r = run_consumer(ConsumerExperiment(model="at-least-once", messages=90, processing_ms=20,
                                        commit_every=None, commit_interval_ms=100,
                                        crash=CrashSpec("after-process", every=30)), cluster)
    s = r.summary
    assert s["crashes"] == 3 and s["lost"] == 0 and r.warnings == []
    assert 0 < s["duplicated"] <= 3 * 10, s


def test_a_crash_faster_than_every_commit_is_warned_about(cluster):
    r = run_consumer(ConsumerExperiment(model="auto-commit", messages=40,
                                        crash=CrashSpec("after-process", every=10)), cluster)
    assert r.summary["crashes"] == 4
    assert any("Nothing was committed before any of the" in w for w in r.warnings), r.warnings


def fresh_count(cluster, topic):
    """An independent recount: plain confluent-kafka, no lab code."""
    c = Consumer({"bootstrap.servers": cluster.bootstrap_servers, "group.id": uuid.uuid4().hex,
                  "enable.partition.eof": True, "logger": quiet({})["logger"]})
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    ids = []
    while True:
        msg = c.poll(5)
        assert msg is not None, "no EOF within 5 s"
        if msg.error() and msg.error().code() == KafkaError._PARTITION_EOF:
            break
        ids.append(json.loads(msg.value())["id"])
    c.close()
    return ids


def producer(cluster, config, fault, n=1500, seed=1, keep=False, **kw):
    return run_producer(ProducerExperiment(messages=n, config=config, seed=seed,
                                           fault=seeded_fault(fault, n, seed), **kw), cluster, keep=keep)


# Its other faults (pause-leader, pause-followers) are validate scenarios with the same invariant
# (test_validate.py); this one also counts the topic with a fresh consumer.
def test_idempotent_producer_under_leader_fault(cluster, fault="kill-leader"):
    r = producer(cluster, {"acks": "all", "enable.idempotence": True}, fault, keep=True)
    s = r.summary
    try:
        assert (s["duplicated"], s["reordered_keys"], s["acked_but_lost"]) == (0, 0, 0)
        assert s["acked"] == s["sent"] == 1500
        assert (r.events.kind == "fault").sum() == 1 and (r.events.kind == "heal").sum() == 1
        ids = fresh_count(cluster, s["topic"])
        assert len(ids) == s["stored_records"] and len(set(ids)) == 1500
    finally:
        cluster.delete_topics([s["topic"]])
        shutil.rmtree(r.run_dir, ignore_errors=True)


def test_acks_0_loses_silently_on_leader_kill(cluster):
    # The leader dies ahead of its followers (they are paused for LAG_BEFORE_KILL_S first): every
    # record it took in that second is gone, and acks=0 reported each one delivered. A bare
    # kill-leader loses only what was in the socket at the kill, a few ms at 1000/s, and CI
    # once counted none.
    r = producer(cluster, {"acks": "0"}, "kill-leader-lagging-followers", keep=True)
    s = r.summary
    try:
        assert s["acked_but_lost"] > 0 and s["failed_reported"] == 0
        assert len(fresh_count(cluster, s["topic"])) == s["stored_records"]
    finally:
        cluster.delete_topics([s["topic"]])
        shutil.rmtree(r.run_dir, ignore_errors=True)


def test_producer_crash_before_flush_loses_queued_messages(cluster):
    spec = ProducerExperiment(messages=400, config={"acks": "all", "linger.ms": 200}, rate=0,
                              crash=CrashSpec("before-flush", at=(150,)))
    s = run_producer(spec, cluster).summary
    assert s["crashes"] == 1 and s["lost"] > 0 and s["duplicated"] == 0


def test_a_rated_producer_keeps_its_rate(cluster):
    """rate=100 means 100 messages a second for the whole run, not ack speed: the story and the
    fault experiments rely on the run outlasting their fault (150 messages: about 1.5 s; the first
    few wait together for the connection, and at ack speed all of them took ~0.1 s)."""
    r = run_producer(ProducerExperiment(messages=150, rate=100, config={"acks": "1"}), cluster)
    t = r.timeline["t"]
    assert r.summary["sent"] == 150 and len(t) == 150
    assert 1.2 <= float(t.max() - t.min()) < 5.0, float(t.max() - t.min())


def test_crash_to_resumed_processing_is_fast(cluster):
    r = consumer(cluster, "at-least-once", n=200, point="after-process", every=50)
    ev = r.events.reset_index(drop=True)
    gaps = [ev.t[i + 1] - ev.t[i] for i in range(len(ev) - 1)
            if ev.kind[i] == "crash" and ev.kind[i + 1] == "restart"]
    assert len(gaps) == 4 and max(gaps) < 1.0, gaps


# --- producer faults on the isolated topology (controller apart from the brokers) ------------

def test_paused_controller_elects_no_new_leader_for_a_killed_one(cluster):
    """While the controller is paused, a killed leader is not replaced: acks=all writes fail.
    Once it is resumed, a new leader is elected and writes are acknowledged again."""
    r = run_producer(ProducerExperiment(
        messages=1400, rate=200, config={"acks": "all", "message.timeout.ms": 2000},
        fault=FaultSpec("pause-controller-kill-leader", at_index=50, heal_after_s=4.0)), cluster)
    s = r.summary
    fault_t = float(r.events.loc[r.events.kind == "fault", "t"].iloc[0])
    heal_t = float(r.events.loc[r.events.kind == "heal", "t"].iloc[0])
    acks = r.timeline
    ok_during = acks[(acks.outcome == "ok") & (acks.t > fault_t + 0.5) & (acks.t < heal_t)]
    assert len(ok_during) == 0, f"{len(ok_during)} writes acknowledged with no leader"
    assert s["failed_reported"] > 0 and s["acked_but_lost"] == 0
    assert ((acks.outcome == "ok") & (acks.t > heal_t)).sum() > 0, "no write acknowledged after the heal"


def test_producer_warnings_name_a_fault_that_never_struck_or_was_cut_short():
    import pandas as pd
    from deliverylab import diagnose

    spec = {"fault": {"kind": "pause-followers", "at_index": 5000, "heal_after_s": 9.0}}
    timeline = pd.DataFrame({"t": [0.1, 0.2], "index": [0, 1], "outcome": ["ok", "ok"]})
    none = pd.DataFrame(columns=["t", "kind", "detail"])
    assert any("never struck" in w for w in diagnose.producer_warnings(spec, {}, timeline, none))
    events = pd.DataFrame({"t": [1.0, 2.0], "kind": ["fault", "heal"], "detail": [
        "{}", json.dumps({"kind": "pause-followers", "planned_s": 9.0, "lasted_s": 1.0,
                          "cut_short": True})]})
    ws = diagnose.producer_warnings(spec, {}, timeline, events)
    assert any("after the last delivery report" in w for w in ws), ws
    assert any("planned for 9.0 s" in w for w in ws), ws
    ok = pd.DataFrame({"t": [0.5, 1.5, 2.5], "index": [0, 1, 2], "outcome": ["ok"] * 3})
    healed = events.assign(detail=["{}", json.dumps({"cut_short": False})])
    assert diagnose.producer_warnings(spec, {}, ok, healed) == []
    frame = pd.DataFrame({"label": ["a", "b"], "lost": [3, 3]})
    assert diagnose.comparison_warnings(frame, ["lost"], "label")
    assert not diagnose.comparison_warnings(frame.assign(lost=[3, 4]), ["lost"], "label")



@pytest.mark.parametrize("membership", ["assign", "group"])
def test_a_run_leaves_no_topic_and_no_group_behind(cluster, membership):
    kw = dict(membership="group", members=2, partitions=2, session_timeout_ms=6000) \
        if membership == "group" else {}
    r = consumer(cluster, "at-least-once", n=60, point="after-process", every=30, **kw)
    topic = r.summary["topic"]
    assert r.summary["crashes"] >= 1
    assert left_behind(cluster, topic) == (set(), set())

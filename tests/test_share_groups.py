"""Share groups (KIP-932) on the session's real brokers: each record acknowledged on its own,
redelivered after a crash, archived after the delivery limit — counted by the lab from its
ledger and checked against Kafka's own share-group tool."""
from __future__ import annotations

import shutil

import pytest
from confluent_kafka.admin import ConfigResource

from deliverylab.crash import CrashSpec
from deliverylab.experiments import ShareExperiment, group_configs, run_share
from deliverylab.ids import member_of
from deliverylab.kafka_tool import SHARE_GROUP_COMMAND, run_tool
from deliverylab.vocabulary import ARCHIVED, DEAD_LETTERED, DELIVERED_ONCE
from lab_asserts import fails_clearly, left_behind


def _course(s: dict) -> dict:
    """What a timed-out share run had reached, for the assertion's message (CI once timed out
    with nothing else to go on)."""
    return {k: s.get(k) for k in ("delivered_once", "lost", "duplicated", "archived", "delivery_counts",
                                  "refused_acks", "refused_ack_errors", "crashes")}


def _consecutive_counts(result) -> None:
    """The broker numbers a record's deliveries 1, 2, 3, …: no count skipped or repeated."""
    d = result.extra["deliveries"]
    for msg_id, counts in d.groupby("msg_id")["delivery_count"]:
        assert sorted(counts) == list(range(1, len(counts) + 1)), (msg_id, list(counts))


@pytest.mark.kafka
@pytest.mark.parametrize("ack", ["implicit", "explicit"])
def test_no_crash_every_record_is_delivered_once_to_two_members_of_one_partition(cluster, ack):
    r = run_share(ShareExperiment(messages=60, members=2, ack=ack), cluster=cluster)
    s = r.summary
    assert not s["timed_out"], _course(s)
    assert s["delivered_once"] == 60 and s["lost"] == 0 and s["duplicated"] == 0
    assert s["archived"] == 0
    assert s["delivery_counts"] == {"1": 60}
    if ack == "implicit":
        assert_no_share_group_left(cluster, s["group"])


def assert_no_share_group_left(cluster, group: str) -> None:
    """confluent-kafka cannot list share groups (no SHARE group type), so Kafka's own tool looks."""
    import time

    deadline = time.monotonic() + 30
    while True:
        out = run_tool(SHARE_GROUP_COMMAND, ["--bootstrap-server", cluster.bootstrap_servers, "--list"])
        if group not in out.stdout.split() or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert group not in out.stdout.split(), f"{group} is still on the cluster"


@pytest.mark.kafka
def test_crash_after_processing_before_acknowledging_redelivers_with_a_higher_count(cluster):
    r = run_share(ShareExperiment(messages=60, members=2, ack="explicit",
                                  crash=CrashSpec("after-process", every=30)), cluster=cluster)
    s = r.summary
    assert not s["timed_out"], _course(s)
    assert s["crashes"] == 2
    assert s["lost"] == 0 and s["archived"] == 0
    assert s["duplicated"] > 0
    redelivered = r.messages[r.messages.deliveries > 1]
    assert len(redelivered) > 0 and (redelivered.max_delivery_count >= 2).all()
    # Every duplicate is a redelivery the broker counted: processings never exceed deliveries.
    assert (r.messages.copies <= r.messages.deliveries).all()
    _consecutive_counts(r)


@pytest.mark.kafka
def test_crash_after_the_acknowledgement_was_committed_redelivers_nothing(cluster):
    r = run_share(ShareExperiment(messages=40, members=1, ack="explicit",
                                  crash=CrashSpec("after-ack", at=(20,))), cluster=cluster)
    s = r.summary
    assert s["crashes"] == 1 and not s["timed_out"]
    assert s["delivered_once"] == 40 and s["duplicated"] == 0 and s["lost"] == 0
    assert s["delivery_counts"] == {"1": 40}


@pytest.mark.kafka
def test_a_stuck_member_loses_its_records_when_their_lock_expires(cluster):
    """A member that hangs (alive, connected) while holding its batch keeps the records only for
    share.record.lock.duration.ms: then the broker hands them to the other member."""
    lock_ms = 2000
    r = run_share(ShareExperiment(messages=20, members=2, ack="explicit", lock_duration_ms=lock_ms,
                                  stall_at=5, stall_ms=lock_ms + 2500), cluster=cluster)
    s = r.summary
    assert s["lost"] == 0 and s["crashes"] == 0 and not s["timed_out"]
    assert s["redelivered_messages"] > 0
    assert s["redelivery_gap_min_s"] >= lock_ms / 1000 * 0.9, s  # not before the lock expired
    _consecutive_counts(r)


@pytest.mark.kafka
def test_a_batch_slower_than_its_lock_is_refused_and_delivered_again(cluster):
    """The member acquires the whole fetch at once; 60 records of 30 ms work take 1.8 s, longer
    than the 1 s lock, so the broker has taken them back before the acknowledgements arrive:
    it refuses them (INVALID_RECORD_STATE) and hands the records out again."""
    r = run_share(ShareExperiment(messages=60, ack="explicit", processing_ms=30,
                                  lock_duration_ms=1000, delivery_limit=2), cluster=cluster)
    s = r.summary
    assert s["refused_acks"] > 0 and set(s["refused_ack_errors"]) == {"INVALID_RECORD_STATE"}
    assert s["duplicated"] > 0 and s["lost"] == 0
    assert s["max_delivery_count"] == 2
    _consecutive_counts(r)


@pytest.mark.kafka
def test_a_poison_record_is_delivered_exactly_delivery_limit_times_then_archived(cluster):
    limit = 3
    r = run_share(ShareExperiment(messages=30, members=2, ack="explicit", poison=(7,),
                                  delivery_limit=limit), cluster=cluster)
    s = r.summary
    poison = r.messages.set_index("index").loc[7]
    assert poison.outcome == ARCHIVED and poison.copies == 0
    assert poison.deliveries == limit and poison.max_delivery_count == limit
    others = r.messages[r.messages["index"] != 7]
    assert (others.outcome == DELIVERED_ONCE).all()
    assert s["archived"] == 1 and s["lost"] == 0
    _consecutive_counts(r)


@pytest.mark.kafka
def test_a_rejected_record_is_archived_at_its_first_delivery(cluster):
    r = run_share(ShareExperiment(messages=20, ack="explicit", poison=(4,), poison_ack="REJECT"),
                  cluster=cluster)
    poison = r.messages.set_index("index").loc[4]
    assert poison.outcome == ARCHIVED and poison.deliveries == 1
    assert r.summary["archived"] == 1 and r.summary["delivered_once"] == 19


@pytest.mark.kafka
@pytest.mark.parametrize("poison_ack, limit, reason", [
    ("RELEASE", 3, "Offset delivery count exceeded the threshold."),
    ("REJECT", 3, "Offset rejected by client.")])
def test_a_record_the_broker_gives_up_on_is_in_the_dead_letter_topic_exactly_once(
        cluster, poison_ack, limit, reason):
    """KIP-1191 (Kafka 4.4, share.version=2): with errors.deadletterqueue.topic.name set, the
    broker writes the record it archived to that topic once, with its context headers; the other
    records never go there. Read back from the topic, not taken from the lab's own ledger."""
    r = run_share(ShareExperiment(messages=30, members=2, ack="explicit", poison=(7,),
                                  poison_ack=poison_ack, delivery_limit=limit, dead_letter=True),
                  cluster=cluster)
    s = r.summary
    poison = r.messages.set_index("index").loc[7]
    assert poison.outcome == DEAD_LETTERED and poison.copies == 0 and poison.dead_letters == 1
    assert poison.deliveries == (limit if poison_ack == "RELEASE" else 1)
    assert s["dead_lettered"] == 1 and s["archived"] == 0 and s["lost"] == 0
    assert s["dead_letter_records"] == 1 and s["delivered_once"] == 29
    (letter,) = r.extra["dead_letters"].to_dict("records")
    assert letter["msg_id"] == poison.msg_id  # errors.deadletterqueue.copy.record.enable: the record itself
    h = letter["headers"]
    poisoned = r.extra["deliveries"].query("index == 7").iloc[-1]
    assert (h["__dlq.errors.topic"], h["__dlq.errors.group"]) == (s["topic"], s["group"])
    assert int(h["__dlq.errors.offset"]) == poisoned.offset
    assert int(h["__dlq.errors.delivery.count"]) == poison.deliveries
    assert h["__dlq.errors.message"] == reason
    assert s["dead_letter_topic"].startswith("dlq.")  # the broker's errors.deadletterqueue.topic.name.prefix
    assert left_behind(cluster, s["dead_letter_topic"])[0] == set()  # deleted with the run's topics


@pytest.mark.kafka
def test_a_topic_not_enabled_as_dead_letter_topic_gets_nothing_and_the_record_counts_archived(
        cluster, monkeypatch):
    """Without the topic config errors.deadletterqueue.group.enable=true the broker accepts the
    group's errors.deadletterqueue.topic.name all the same, and writes nothing there: the lab
    waits for the dead letter, finds none, and counts the record archived — not missing."""
    from deliverylab.experiments import share

    monkeypatch.setattr(share, "DLQ_TOPIC_CONFIG", {})
    # How long the lab watches for the dead letter that never comes (20 s for a learner's run).
    # An enabled topic has it within a second: 5 s of nothing is the same finding, 15 s sooner.
    monkeypatch.setattr(share, "DLQ_WAIT_S", 5.0)
    r = run_share(ShareExperiment(messages=20, ack="explicit", poison=(4,), poison_ack="REJECT",
                                  dead_letter=True), cluster=cluster)
    s = r.summary
    assert s["dead_letter_records"] == 0 and s["dead_lettered"] == 0
    assert s["archived"] == 1 and s["lost"] == 0 and s["delivered_once"] == 19
    assert r.messages.set_index("index").loc[4].outcome == ARCHIVED


@pytest.mark.kafka
def test_two_members_sharing_one_partition_process_a_keys_records_out_of_order(cluster):
    """KIP-932 keeps no order per key: records go to whichever member asks. With the input in
    small producer batches and small polls both members hold records of the one partition at
    once, and the checker finds keys whose records were first processed out of log order —
    with no crash, nothing lost, nothing duplicated. (Measured: 8 of 8 keys in 6 of 6 runs.)"""
    r = run_share(ShareExperiment(messages=200, members=2, ack="explicit", keys=8, processing_ms=5,
                                  input_batch=10, consumer_config={"max.poll.records": 20}),
                  cluster=cluster)
    s = r.summary
    assert not s["timed_out"] and s["lost"] == 0 and s["duplicated"] == 0
    d = r.extra["deliveries"]
    per_member = d.groupby(d.worker.map(member_of)).size()
    assert len(per_member) == 2, f"one member acquired everything: {per_member.to_dict()}"
    assert s["reordered_keys"] > 0


@pytest.mark.kafka
def test_kafkas_share_group_tool_agrees_with_the_lab(cluster):
    """Kafka's kafka-share-groups (ShareGroupCommand, from the broker's jars) describes the
    group the lab ran: its settings are the ones the lab set through the admin API, no member
    is left, and no record is pending (lag 0) — the lab counted every record settled too:
    one archived, the rest processed once, none lost."""
    spec = ShareExperiment(messages=30, members=2, ack="explicit", poison=(5,), delivery_limit=2)
    r = run_share(spec, cluster=cluster, keep=True)
    s = r.summary
    assert s["lost"] == 0 and s["archived"] == 1 and s["delivered_once"] == 29
    group = s["group"]
    try:
        admin = cluster.admin()
        res = ConfigResource("group", group)
        configs = admin.describe_configs([res])[res].result(timeout=30)
        for key, value in group_configs(spec).items():
            assert configs[key].value == value, key

        def describe(*what: str) -> list[list[str]]:
            out = run_tool(SHARE_GROUP_COMMAND, ["--bootstrap-server", cluster.bootstrap_servers,
                                                 "--group", group, "--describe", *what])
            assert out.returncode == 0, out.stderr
            return [line.split() for line in out.stdout.splitlines() if line.startswith(group)]

        (offsets,) = describe("--offsets")  # GROUP TOPIC PARTITION START-OFFSET LAG
        assert offsets[1] == s["topic"] and offsets[2] == "0"
        assert offsets[-1] == "0", f"Kafka sees {offsets[-1]} records pending; the lab saw none"
        (state,) = describe("--state")  # GROUP COORDINATOR (ID) STATE #MEMBERS
        assert state[-2:] == ["Empty", "0"], state
    finally:
        cluster.delete_topics([s["topic"]])
        cluster.delete_groups([group])
        shutil.rmtree(r.run_dir, ignore_errors=True)


def test_share_experiment_refuses_bad_input_clearly():
    fails_clearly(lambda: ShareExperiment(ack="implicit", poison=(3,)).check(), "explicit")
    fails_clearly(lambda: ShareExperiment(ack="auto").check(), "implicit", "explicit")
    fails_clearly(lambda: ShareExperiment(lock_duration_ms=100).check(), "100", "1000")
    fails_clearly(lambda: ShareExperiment(delivery_limit=11).check(), "11", "10")
    fails_clearly(lambda: ShareExperiment(crash=CrashSpec("after-commit", every=5)).check(),
                  "after-commit", "after-ack")
    fails_clearly(lambda: ShareExperiment(messages=10, poison=(10,)).check(), "10", "0…9")
    fails_clearly(lambda: ShareExperiment(max_record_locks=5).check(), "5", "100")
    fails_clearly(lambda: ShareExperiment(messages=10, stall_at=3).check(), "stall_ms", "5000")
    fails_clearly(lambda: ShareExperiment(input_batch=0).check(), "input_batch=0", "10")


def test_the_checker_archives_only_what_the_broker_confirmed_it_gave_up_on():
    """Pure: a hand-made share-group history, no Kafka."""
    import pandas as pd

    from deliverylab.checker import share_outcomes, share_summary

    sent = pd.DataFrame({"msg_id": ["a", "b", "c", "d", "e"], "key": "k", "seq": range(5)})
    effects = pd.DataFrame({"msg_id": ["a", "a"]})  # a: processed twice (redelivered)
    deliveries = pd.DataFrame({"msg_id": ["a", "a", "b", "b", "c", "d"],
                               "delivery_count": [1, 2, 1, 2, 1, 1]})
    acks = pd.DataFrame({"msg_id": ["a", "b", "b", "c", "d"],
                         "ack": ["ACCEPT", "RELEASE", "RELEASE", "REJECT", "REJECT"],
                         "ok": [1, 1, 1, 1, 0], "delivery_count": [2, 1, 2, 1, 1]})
    out = share_outcomes(sent, effects, deliveries, acks, delivery_limit=2).set_index("msg_id")
    assert out.loc["a", "outcome"] == "duplicated"
    assert out.loc["b", "outcome"] == "archived"  # released at its 2nd delivery, limit 2
    assert out.loc["c", "outcome"] == "archived"  # rejected, confirmed
    assert out.loc["d", "outcome"] == "lost"  # its REJECT was never confirmed by the broker
    assert out.loc["e", "outcome"] == "lost"  # never delivered
    s = share_summary(out.reset_index(), effects, deliveries)
    assert (s["archived"], s["lost"], s["duplicated"]) == (2, 2, 1)
    assert s["delivery_counts"] == {"1": 4, "2": 2} and s["redelivered_messages"] == 2
    assert "dead_lettered" not in s  # no dead-letter topic in this run
    # With a dead-letter topic holding c (and a stray copy of a, which was processed): only a
    # message the broker gave up on AND found in the topic is dead-lettered; b stays archived.
    dead = pd.DataFrame({"msg_id": ["c", "a"]})
    out = share_outcomes(sent, effects, deliveries, acks, 2, dead).set_index("msg_id")
    assert out.loc["c", "outcome"] == "dead-lettered" and out.loc["b", "outcome"] == "archived"
    assert out.loc["a", "outcome"] == "duplicated" and out.loc["a", "dead_letters"] == 1
    s = share_summary(out.reset_index(), effects, deliveries)
    assert (s["archived"], s["dead_lettered"], s["dead_letter_copies"]) == (1, 1, 2)


def test_the_share_panel_builds_a_valid_spec_or_says_why_not():
    from deliverylab.vocabulary import CRASH_POINTS
    from deliverylab.widgets import NO_CRASH, share_panel

    panel = share_panel(messages=40)
    for ack in ("implicit", "explicit"):
        for crash in (NO_CRASH, *CRASH_POINTS["share"]):
            panel.fields["ack"].value, panel.fields["crash"].value = ack, crash
            panel.fields["poison"].value = ack == "explicit"
            panel.spec().check()
    panel.fields["ack"].value, panel.fields["poison"].value = "implicit", True
    assert panel.run() is None  # refused before any Kafka call: one paragraph in the output
    assert "explicit" in panel.output.outputs[-1]["data"]["text/plain"]


@pytest.mark.kafka
def test_cli_run_share_prints_archived_and_delivery_counts_as_json(cluster):
    import json
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "deliverylab.tools.cli", "run", "share",
                          "--members", "2", "--ack", "explicit", "--messages", "30",
                          "--poison", "4", "--delivery-limit", "2", "--json"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    s = json.loads(out.stdout.strip().splitlines()[-1])
    assert s["archived"] == 1 and s["lost"] == 0 and s["delivered_once"] == 29
    assert s["delivery_counts"] == {"1": 30, "2": 1}


def test_cli_run_share_refuses_a_poison_record_in_implicit_mode():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "deliverylab.tools.cli", "run", "share",
                          "--ack", "implicit", "--poison", "3"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "explicit" in out.stderr and "Traceback" not in out.stderr

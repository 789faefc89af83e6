"""Consumer groups on real brokers: members subscribe(), rebalances, the coordinator (issue 9)."""
from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from deliverylab.errors import LabError
from deliverylab.crash import CrashSpec
from deliverylab.experiments import ConsumerExperiment, run_consumer
from deliverylab.vocabulary import MODELS
from lab_asserts import left_behind

pytestmark = pytest.mark.kafka

GROUP = dict(membership="group", members=3, partitions=6)


def side_by_side(cluster, specs):
    """Independent runs (own topic, own group) at once: the test takes the slowest one's time.
    Most of a group run is waiting (a session timeout, a stall), so they share the cores well."""
    with ThreadPoolExecutor(len(specs)) as pool:
        return list(pool.map(lambda spec: run_consumer(spec, cluster), specs))


def cleanup_done(within_s: float = 60) -> None:
    """A run deletes its topics and group in a thread of its own, off the learner's wait."""
    for t in threading.enumerate():
        if t.name == "deliverylab-run-cleanup":
            t.join(within_s)


@pytest.mark.parametrize("model", MODELS)
def test_three_members_six_partitions_deliver_every_message_once(cluster, model):
    # commit_on_revoke: the members start one after another, so the group rebalances while the
    # first ones work; without it at-least-once repeats its forgotten tail (the lesson below).
    s = run_consumer(ConsumerExperiment(model=model, messages=300, commit_on_revoke=True, **GROUP),
                     cluster).summary
    assert (s["lost"], s["duplicated"], s["timed_out"]) == (0, 0, False), s
    assert s["members"] == 3 and s["coordinator"] is not None


def test_a_member_leaving_mid_run(cluster):
    without, with_ = (r.summary for r in side_by_side(cluster, [
        ConsumerExperiment(model="at-least-once", messages=600, processing_ms=5, leaving_member=2,
                           leave_after=200, commit_on_revoke=cor, **GROUP) for cor in (False, True)]))
    assert without["lost"] == 0 and without["duplicated"] > 0, without  # the tail was forgotten;
    # the new owner processed it again
    assert without["revoked_members"] == [0, 1, 2], without  # range is eager: every member's
    assert with_["lost"] == 0 and with_["duplicated"] == 0, with_  # the tail was committed before
    # the partitions moved
    # the repeat is the new owner's rewind to the committed offset: a nonmonotonic-poll across
    # the rebalance, explained; nothing skipped, nothing gone from the log
    assert without["nonmonotonic_polls"] == without["nonmonotonic_polls_explained"] > 0, without
    assert without["skipped_by_consumer"] == without["gone_from_log"] == 0, without
    assert with_["nonmonotonic_polls"] == 0, with_


def test_too_slow_for_max_poll_interval(cluster):
    """at-least-once repeats the slow member's records; at-most-once loses them: its batch was
    committed before its processing, and thrown out of the group it stops working on records
    that are no longer its own, while the new owner starts after them."""
    # The at-least-once loop commits after 10 records or 1 s: the slow member's commit comes
    # right after its stalled record, before its next poll (which would report the partitions
    # lost). With a count alone the commit fell after that poll in some runs and was never sent.
    slow = dict(messages=300, processing_ms=20, session_timeout_ms=6000, max_poll_interval_ms=6000,
                stall_at=150, stall_ms=9000, **GROUP)
    alo, amo = (r.summary for r in side_by_side(cluster, [
        ConsumerExperiment(model="at-least-once", commit_interval_ms=1000, **slow),
        ConsumerExperiment(model="at-most-once", **slow)]))
    assert alo["commit_failures"] >= 1, alo
    assert set(alo["commit_errors"]) <= {"UNKNOWN_MEMBER_ID", "ILLEGAL_GENERATION",
                                         "REBALANCE_IN_PROGRESS", "_MAX_POLL_EXCEEDED"}, alo
    assert alo["lost"] == 0 and alo["duplicated"] > 0, alo
    assert amo["lost"] > 0 and amo["duplicated"] == 0, amo


@pytest.mark.parametrize("scenario", ["scenario-2-applied", "scenario-2-lost"])
@pytest.mark.parametrize("seed", [1, 2])
def test_scenario_2_is_deterministic_both_ways(cluster, scenario, seed):
    s = run_consumer(ConsumerExperiment(model="at-least-once", messages=100, seed=seed,
                                        scenario=scenario), cluster).summary
    assert s["lost"] == 0, s
    if scenario == "scenario-2-applied":
        assert s["scenario_2"] == "applied" and s["duplicated"] == 0, s
        assert s["resumed_from"] == s["in_flight_offsets"], s
    else:
        assert s["scenario_2"] == "lost" and s["duplicated"] > 0, s
        assert s["resumed_from"] != s["in_flight_offsets"], s


def test_a_setting_refused_by_the_consumer_protocol_is_one_clear_paragraph():
    t = time.monotonic()
    with pytest.raises(LabError) as err:
        ConsumerExperiment(model="at-least-once", group_protocol="consumer",
                           session_timeout_ms=6000, **GROUP).check()
    text = err.value.paragraph()
    assert "session.timeout.ms" in text and "group.protocol=consumer" in text
    assert "group_protocol='classic'" in text and time.monotonic() - t < 5
    with pytest.raises(LabError, match="partition.assignment.strategy"):
        ConsumerExperiment(group_protocol="consumer", assignor="range", **GROUP).check()
    with pytest.raises(LabError, match="membership='group'"):
        ConsumerExperiment(members=3).check()


def test_static_member_restarted_within_session_timeout(cluster):
    r = run_consumer(ConsumerExperiment(model="at-least-once", messages=400, processing_ms=10,
                                        static=True, session_timeout_ms=10000,
                                        crash=CrashSpec("after-process", at=(250,)), **GROUP), cluster)
    ev = r.events
    crash_t = float(ev.loc[ev.kind == "crash", "t"].iloc[0])
    moved = ev[ev.kind.isin(["revoked", "lost"]) & (ev.t > crash_t) & (ev.t < r.timeline.t.max())]
    assert moved.empty, moved  # no member gave anything up: no rebalance
    resumes = r.extra["resumes"]
    assert len(resumes) == 1 and resumes.resume_s.iloc[0] <= 1.0, resumes
    assert r.summary["lost"] == 0


def test_the_coordinator_is_the_leader_of_the_groups_offsets_partition(cluster):
    """find_coordinator computes it from metadata; the admin client's description agrees."""
    from deliverylab.nemesis import find_coordinator
    from deliverylab.nemesis.coordinator import java_string_hash
    assert java_string_hash("hello") == 99162322 and java_string_hash("polygenelubricants") == -2147483648
    r = run_consumer(ConsumerExperiment(model="at-least-once", messages=50, **GROUP), cluster)
    group = f"{r.summary['topic']}-group"
    admin = cluster.admin()  # kept alive: a destroyed client never completes its futures
    desc = admin.describe_consumer_groups([group], request_timeout=10)[group].result()
    assert find_coordinator(cluster, group) == desc.coordinator.id == r.summary["coordinator"]


def test_deleting_groups_leaves_no_kafka_client_behind_in_the_caller(cluster):
    """A run's groups are deleted in the learner's kernel. The request goes to the group's
    coordinator, and librdkafka 2.16 can abort the process whose admin client meets a dropped
    connection there (confluentinc/librdkafka#4605). An admin client whose future raised also
    outlives the call, in a reference cycle through the exception's traceback, with its threads
    running, until Python's cycle collector runs. That is how a pytest worker died later, at a
    random moment in another test. So the lab asks from a child process: the caller has no
    librdkafka thread after the call, and the groups are gone."""
    import json
    import subprocess
    import sys

    from confluent_kafka import Consumer, TopicPartition

    topic = f"delete-groups-{time.monotonic_ns()}"
    cluster.create_topic(topic)
    groups = [f"{topic}-committed", f"{topic}-never-existed"]  # the second one's future raises
    c = Consumer({**cluster.client_config(), "group.id": groups[0]})
    c.commit(offsets=[TopicPartition(topic, 0, 0)], asynchronous=False)
    c.close()
    code = ("import gc, json, os\n"
            "from deliverylab.cluster import connect\n"
            "c = connect()\n"
            "gc.disable()  # the cycle collector must not hide a client left in a cycle\n"
            f"left = c.delete_groups({groups!r})\n"
            "rdk = [t for t in os.listdir('/proc/self/task')\n"
            "       if open(f'/proc/self/task/{t}/comm').read().startswith('rdk:')]\n"
            "print(json.dumps({'left': left, 'rdk_threads': len(rdk)}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got == {"left": [], "rdk_threads": 0}, got
    listed = {g.group_id for g in cluster.admin().list_consumer_groups(request_timeout=10).result().valid}
    assert groups[0] not in listed
    cluster.delete_topics([topic])


def test_cli_refuses_a_setting_of_the_other_protocol_in_seconds():
    import subprocess
    import sys
    t = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "deliverylab.tools.cli", "run", "at-least-once",
                          "--membership", "group", "--members", "3", "--group-protocol", "consumer",
                          "--session-timeout-ms", "6000"], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "session.timeout.ms" in out.stderr, out.stderr
    assert time.monotonic() - t < 15


def test_the_coordinator_dies_mid_run(cluster):
    """The group moves to a new coordinator; at-least-once loses nothing on the way."""
    s = run_consumer(ConsumerExperiment(model="at-least-once", messages=600, processing_ms=5,
                                        session_timeout_ms=6000, commit_on_revoke=True,
                                        coordinator_fault="kill-coordinator", **GROUP), cluster).summary
    assert s["lost"] == 0 and not s["timed_out"], s
    assert s["faulted_coordinator"] is not None and s["coordinator"] != s["faulted_coordinator"], s


def test_the_group_panel_builds_a_valid_spec_for_every_choice():
    from deliverylab.widgets import GROUP_SCENARIOS, group_panel
    panel = group_panel(messages=300)
    for scenario in GROUP_SCENARIOS:
        for protocol in panel.fields["protocol"].options:
            panel.fields["scenario"].value, panel.fields["protocol"].value = scenario, protocol
            spec = panel.spec().check()
            assert spec.membership == "group" and spec.members == 3


# --- crashed members: a session timeout each, never the run's time limit (issue 21) ------------
# A SIGKILLed member stays in its group until its session times out, and its restart (a new
# member, or under KIP-848 a static member whose id the dead one still owns) waits for that.
# At 45 s (librdkafka's session.timeout.ms, Kafka's group.consumer.session.timeout.ms) the
# issue's group run stalled into its time limit; the lab's groups use 6 s.
STALL_CLASSES = {
    "classic eager, dynamic": {},
    "classic cooperative-sticky, dynamic": {"assignor": "cooperative-sticky"},
    "KIP-848, dynamic": {"group_protocol": "consumer"},
    "KIP-848, static": {"group_protocol": "consumer", "static": True},  # refused until then
}


def test_each_crash_of_a_group_member_costs_one_session_timeout(cluster):
    """Every protocol, two crashes in a row: each crashed member's partitions move on after the
    6 s session (≥ 5 s: the wait is the session's, not something the lab shortcut; ≤ 12 s: not
    45 s), the run ends inside its time limit, and nothing is lost. (Classic static members come
    back at once: test_static_member_restarted_within_session_timeout.)"""
    results = side_by_side(cluster, [
        ConsumerExperiment(model="at-least-once", messages=300, partitions=3, members=3,
                           membership="group", crash=CrashSpec("after-process", at=(100, 200)),
                           time_limit_s=60, label=label, **kind)
        for label, kind in STALL_CLASSES.items()])
    for r in results:
        s, resumes = r.summary, r.extra["resumes"]["resume_s"]
        assert (s["lost"], s["unread_at_timeout"], s["timed_out"], s["crashes"]) == (0, 0, False, 2), (r.label, s)
        assert resumes.notna().all() and resumes.between(5, 12).all(), (r.label, resumes.tolist())
    static = results[-1]
    assert static.summary["rejoins"] >= 1, static.summary
    assert any("UNRELEASED_INSTANCE_ID" in w for w in static.warnings), static.warnings


# --- runs that could not happen are not results (issue 21) -------------------------------------
def test_a_session_timeout_the_brokers_refuse_is_refused_before_anything_starts(cluster):
    topics = set(cluster.admin().list_topics(timeout=10).topics)
    t = time.monotonic()
    with pytest.raises(LabError) as err:
        run_consumer(ConsumerExperiment(messages=10, membership="group", session_timeout_ms=10), cluster)
    assert time.monotonic() - t < 2
    text = err.value.paragraph()
    for needle in ("session.timeout.ms=10", "session_timeout_ms", "group.min.session.timeout.ms=6000",
                   "INVALID_SESSION_TIMEOUT", "e.g. 6000"):
        assert needle in text, text
    # nothing was made (an earlier test's topics may still be going, off its learner's wait)
    assert set(cluster.admin().list_topics(timeout=10).topics) - topics == set()


def test_a_join_the_broker_refuses_ends_the_run_with_its_reason(cluster, monkeypatch):
    """Where the brokers' settings cannot be read first, the refused join itself ends the run:
    one paragraph with the broker's reason, at once (not the time limit), nothing left behind."""
    from deliverylab import members
    monkeypatch.setattr(members, "broker_settings", lambda *args: None)
    spec = ConsumerExperiment(messages=10, membership="group", members=2, session_timeout_ms=10,
                              label="refused")
    admin = cluster.admin()
    before = (set(admin.list_topics(timeout=10).topics),
              {g.group_id for g in admin.list_consumer_groups(request_timeout=10).result().valid})
    t = time.monotonic()
    with pytest.raises(LabError) as err:
        run_consumer(spec, cluster)
    assert time.monotonic() - t < 20
    text = err.value.paragraph()
    assert "INVALID_SESSION_TIMEOUT" in text and "cannot happen" in text and "--session-timeout-ms" in text, text
    assert "lost" not in text, text
    cleanup_done()
    topics, groups = left_behind(cluster, "lab-at-least-once-", within_s=5)
    assert (topics - before[0], groups - before[1]) == (set(), set())  # not this run's: an earlier
    # test's, still being deleted


def test_a_run_out_of_time_is_no_result_and_loses_nothing(cluster, monkeypatch, capsys):
    """The CLI's run, its time limit cut to 4 s: it says so first, counts the unread tail apart
    (never as lost), exits non-zero, and leaves no group or topic behind."""
    from deliverylab import experiments
    from deliverylab.tools import cli
    real = experiments.run_consumer

    def with_a_short_limit(spec, **kwargs):
        spec.time_limit_s = 4
        return real(spec, cluster, **kwargs)
    monkeypatch.setattr(experiments, "run_consumer", with_a_short_limit)
    code = cli.main(["run", "at-least-once", "--messages", "300", "--partitions", "3",
                     "--membership", "group", "--members", "3", "--processing-ms", "60", "--json"])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 3, out
    assert out["timed_out"] and out["lost"] == 0 and out["unread_at_timeout"] > 0, out
    assert out["delivered_once"] + out["duplicated_messages"] + out["unread_at_timeout"] == 300, out
    assert out["warnings"][0].startswith("The run hit its time limit"), out["warnings"]
    cleanup_done()
    assert left_behind(cluster, out["topic"], within_s=5) == (set(), set())


def test_settings_librdkafka_would_refuse_are_one_paragraph():
    with pytest.raises(LabError, match=r"max.poll.interval.ms=3000 is shorter than session.timeout.ms=6000"):
        ConsumerExperiment(max_poll_interval_ms=3000, **GROUP).check()  # the lab's 6 s session
    ConsumerExperiment(max_poll_interval_ms=3000, session_timeout_ms=3000, **GROUP).check()
    ConsumerExperiment(max_poll_interval_ms=3000, group_protocol="consumer", **GROUP).check()
    # the protocol chosen in consumer_config, verbatim: then the lab sets no classic-only key
    ConsumerExperiment(consumer_config={"group.protocol": "consumer"}, **GROUP).check()
    for bad in (True, -5, "6000"):
        with pytest.raises(LabError, match="session_timeout_ms="):
            ConsumerExperiment(session_timeout_ms=bad, **GROUP).check()


def test_the_reason_of_a_fatal_error_is_kafkas_name():
    from confluent_kafka import KafkaError
    from deliverylab.clients import error_reason
    # as librdkafka 2.16 reports a static KIP-848 member whose id its dead predecessor still owns
    fatal = KafkaError(KafkaError._FATAL, "Fatal error: Broker: The instance ID is still used by "
                       "another member in the consumer group: ConsumerGroupHeartbeat fatal error: "
                       "Broker: The instance ID is still used by another member in the consumer group")
    assert error_reason(fatal) == "UNRELEASED_INSTANCE_ID"
    assert error_reason(KafkaError(KafkaError.INVALID_SESSION_TIMEOUT)) == "INVALID_SESSION_TIMEOUT"
    assert error_reason(KafkaError(KafkaError._FATAL, "Fatal error: something new")) == "_FATAL"

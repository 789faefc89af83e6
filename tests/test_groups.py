"""Consumer groups on real brokers: members subscribe(), rebalances, the coordinator (issue 9)."""
from __future__ import annotations

import time

import pytest

from deliverylab.errors import LabError
from deliverylab.experiments import ConsumerExperiment, CrashSpec, run_consumer
from deliverylab.vocabulary import MODELS

pytestmark = pytest.mark.kafka

GROUP = dict(membership="group", members=3, partitions=6)


@pytest.mark.parametrize("model", MODELS)
def test_three_members_six_partitions_deliver_every_message_once(cluster, model):
    # commit_on_revoke: the members start one after another, so the group rebalances while the
    # first ones work; without it at-least-once repeats its forgotten tail (the lesson below).
    s = run_consumer(ConsumerExperiment(model=model, messages=300, commit_on_revoke=True, **GROUP),
                     cluster).summary
    assert (s["lost"], s["duplicated"], s["timed_out"]) == (0, 0, False), s
    assert s["members"] == 3 and s["coordinator"] is not None


@pytest.mark.parametrize("commit_on_revoke", [False, True])
def test_a_member_leaving_mid_run(cluster, commit_on_revoke):
    s = run_consumer(ConsumerExperiment(model="at-least-once", messages=600, processing_ms=5,
                                        leaving_member=2, leave_after=200,
                                        commit_on_revoke=commit_on_revoke, **GROUP), cluster).summary
    assert s["lost"] == 0, s
    if commit_on_revoke:
        assert s["duplicated"] == 0, s  # the tail was committed before the partitions moved
    else:
        assert s["duplicated"] > 0, s  # the tail was forgotten; the new owner processed it again


def test_too_slow_for_max_poll_interval(cluster):
    # The loop commits after 10 records or 1 s: the slow member's commit comes right after its
    # stalled record, before its next poll (which would report the partitions lost). With a
    # count alone the commit fell after that poll in some runs and was never sent.
    s = run_consumer(ConsumerExperiment(model="at-least-once", messages=300, processing_ms=20,
                                        session_timeout_ms=6000, max_poll_interval_ms=6000,
                                        commit_interval_ms=1000, stall_at=150, stall_ms=9000,
                                        **GROUP), cluster).summary
    assert s["commit_failures"] >= 1, s
    assert set(s["commit_errors"]) <= {"UNKNOWN_MEMBER_ID", "ILLEGAL_GENERATION",
                                       "REBALANCE_IN_PROGRESS", "_MAX_POLL_EXCEEDED"}, s
    assert s["lost"] == 0 and s["duplicated"] > 0, s


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


def test_too_slow_at_most_once_loses(cluster):
    """The stalled member's batch was committed before its processing; thrown out of the group,
    it stops working on records that are no longer its own, and the new owner starts after them."""
    s = run_consumer(ConsumerExperiment(model="at-most-once", messages=300, processing_ms=20,
                                        session_timeout_ms=6000, max_poll_interval_ms=6000,
                                        stall_at=150, stall_ms=9000, **GROUP), cluster).summary
    assert s["lost"] > 0 and s["duplicated"] == 0, s


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

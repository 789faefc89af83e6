"""The local cluster on real brokers: produce/consume, leader failover, pause/resume, the CLI,
stale run folders, loopback-only listeners and clear errors for bad input."""
from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from deliverylab.cluster import ExternalCluster, LocalCluster
from deliverylab.clients import quiet
from deliverylab.cluster.processes import port_is_free, process_state
from deliverylab.kafka_dist import DEFAULT_KAFKA_VERSION, kafka_version, supported_versions
from deliverylab.kafka_tool import features
from deliverylab.testing.ports import free_port_base
from lab_asserts import fails_clearly

CLI = [sys.executable, "-m", "deliverylab.tools.cli"]


def produce(bootstrap: str, topic: str, n: int, start: int = 0, **conf) -> dict[int, int]:
    """Send n messages; return {message number: offset} of those acked."""
    acked: dict[int, int] = {}
    p = Producer(quiet({"bootstrap.servers": bootstrap, "acks": "all", **conf}))
    for i in range(start, start + n):
        p.produce(topic, str(i).encode(),
                  on_delivery=lambda err, msg: acked.__setitem__(int(msg.value()), msg.offset())
                  if err is None else None)
        p.poll(0)
    assert p.flush(60) == 0
    return acked


def consume_all(bootstrap: str, topic: str, partitions: int = 1) -> list[int]:
    c = Consumer(quiet({"bootstrap.servers": bootstrap, "group.id": f"check-{topic}",
                        "enable.partition.eof": True, "enable.auto.commit": False}))
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    seen, eof = [], set()
    deadline = time.monotonic() + 30
    while len(eof) < partitions and time.monotonic() < deadline:
        msg = c.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                eof.add(msg.partition())
            continue
        seen.append(int(msg.value()))
    c.close()
    return seen


def our_java_pids(home: Path) -> list[int]:
    out = subprocess.run(["pgrep", "-f", f"kafka.Kafka {home}"], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


@pytest.fixture()
def home(tmp_path, monkeypatch) -> Path:
    h = tmp_path / "home"
    monkeypatch.setenv("DELIVERYLAB_HOME", str(h))
    monkeypatch.setenv("DELIVERYLAB_PORT_BASE", str(free_port_base(start=26092 + 10 * random.randrange(200))))
    yield h
    c = LocalCluster.find(h)
    if c is not None:
        c.stop()


@pytest.mark.kafka
def test_one_broker_produce_consume(home, topic):
    t0 = time.monotonic()
    c = LocalCluster.start(brokers=1, home=home)
    ready_s = time.monotonic() - t0
    try:
        assert [b.state for b in c.brokers()] == ["running"]
        c.create_topic(topic, partitions=1, replication_factor=1)
        acked = produce(c.bootstrap_servers, topic, 100)
        assert sorted(acked) == list(range(100))
        assert consume_all(c.bootstrap_servers, topic) == list(range(100))
    finally:
        c.stop()
    assert our_java_pids(home) == []
    assert port_is_free(int(c.bootstrap_servers.rsplit(":", 1)[1]))
    print(f"1-broker ready in {ready_s:.1f} s")


@pytest.mark.kafka
def test_acks_all_survives_leader_kill(cluster, topic):
    cluster.create_topic(topic, 1, 3, {"min.insync.replicas": "2"})
    assert cluster.wait_for_full_isr(topic), "a new topic's replicas never all joined the ISR"
    before = cluster.wait_for_leader(topic)
    acked = produce(cluster.bootstrap_servers, topic, 300)
    cluster.kill(before.leader)
    try:
        assert process_state(cluster.state["nodes"][before.leader - 1]["pid"]) == "dead"
        after = cluster.wait_for_leader(topic, exclude=before.leader, timeout=30)
        assert after.leader != before.leader
        acked.update(produce(cluster.bootstrap_servers, topic, 300, start=300))
        seen = consume_all(cluster.bootstrap_servers, topic)
        missing = set(acked) - set(seen)
        assert len(acked) == 600 and not missing, f"acked but lost: {sorted(missing)[:10]}"
    finally:
        cluster.restart(before.leader)
    assert {b.state for b in cluster.brokers()} == {"running"}


@pytest.mark.kafka
def test_pause_and_resume(cluster, topic):
    cluster.create_topic(topic, 1, 3)
    follower = cluster.wait_for_leader(topic).followers()[0]
    cluster.pause(follower)
    try:
        states = {b.id: b.state for b in cluster.brokers()}
        assert states[follower] == "paused"
        assert sum(s == "running" for s in states.values()) == 2
    finally:
        cluster.resume(follower)
    assert {b.id: b.state for b in cluster.brokers()}[follower] == "running"
    assert sorted(produce(cluster.bootstrap_servers, topic, 20)) == list(range(20))


@pytest.mark.kafka
def test_brokers_listen_on_loopback_only(cluster):
    nodes = cluster.state["nodes"] + cluster.state.get("controllers", [])
    ports = {p for n in nodes for p in (n["port"], n["controller_port"]) if p}
    listening = {c.laddr.port: c.laddr.ip for c in psutil.net_connections("tcp")
                 if c.status == psutil.CONN_LISTEN and c.laddr.port in ports}
    assert set(listening) == ports
    # 127.0.0.1, as IPv4 or as Java's IPv4-mapped IPv6 socket; never 0.0.0.0 or ::
    assert set(listening.values()) <= {"127.0.0.1", "::ffff:127.0.0.1"}, listening


@pytest.mark.kafka
def test_cli_up_status_down(home):
    up = subprocess.run([*CLI, "cluster", "up", "--brokers", "3", "--json"], capture_output=True,
                        text=True, timeout=120)
    assert up.returncode == 0, up.stderr
    st = subprocess.run([*CLI, "cluster", "status", "--json"], capture_output=True, text=True, timeout=30)
    status = json.loads(st.stdout)
    assert status["running"] and [b["state"] for b in status["brokers"]] == ["running"] * 3
    assert all(b["pid"] for b in status["brokers"])
    ports = [b["port"] for b in status["brokers"]]
    down = subprocess.run([*CLI, "cluster", "down"], capture_output=True, text=True, timeout=60)
    assert down.returncode == 0, down.stderr
    assert our_java_pids(home) == []
    assert all(port_is_free(p) for p in ports)
    assert not home.exists()  # only the lab's own files were in it: nothing left behind
    st = subprocess.run([*CLI, "cluster", "status", "--json"], capture_output=True, text=True, timeout=30)
    stopped = json.loads(st.stdout)
    assert stopped.keys() == {"running", "machine"} and stopped["running"] is False and st.returncode == 1


@pytest.mark.kafka
def test_sigkill_of_owner_never_duplicates_brokers(home):
    script = textwrap.dedent(f"""
        from pathlib import Path
        from deliverylab.cluster import LocalCluster
        LocalCluster.start(brokers=1, home=Path({str(home)!r}), owned=True)
        print("up", flush=True)
        import time; time.sleep(600)
    """)
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout.readline().strip() == "up"
        assert len(our_java_pids(home)) == 1
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
    up = subprocess.run([*CLI, "cluster", "up", "--brokers", "1"], capture_output=True, text=True,
                        timeout=120)
    assert up.returncode == 0, up.stderr
    assert len(our_java_pids(home)) == 1  # the stale broker was cleaned, one new one runs


@pytest.mark.kafka
def test_the_brokers_say_they_run_the_pinned_kafka_version(cluster):
    """Not a constant compared with itself: the running brokers are asked. Kafka's own
    FeatureCommand reads the highest metadata.version the broker supports (it names the
    release line, e.g. 4.4-IV2), and each broker JVM logged its own build version at start."""
    version = cluster.describe()["kafka_version"]
    assert version == kafka_version()  # DELIVERYLAB_KAFKA_VERSION or the newest pinned
    line = ".".join(version.split(".")[:2])
    feats = features(cluster.bootstrap_servers, version)
    assert feats["metadata.version"]["SupportedMaxVersion"].startswith(f"{line}-IV"), feats
    for node in cluster.state["nodes"]:
        log = (Path(node["dir"]) / "logs" / "server.log").read_text(errors="replace")
        assert f"INFO Kafka version: {version} " in log, f"broker {node['id']} did not log {version}"
    if tuple(map(int, version.split(".")[:2])) >= (4, 2):
        # Share groups are on by default for a new 4.2+ cluster (the lab's share lessons need it).
        assert int(feats["share.version"]["FinalizedVersionLevel"]) >= 1, feats


def test_the_default_kafka_is_the_newest_pinned_and_an_unpinned_one_is_refused(monkeypatch):
    assert DEFAULT_KAFKA_VERSION == supported_versions()[0]
    assert len(supported_versions()) >= 2  # an older line stays selectable for comparison
    monkeypatch.setenv("DELIVERYLAB_KAFKA_VERSION", "3.9.9")
    fails_clearly(kafka_version, "3.9.9", DEFAULT_KAFKA_VERSION, "DELIVERYLAB_KAFKA_VERSION")


def test_bad_broker_count_cli():
    out = subprocess.run([*CLI, "cluster", "up", "--brokers", "2"], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 2
    assert "2" in out.stderr and "--brokers 3" in out.stderr and "Traceback" not in out.stderr


def test_port_taken(home):
    base = int(os.environ["DELIVERYLAB_PORT_BASE"])
    with socket.socket() as s:
        s.bind(("127.0.0.1", base + 1))
        s.listen()
        fails_clearly(lambda: LocalCluster.start(brokers=3, home=home), str(base + 1),
                    "DELIVERYLAB_PORT_BASE")
    assert our_java_pids(home) == []


@pytest.mark.parametrize("version_line, needle", [
    ('java version "1.8.0_392"', "Java 8"),
    ('openjdk version "11.0.22" 2024-01-16', "Java 11"),
])
def test_java_too_old(home, tmp_path, monkeypatch, version_line, needle):
    fake = tmp_path / "java"
    fake.write_text(f"#!/bin/sh\necho '{version_line}' >&2\n")
    fake.chmod(0o755)
    monkeypatch.setenv("DELIVERYLAB_JAVA", str(fake))
    fails_clearly(lambda: LocalCluster.start(brokers=1, home=home), needle, "17")


def test_no_java(home, monkeypatch):
    monkeypatch.setenv("DELIVERYLAB_JAVA", "/nonexistent/bin/java")
    fails_clearly(lambda: LocalCluster.start(brokers=1, home=home), "/nonexistent/bin/java", "JAVA_HOME")


def test_unreachable_external_bootstrap():
    fails_clearly(lambda: ExternalCluster({"bootstrap.servers": "127.0.0.1:1"}, timeout=3),
                "127.0.0.1:1", "DELIVERYLAB_CLUSTER")


@pytest.mark.kafka
def test_unknown_broker_id(cluster):
    fails_clearly(lambda: cluster.kill(7), "7", "1, 2, 3")


@pytest.mark.kafka
def test_external_cluster_has_no_faults(cluster):
    ext = ExternalCluster({"bootstrap.servers": cluster.bootstrap_servers})
    assert len(ext.brokers()) == 3
    fails_clearly(lambda: ext.kill(1), "external", "embedded")


# --- topology: the 3-broker cluster runs a KRaft controller of its own -----------------------

def _properties(node_dir: str) -> dict[str, str]:
    lines = (Path(node_dir) / "server.properties").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


@pytest.mark.kafka
@pytest.mark.kafka
def test_controller_is_its_own_process_and_brokers_are_not_voters(cluster):
    ctrls = cluster.controllers()
    assert len(ctrls) == 1 and ctrls[0].state == "running"
    broker_pids = {b.pid for b in cluster.brokers()}
    assert ctrls[0].pid not in broker_pids
    (ctrl_node,) = cluster.state["controllers"]
    ctrl = _properties(ctrl_node["dir"])
    assert ctrl["process.roles"] == "controller"
    voters = [v.split("@")[0] for v in ctrl["controller.quorum.voters"].split(",")]
    assert voters == [str(ctrls[0].id)]
    for node in cluster.state["nodes"]:
        props = _properties(node["dir"])
        assert props["process.roles"] == "broker"
        assert props["node.id"] not in voters
        assert "CONTROLLER://" not in props["listeners"]
    assert cluster.describe()["topology"] == "isolated"


@pytest.mark.kafka
@pytest.mark.kafka
def test_one_broker_cluster_stays_combined(home):
    c = LocalCluster.start(brokers=1, home=home)
    try:
        assert c.controllers() == [] and c.describe()["topology"] == "combined"
        assert _properties(c.state["nodes"][0]["dir"])["process.roles"] == "broker,controller"
        fails_clearly(lambda: c.pause_controller(), "combined", "--brokers 3")
    finally:
        c.stop()


@pytest.mark.kafka
@pytest.mark.kafka
def test_killed_controller_restarts(cluster, topic):
    cluster.kill_controller()
    assert cluster.controllers()[0].state == "dead"
    cluster.restart_controller()
    assert cluster.controllers()[0].state == "running"
    cluster.create_topic(topic, 1, 3)  # topic creation needs a live controller
    assert cluster.wait_for_leader(topic, timeout=30).leader in (1, 2, 3)


def test_cluster_down_keeps_a_folder_that_holds_more_than_the_labs_own_files(tmp_path):
    from deliverylab.cluster.layout import remove_if_only_ours

    home = tmp_path / "home"
    (home / "runs" / "consumer-x").mkdir(parents=True)
    for name in ("log4j2.xml", ".lock", "runs/consumer-x/ledger.csv"):
        (home / name).write_text("")
    assert not remove_if_only_ours(home) and (home / "runs/consumer-x/ledger.csv").exists()
    (home / "runs/consumer-x/ledger.csv").unlink()
    (home / "runs/consumer-x").rmdir()
    (home / "notes.txt").write_text("the learner's")
    assert not remove_if_only_ours(home) and (home / "notes.txt").exists()
    (home / "notes.txt").unlink()
    assert remove_if_only_ours(home) and not home.exists()

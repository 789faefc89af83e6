"""Network partitions on real brokers (cluster/network.py, faults.NETWORK_FAULTS): a leader cut
off from the other brokers and the controller keeps acknowledging acks=1 writes that the rest of
the cluster never sees; acks=all with min.insync.replicas=2 loses nothing acknowledged. And the
lab never leaves a rule behind: after every test, passed or failed, this cluster's nftables
table is gone."""
from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time

import psutil
import pytest

from deliverylab.cluster import network
from deliverylab.errors import LabError
from deliverylab.experiments import ProducerExperiment, run_producer
from deliverylab.nemesis import FaultSpec, seeded_fault

# Long enough that the partition (8 s) ends inside the run: the strike comes in the second
# quarter (3–6 s in), and the controller fences the cut leader after broker.session.timeout.ms.
MESSAGES, RATE = 3000, 250


@pytest.fixture(autouse=True)
def no_lab_table_left(request):
    """Asserted after every test of this file, whatever its outcome (and removed, so one failure
    does not leave the session's cluster cut)."""
    yield
    if "cluster" not in request.fixturenames:
        return
    cluster = request.getfixturevalue("cluster")
    table = network.table_name(cluster.home)
    relays = _relays_of(os.getpid())
    if network.table_exists(table) or relays:
        cluster.heal_network()
        network.delete_table(table)
        for pid in relays:
            os.kill(pid, 9)
        pytest.fail(f"left after {request.node.name}: table {network.table_exists(table)}, "
                    f"relays {relays}")


def _relays_of(parent: int) -> list[int]:
    """Slow-link relays this test process started that still run."""
    found = []
    for child in psutil.Process(parent).children():
        try:
            if "deliverylab.cluster.linkproxy" in child.cmdline():
                found.append(child.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def partitioned(cluster, acks: str, fault: str, seed: int):
    return run_producer(ProducerExperiment(
        messages=MESSAGES, rate=RATE, config={"acks": acks}, seed=seed,
        topic_config={"min.insync.replicas": "2"} if acks == "all" else {},
        fault=seeded_fault(fault, MESSAGES, seed)), cluster)


def fault_detail(r) -> dict:
    return json.loads(r.events.loc[r.events.kind == "fault", "detail"].iloc[0])


@pytest.mark.kafka
def test_partitioned_follower_leaves_acks_all_writing(cluster):
    """One follower cut off: the leader drops it from the ISR (2 left = min ISR) and goes on
    acknowledging acks=all writes during the partition; nothing acknowledged is lost."""
    r = partitioned(cluster, "all", "partition-follower", 1)
    s, d = r.summary, fault_detail(r)
    assert d["brokers"] != [d["leader"]], d
    fault_t = float(r.events.loc[r.events.kind == "fault", "t"].iloc[0])
    heal_t = float(r.events.loc[r.events.kind == "heal", "t"].iloc[0])
    acks = r.timeline
    assert ((acks.outcome == "ok") & (acks.t > fault_t + 1) & (acks.t < heal_t)).sum() > 0
    assert s["acked_but_lost"] == 0 and s["lost"] == 0, s


@pytest.mark.kafka
@pytest.mark.parametrize("ending", ["exit", "sigkill"])
def test_partition_removed_when_its_process_ends_without_healing(cluster, ending):
    """atexit (a normal exit) or the guard process (SIGKILL) deletes the table."""
    table = network.table_name(cluster.home)
    code = ("import os, sys; from pathlib import Path; from deliverylab.cluster import LocalCluster; "
            "c = LocalCluster.find(Path(sys.argv[1])); c.isolate([1], [101], 'test'); "
            "print('cut', flush=True); "
            + ("os.kill(os.getpid(), 9)" if ending == "sigkill" else "sys.exit(0)"))
    p = subprocess.run([sys.executable, "-c", code, str(cluster.home)], capture_output=True,
                       text=True, timeout=60)
    assert "cut" in p.stdout, p.stderr
    deadline = time.monotonic() + 5
    while network.table_exists(table) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not network.table_exists(table), f"{table} outlived its process ({ending})"


@pytest.mark.kafka
def test_without_root_a_network_fault_says_what_it_needs_within_seconds(cluster):
    """In a child of this test without root (uid 65534 when the test runs as root), the fault's
    check and the partition itself each refuse with one paragraph within 2 s, and nothing is
    changed. The child is forked, not started: it has every module it needs loaded already and
    reads nothing from disk as that user, so the test passes wherever the checkout is, a private
    folder (mode 700, made by mktemp -d) or root's home included. It runs only the lab's checks
    (no client, no lock) and ends with os._exit, never back in pytest."""
    attempts = [lambda: FaultSpec("partition-leader", at_index=1).check(cluster),
                lambda: cluster.isolate([1], [2, 3, 101], "partition-leader")]
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        report: dict = {"lines": []}
        try:
            os.close(read_end)
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
            report["uid"] = os.geteuid()
            for attempt in attempts:
                t = time.monotonic()
                try:
                    attempt()
                    report["lines"].append({"s": time.monotonic() - t, "text": "NO ERROR"})
                except LabError as e:
                    report["lines"].append({"s": time.monotonic() - t, "text": e.paragraph()})
        except BaseException as exc:  # anything else is the test's failure, said by the parent
            report["error"] = repr(exc)
        finally:
            os.write(write_end, json.dumps(report).encode())
            os._exit(0)
    os.close(write_end)
    try:
        ready, _, _ = select.select([read_end], [], [], 30)
        report = json.loads(os.read(read_end, 1 << 20) or b"{}") if ready else {"error": "no answer in 30 s"}
    finally:
        os.close(read_end)
        if not ready:
            os.kill(pid, 9)
        os.waitpid(pid, 0)
    assert "error" not in report and report["uid"] != 0, report
    assert len(report["lines"]) == 2, report
    for line in report["lines"]:
        assert line["s"] < 2 and "not root" in line["text"] and "nftables" in line["text"], line
    assert not network.table_exists(network.table_name(cluster.home))


def test_an_external_cluster_refuses_network_faults():
    from deliverylab.cluster import ExternalCluster

    with pytest.raises(LabError, match="embedded cluster"):
        FaultSpec("partition-follower", at_index=1).check(
            ExternalCluster({"bootstrap.servers": "127.0.0.1:1"}, check=False))


def test_cluster_down_and_doctor_find_a_left_table(tmp_path):
    """A table left for a run folder (its process and guard both killed): `cluster doctor` lists
    it, `cluster down` removes it, and removes nothing that is not the lab's."""
    if network.missing():
        pytest.fail(f"needs root and nftables: {network.missing()}")
    home = tmp_path / "home"
    home.mkdir()
    table = network.table_name(home)
    r = subprocess.run(["nft", "-f", "-"], input=network.ruleset(table, f"run folder {home}", network.Rules()),
                       text=True)
    assert r.returncode == 0 and network.table_exists(table)
    env = {**os.environ, "DELIVERYLAB_HOME": str(home)}
    cli = [sys.executable, "-m", "deliverylab.tools.cli", "cluster"]
    try:
        doctor = subprocess.run([*cli, "doctor"], capture_output=True, text=True, env=env, timeout=60)
        assert table in doctor.stdout and str(home) in doctor.stdout, doctor.stdout
        subprocess.run([*cli, "down"], capture_output=True, text=True, env=env, timeout=60, check=True)
        assert not network.table_exists(table)
    finally:
        network.delete_table(table)


# --- degraded links: a relay that delays (slow-link), nftables random drops (lossy-link) -----------
DELAY_MS = 200


def ack_latency_ms(r, rate: float):
    """Each acknowledged message's latency: its ack time minus its scheduled send time (the
    producer sends message i at start + i/rate; the quickest ack fixes the start)."""
    import pandas as pd

    from deliverylab.ids import index_of

    ok = r.timeline[r.timeline.outcome == "ok"].groupby("msg_id").t.min()
    sched = pd.Series([index_of(m) / rate for m in ok.index], index=ok.index)
    start = (ok - sched).min()
    return (sched + start), (ok - sched - start) * 1000


@pytest.mark.kafka
def test_slow_link_adds_its_delay_to_acks_all_and_not_to_acks_1(cluster):
    """The followers' fetches go through a relay that adds DELAY_MS per request and answer. An
    acks=all write waits for a follower's next fetch, so it takes ~DELAY_MS longer; an acks=1
    write is answered by the leader alone. Sends are spaced wider than the delay: a broker
    serves one request per connection at a time, so faster sends would queue behind it."""
    rate = 2.5
    medians = {}
    for acks in ("all", "1"):
        r = run_producer(ProducerExperiment(
            messages=32, rate=rate, config={"acks": acks}, topic_config={"min.insync.replicas": "2"},
            fault=FaultSpec("slow-link", at_index=8, heal_after_s=6.0, delay_ms=DELAY_MS)), cluster)
        sent, lat = ack_latency_ms(r, rate)
        fault_t = float(r.events.loc[r.events.kind == "fault", "t"].iloc[0])
        heal_t = float(r.events.loc[r.events.kind == "heal", "t"].iloc[0])
        before = lat[sent < fault_t - 0.3].median()
        during = lat[(sent > fault_t + 1.0) & (sent < heal_t - 0.5)].median()
        medians[acks] = (before, during)
        assert r.summary["acked_but_lost"] == 0 and r.summary["lost"] == 0, r.summary
        assert fault_detail(r)["delay_ms"] == DELAY_MS
    (b_all, d_all), (b_1, d_1) = medians["all"], medians["1"]
    assert 0.6 * DELAY_MS < d_all - b_all < 2 * DELAY_MS, medians
    assert d_1 - b_1 < 0.25 * DELAY_MS, medians


@pytest.mark.kafka
@pytest.mark.parametrize("fault", ["lossy-link", "slow-controller", "partition-controller"])
def test_acks_all_loses_nothing_across_a_network_fault(cluster, fault):
    r = partitioned(cluster, "all", fault, 1)
    assert (r.events.kind == "heal").sum() == 1
    assert r.summary["acked_but_lost"] == 0 and r.summary["lost"] == 0, r.summary


def test_a_relay_delays_each_request_and_answer():
    """The slow link's relay on its own: an echo through it takes the delay, in order."""
    import socket
    import threading

    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]

    def echo() -> None:
        conn, _ = srv.accept()
        while data := conn.recv(65536):
            conn.sendall(data)
    threading.Thread(target=echo, daemon=True).start()
    relay, relay_port = network.start_relay(port, 300)
    try:
        with socket.create_connection(("127.0.0.1", relay_port)) as c:
            t0 = time.monotonic()
            c.sendall(b"ping-1")
            c.sendall(b"ping-2")
            got = b""
            while len(got) < 12:
                got += c.recv(64)
            took = time.monotonic() - t0
        assert got == b"ping-1ping-2" and 0.28 < took < 1.0, (got, took)
    finally:
        relay.kill()
        relay.wait()
        srv.close()


@pytest.mark.kafka
def test_a_cluster_started_as_root_runs_each_jvm_in_its_cgroup_and_removes_them(tmp_path):
    """The cgroups exist while the cluster runs (each holding its JVM), and not after stop()."""
    import random

    from deliverylab.cluster import LocalCluster
    from deliverylab.testing.ports import free_port_base

    if network.missing():
        pytest.fail(f"needs root and nftables: {network.missing()}")
    c = LocalCluster.start(brokers=1, port_base=free_port_base(start=29000 + 10 * random.randrange(200)),
                           home=tmp_path / "home")
    groups = network.NodeCgroups(c.home)
    try:
        pid = c.state["nodes"][0]["pid"]
        assert str(pid) in (groups.path(1) / "cgroup.procs").read_text().split()
    finally:
        c.stop()
    assert not groups.dir.exists(), sorted(p.name for p in groups.dir.iterdir())


def test_cgroups_still_busy_at_stop_are_reaped_once_their_process_exits(tmp_path):
    """Under load a killed JVM's last threads can outlive `cluster stop`'s wait: the cgroups are
    then removed by a detached reaper as soon as they are empty, not left for `doctor` to list."""
    if network.missing():
        pytest.fail(f"needs root and nftables: {network.missing()}")
    groups = network.NodeCgroups(tmp_path / "home")
    assert groups.create([1]) is not None
    sleeper = subprocess.Popen(groups.wrap(["sleep", "30"], 1))
    try:
        time.sleep(0.2)
        groups.remove(timeout=0.2)  # busy: gives up, hands over to the reaper
        assert groups.dir.exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    deadline = time.monotonic() + 10
    while groups.dir.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not groups.dir.exists()

"""Bad input gets one clear paragraph naming the bad value and the fix, within seconds —
no hang, no traceback wall, no worker left behind."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from deliverylab import connect
from deliverylab.cluster import ExternalCluster
from deliverylab.config_check import check_producer_config
from deliverylab.errors import LabError
from deliverylab.experiments import (ConsumerExperiment, ProducerExperiment, run_consumer,
                                     run_producer)
from deliverylab.crash import CrashSpec
from deliverylab.nemesis import FaultSpec
from deliverylab.topics import check_topic_name
from lab_asserts import assert_clear, fails_clearly

CLI = [sys.executable, "-m", "deliverylab.tools.cli"]


def workers_alive() -> int:
    """Worker processes of this test session (their run folders live under its DELIVERYLAB_HOME)."""
    pattern = f"deliverylab.workers .*{os.environ['DELIVERYLAB_HOME']}"
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    return len(out.stdout.split())


# A few of test_bad_input_table.py's rows (every option, in-process) as real `deliverylab` processes
CLI_CASES = [
    (["run", "at_least_once"], ("'at_least_once'", "at-least-once")),
    (["run", "at-least-once", "--messages", "0"], ("--messages 0", "≥ 1")),
    (["run", "at-least-once", "--processing-ms", "-5"], ("--processing-ms -5",)),
    (["run", "share", "--poison", "x,y"], ("--poison 'x,y'",)),
    (["run", "at-least-once", "--membership", "group", "--members", "500"], ("--members 500", "12")),
    (["matrix", "--out", "/nonexistent-dir/m.csv"], ("--out", "/nonexistent-dir", "does not exist")),
    (["validate", "--only", "nothing-matches-this"], ("--only", "matches no scenario")),
    (["cluster", "up", "--port-base", "70000"], ("--port-base 70000",)),
    (["run", "at-most-once", "--crash", "mid-transaction", "--crash-every", "5"],
     ("at-most-once", "mid-transaction", "after-commit")),
    (["run", "at-least-once", "--crash", "after-process"], ("exactly one schedule", "--crash-every K")),
    (["run", "at-least-once", "--crash-every", "5"], ("--crash POINT",)),
    (["produce", "--acks", "2"], ("--acks 2", "'all'")),
]


@pytest.mark.parametrize("argv, needles", CLI_CASES, ids=[" ".join(a) for a in [c[0] for c in CLI_CASES]])
def test_cli_bad_input(argv, needles):
    before = workers_alive()
    t0 = time.monotonic()
    out = subprocess.run([*CLI, *argv], capture_output=True, text=True, timeout=30)
    assert time.monotonic() - t0 < 10
    assert out.returncode == 2, (out.returncode, out.stderr)
    assert out.stderr.startswith("error: ") and out.stderr.count("\n") == 1, out.stderr
    assert_clear(out.stderr, needles)
    assert workers_alive() <= before


def test_cli_fault_without_a_cluster(tmp_path):
    env = {**os.environ, "DELIVERYLAB_HOME": str(tmp_path / "none")}
    out = subprocess.run([*CLI, "cluster", "kill", "1"], capture_output=True, text=True, timeout=30, env=env)
    assert out.returncode == 2
    assert_clear(out.stderr, ("No local cluster is running", "cluster up"))


@pytest.mark.kafka
def test_cli_unknown_broker_id(cluster):
    out = subprocess.run([*CLI, "cluster", "pause", "9"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2
    assert_clear(out.stderr, ("Broker 9", "1, 2, 3"))


API_CASES = [
    (lambda: check_producer_config({"acsk": "all"}), ("'acsk'", "Did you mean 'acks'")),
    (lambda: check_producer_config({"enable.idempotence": "maybe"}), ("maybe", "enable.idempotence")),
    (lambda: check_producer_config({"linger.ms": "soon"}), ("soon", "linger.ms")),
    (lambda: check_producer_config({"acks": 2}), ("acks=2", "'all'")),
    (lambda: check_producer_config("acks=all"), ("'acks=all'", "dict")),
    (lambda: ConsumerExperiment(consumer_config={"isolation.level": "read_everything"}).check(),
     ("read_everything", "isolation.level")),
    (lambda: ConsumerExperiment(messages=2.5).check(), ("messages=2.5",)),
    (lambda: ConsumerExperiment(partitions=0).check(), ("partitions=0",)),
    (lambda: ConsumerExperiment(model="exactly_once").check(), ("'exactly_once'", "Did you mean 'exactly-once'")),
    (lambda: ConsumerExperiment(time_limit_s=-1).check(), ("time_limit_s=-1",)),
    (lambda: ProducerExperiment(rate=-10).check(), ("rate=-10",)),
    (lambda: ProducerExperiment(crash=CrashSpec("after-commit", every=5)).check(), ("producer", "before-flush")),
    # the leader alone in the ISR refuses acks=all writes under the lab's min ISR 2: the fault
    # would wait the whole run (a workshop day's run did, and then killed the leader for good)
    (lambda: ProducerExperiment(fault=FaultSpec("kill-leader-alone", at_index=10)).check(),
     ("kill-leader-alone", "min.insync.replicas=2", '{"min.insync.replicas": "1"}')),
    (lambda: check_topic_name("bad topic!"), ("'bad topic!'", "letters, digits")),
    (lambda: check_topic_name("x" * 250), ("is not a valid Kafka topic name",)),
    (lambda: FaultSpec("kill-leader").check(), ("'kill-leader'", "at_index")),
    (lambda: FaultSpec("explode", at_index=1).check(), ("'explode'", "pause-followers")),
    (lambda: connect(kind="kubernetes"), ("'kubernetes'", "local, compose, external")),
]


@pytest.mark.parametrize("fn, needles", API_CASES, ids=[f"api{i}" for i in range(len(API_CASES))])
def test_api_bad_input(fn, needles):
    fails_clearly(fn, *needles)


def test_bad_broker_count_from_env(monkeypatch):
    monkeypatch.setenv("DELIVERYLAB_BROKERS", "two")
    fails_clearly(lambda: connect(), "DELIVERYLAB_BROKERS='two'", "1 or 3")


def test_external_without_bootstrap(monkeypatch):
    monkeypatch.setenv("DELIVERYLAB_CLUSTER", "external")
    monkeypatch.delenv("DELIVERYLAB_BOOTSTRAP", raising=False)
    monkeypatch.delenv("DELIVERYLAB_CLIENT_CONFIG", raising=False)
    fails_clearly(lambda: connect(), "No bootstrap servers", "DELIVERYLAB_BOOTSTRAP")


def test_missing_client_config_file(monkeypatch, tmp_path):
    monkeypatch.setenv("DELIVERYLAB_CLUSTER", "external")
    monkeypatch.setenv("DELIVERYLAB_CLIENT_CONFIG", str(tmp_path / "nope.properties"))
    fails_clearly(lambda: connect(), "nope.properties", "key=value")


def test_unreachable_bootstrap_from_env(monkeypatch):
    monkeypatch.setenv("DELIVERYLAB_CLUSTER", "external")
    monkeypatch.setenv("DELIVERYLAB_BOOTSTRAP", "127.0.0.1:9")
    fails_clearly(lambda: connect(), "127.0.0.1:9", "Check the host and port")


@pytest.mark.kafka
def test_broker_fault_on_external_cluster(cluster):
    ext = ExternalCluster({"bootstrap.servers": cluster.bootstrap_servers})
    spec = ProducerExperiment(messages=50, fault=FaultSpec("kill-leader", at_index=10))
    fails_clearly(lambda: run_producer(spec, ext), "kill-leader", "external", "embedded")


@pytest.mark.kafka
def test_bad_config_fails_before_any_worker_starts(cluster):
    before = workers_alive()
    fails_clearly(lambda: run_consumer(ConsumerExperiment(consumer_config={"fetch.min.bytez": 1}), cluster),
          "'fetch.min.bytez'", "fetch.min.bytes")
    fails_clearly(lambda: run_producer(ProducerExperiment(config={"retires": 3}), cluster),
          "'retires'", "Did you mean 'retries'")
    assert workers_alive() <= before


def test_credentials_refused_in_experiment_settings():
    fails_clearly(lambda: ProducerExperiment(config={"sasl.password": "hunter2"}).check(),
          "'sasl.password'", "DELIVERYLAB_SASL_PASSWORD")
    with pytest.raises(LabError) as exc:
        ConsumerExperiment(consumer_config={"sasl.password": "hunter2"}).check()
    assert "hunter2" not in exc.value.paragraph()


# --- the environment: checked whenever set, also with a cluster running -----------------------
@pytest.mark.parametrize("name, value, needles", [
    ("DELIVERYLAB_PORT_BASE", "70000", ("DELIVERYLAB_PORT_BASE=70000", "1024")),
    ("DELIVERYLAB_PORT_BASE", "abc", ("DELIVERYLAB_PORT_BASE='abc'",)),
    ("DELIVERYLAB_KAFKA_VERSION", "9.9.9", ("DELIVERYLAB_KAFKA_VERSION=9.9.9", "4.4.0")),
    ("DELIVERYLAB_CLIENT_CONFIG", "/nonexistent-dir/client.properties", ("client.properties", "key=value")),
])
def test_environment_checked_before_anything_starts(monkeypatch, name, value, needles):
    from deliverylab.cluster import check_environment

    monkeypatch.setenv(name, value)
    fails_clearly(check_environment, *needles)
    fails_clearly(lambda: connect(), *needles)  # the one call a notebook makes: before any start


def test_a_client_config_that_is_not_key_value_is_refused(monkeypatch, tmp_path):
    from deliverylab.cluster import check_environment

    bad = tmp_path / "client.properties"
    bad.write_text("security.protocol=SASL_SSL\nhunter2\n")
    monkeypatch.setenv("DELIVERYLAB_CLIENT_CONFIG", str(bad))
    text = fails_clearly(check_environment, "Line 2", "key=value")
    assert "hunter2" not in text


def test_a_good_client_config_on_the_local_cluster_is_said_ignored(monkeypatch, tmp_path):
    from deliverylab.cluster import check_environment

    good = tmp_path / "client.properties"
    good.write_text("security.protocol=PLAINTEXT\n")
    monkeypatch.setenv("DELIVERYLAB_CLIENT_CONFIG", str(good))
    with pytest.warns(UserWarning, match="is ignored"):
        check_environment("local")


@pytest.mark.kafka
def test_cluster_up_checks_its_settings_with_a_cluster_running(cluster):
    for env, argv, needle in [({}, ["cluster", "up", "--port-base", "70000"], "--port-base 70000"),
                              ({"DELIVERYLAB_KAFKA_VERSION": "9.9.9"}, ["cluster", "up"],
                               "DELIVERYLAB_KAFKA_VERSION=9.9.9")]:
        out = subprocess.run([*CLI, *argv], capture_output=True, text=True, timeout=30,
                             env={**os.environ, **env})
        assert out.returncode == 2, out
        assert_clear(out.stderr, (needle,))


def test_status_into_a_closed_pipe_is_no_traceback(tmp_path):
    """`deliverylab cluster status | head -3`: the reader closed the pipe before the end."""
    read, write = os.pipe()
    os.close(read)
    env = {**os.environ, "DELIVERYLAB_HOME": str(tmp_path / "none")}
    out = subprocess.run([*CLI, "cluster", "status"], stdout=write, stderr=subprocess.PIPE,
                         text=True, timeout=30, env=env)
    os.close(write)
    assert "Traceback" not in out.stderr and "BrokenPipe" not in out.stderr, out.stderr

"""One real Kafka cluster per test session (3 brokers, on free ports, in a temporary run folder),
shared by every integration test and by the notebooks the tests execute."""
from __future__ import annotations

import os
import random
import shutil
import signal
import tempfile
import uuid
from pathlib import Path

import psutil
import pytest

from deliverylab.testing.ports import free_port_base

_SESSION_HOME = Path(tempfile.mkdtemp(prefix="deliverylab-test-home-"))


def pytest_configure(config: pytest.Config) -> None:
    # Before any test runs: never touch a learner's running cluster (~/.cache/deliverylab/cluster);
    # subprocesses (workers, notebook kernels) inherit this and find the session's cluster.
    os.environ["DELIVERYLAB_HOME"] = str(_SESSION_HOME)
    os.environ.pop("DELIVERYLAB_CLUSTER", None)
    os.environ.pop("DELIVERYLAB_BOOTSTRAP", None)
    # Notebooks executed by the suite (and anything else) fail on a claim their run did not show.
    os.environ["DELIVERYLAB_CLAIMS"] = "strict"


def pytest_unconfigure(config: pytest.Config) -> None:
    # The session's run folder (broker data, logs, run ledgers) goes with the session: the
    # cluster fixture has stopped its brokers by now, and nothing else lives there.
    shutil.rmtree(_SESSION_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def cluster():
    """The session's 3-broker local cluster (faults heal themselves; topics are unique per test)."""
    from deliverylab.cluster import LocalCluster

    # A random start, so two test sessions on one machine do not race for the same ports; under
    # pytest-xdist (make test: -n 3) each worker runs its own session and cluster, in a port
    # band of its own. All bands lie below the kernel's ephemeral range (testing/ports.py).
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0)
    base = free_port_base(start=20092 + 1500 * (worker % 4) + 10 * random.randrange(140))
    c = LocalCluster.start(brokers=3, port_base=base, home=_SESSION_HOME, owned=True)
    yield c
    c.stop()


@pytest.fixture()
def topic(request) -> str:
    from deliverylab.topics import unique_topic

    return unique_topic(f"test-{request.node.name}")


# --- `pytest -m "not kafka"` starts no broker ------------------------------------------------------
# Every test that starts brokers carries @pytest.mark.kafka. Two guards keep it so:
# 1. a test that asks for the session's `cluster` fixture without the marker is a collection error;
# 2. an unmarked test runs with a token in its environment, which every process it starts
#    inherits (a CLI subprocess, and the broker JVMs that one starts); a Kafka server process
#    carrying the token afterwards fails the test (and is stopped).
UNMARKED_ENV = "DELIVERYLAB_UNMARKED_TEST"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unmarked = [i.nodeid for i in items
                if "cluster" in getattr(i, "fixturenames", ()) and i.get_closest_marker("kafka") is None]
    if unmarked:
        raise pytest.UsageError("These tests use the `cluster` fixture without @pytest.mark.kafka: "
                                + ", ".join(unmarked))
    # Longest first: under `--dist worksteal` (make test) each worker starts on its half of this
    # order and an idle one steals from the end of the other's queue, so what is left to share at
    # the end is short, instead of one worker starting a 60 s notebook when the other is done.
    items.sort(key=lambda item: -expected_seconds(item.nodeid))


# Rough call times (s) of the long tests, from `make test --durations`; a prefix covers its tests.
# Only the order matters: a stale figure costs a little balance, never a result.
EXPECTED_SECONDS = {
    "tests/test_validate.py::test_every_guarantee_holds": 6,
    "tests/test_notebooks.py::test_notebook_runs_at_ci_size": 25,
    "tests/test_notebooks.py::test_notebook_runs_at_ci_size[07-": 85,
    "tests/test_notebooks.py::test_notebook_runs_at_ci_size[08-": 65,
    "tests/test_notebooks.py::test_notebook_runs_at_ci_size[04-": 43,
    "tests/test_notebooks.py::test_notebook_runs_at_ci_size[06-": 36,
    "tests/test_workshop_day.py": 85,  # ~30 runs in a row
    "tests/test_story.py::test_typical": 25,
    "tests/test_story.py::test_recommended": 35,
    "tests/test_network_faults.py": 17,
    "tests/test_sasl.py": 15,
    "tests/test_check.py": 12,
    "tests/test_exercises.py::test_the_starter_fails": 20,  # two checks each
    "tests/test_exercises.py::test_the_instructors_table": 16,
    "tests/test_share_groups.py": 11,
    "tests/test_engine.py": 11,
    "tests/test_groups.py": 10,
    "tests/test_cluster.py": 8,
    "tests/test_witness.py": 8,
    "tests/test_throughput.py": 8,
    "tests/test_browser.py": 8,
    "tests/test_retry_topics.py": 5,
}


def expected_seconds(nodeid: str) -> float:
    return max((s for prefix, s in EXPECTED_SECONDS.items() if nodeid.startswith(prefix)), default=0)


def kafka_servers_with(token: str) -> list[int]:
    """Pids of Kafka server processes (class kafka.Kafka) whose environment holds `token`."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if not any("kafka.Kafka" in arg for arg in proc.info["cmdline"] or ()):
            continue
        try:
            if proc.environ().get(UNMARKED_ENV) == token:
                found.append(proc.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


@pytest.fixture(autouse=True)
def _no_brokers_unless_marked(request, monkeypatch):
    if request.node.get_closest_marker("kafka") is not None:
        yield
        return
    token = f"{os.getpid()}-{uuid.uuid4().hex}"
    monkeypatch.setenv(UNMARKED_ENV, token)
    yield
    started = kafka_servers_with(token)
    for pid in started:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    if started:
        pytest.fail(f"{request.node.nodeid} started Kafka server process(es) {started} without "
                    "@pytest.mark.kafka", pytrace=False)


# --- a test hands the session's cluster on whole -------------------------------------------------
# Every fault heals itself; this checks it, after each test that used the cluster: every broker
# and the controller running (not paused, not dead) and every broker registered again (a restarted
# JVM may take a few seconds). A test that leaves the cluster broken fails here, by name, and the
# cluster is repaired, so the tests after it do not fail for it.
@pytest.fixture(autouse=True)
def _cluster_left_whole(request):
    yield
    if "cluster" not in request.fixturenames:
        return
    import time

    c = request.getfixturevalue("cluster")
    broken = [f"broker {b.id} {b.state}" for b in c.brokers() if b.state != "running"] + \
             [f"controller {n.id} {n.state}" for n in c.controllers() if n.state != "running"]
    unregistered: set[int] = set()
    deadline = time.monotonic() + 20
    while not broken:
        try:
            listed = set(c.admin().list_topics(timeout=5).brokers)
        except Exception:
            listed = set()
        unregistered = {b.id for b in c.brokers()} - listed
        if not unregistered:
            return
        if time.monotonic() > deadline:
            broken = [f"broker {b} not registered with the controller" for b in sorted(unregistered)]
        time.sleep(0.5)
    for n in c.controllers():
        if n.state == "paused":
            c.resume_controller(n.id)
        elif n.state != "running":
            c.restart_controller(n.id)
    for b in c.brokers():
        if b.state == "paused":
            c.resume(b.id)
    for b in c.brokers():
        if b.state != "running" or b.id in unregistered:
            c.restart(b.id)
    pytest.fail(f"{request.node.nodeid} left the session's cluster broken ({', '.join(broken)}); "
                "the cluster was repaired for the next test", pytrace=False)

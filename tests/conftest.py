"""One real Kafka cluster per test session (3 brokers, on free ports, in a temporary run folder),
shared by every integration test and by the notebooks the tests execute."""
from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path

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


@pytest.fixture(scope="session")
def cluster():
    """The session's 3-broker local cluster (faults heal themselves; topics are unique per test)."""
    from deliverylab.cluster import LocalCluster

    # A random start, so two test sessions on one machine do not race for the same ports; under
    # pytest-xdist (make test: -n 2) each worker runs its own session and cluster, in a port
    # band of its own.
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0")[2:] or 0)
    base = free_port_base(start=39092 + 1500 * (worker % 4) + 10 * random.randrange(140))
    c = LocalCluster.start(brokers=3, port_base=base, home=_SESSION_HOME, owned=True)
    yield c
    c.stop()


@pytest.fixture()
def topic(request) -> str:
    from deliverylab.topics import unique_topic

    return unique_topic(f"test-{request.node.name}")

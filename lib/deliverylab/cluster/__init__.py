"""Where brokers come from: Local (JVMs started here), Compose (docker-compose.yml), External.

base          what every cluster offers (metadata, topics; faults where the lab owns the brokers)
local         the embedded cluster: start or reuse, readiness, process faults, stop, describe
  state       its record in the run folder (cluster.json), a node's record by id
  layout      a new cluster's folders, properties, storage format and first record
  jvm         one node's JVM: options, log config, command line, what its log says
  local_network   its network faults, mapped onto network
settings      broker and controller properties, ports, the 1- and 3-broker layouts
processes     process facts through psutil (alive, paused, ours), signals, dying with a parent
host          which platform this is (DELIVERYLAB_PLATFORM forces one for tests); native Windows refused
capabilities  what this machine can run of the faults, and why not (`deliverylab cluster doctor`)
network       Linux only: nftables tables and one cgroup v2 per JVM; linkproxy: a slow link's relay
watchdog      stops an owned cluster when its owner dies
compose, external   the other two kinds
"""
from __future__ import annotations

import os
import warnings
from typing import Callable

from ..errors import LabError
from .base import BrokerInfo, Cluster, PartitionState
from .compose import ComposeCluster
from ..kafka_dist import kafka_version
from .external import ExternalCluster, read_client_config_file
from .local import LocalCluster
from .settings import BrokerSettings, check_port_base, check_size, default_min_insync_replicas

KINDS = ("local", "compose", "external")
DEFAULT_BROKERS = 3  # the course default: replication and broker faults need three


def _kind(kind: str | None) -> str:
    kind = (kind or os.environ.get("DELIVERYLAB_CLUSTER") or "local").strip().lower()
    if kind not in KINDS:
        raise LabError(f"Unknown cluster kind {kind!r} (from DELIVERYLAB_CLUSTER or the argument).",
                       f"Use one of {', '.join(KINDS)}: local starts brokers here, compose uses "
                       "docker-compose.yml, external uses DELIVERYLAB_BOOTSTRAP.")
    check_environment(kind)
    return kind


_SAID_IGNORED: set[str] = set()


def check_environment(kind: str = "local") -> None:
    """The lab's environment variables, checked whenever they are set — also when a running
    cluster makes them moot, so a typo is said at once and not at the next start: the port
    base, the Kafka version, the client config file (a missing or malformed file is refused;
    a good one on a local cluster, which takes no client settings, is said to be ignored)."""
    if os.environ.get("DELIVERYLAB_PORT_BASE", "").strip():
        check_port_base(os.environ["DELIVERYLAB_PORT_BASE"], "DELIVERYLAB_PORT_BASE")
    if kind == "local":
        kafka_version()  # DELIVERYLAB_KAFKA_VERSION: a version the lab pins jars for
    path = os.environ.get("DELIVERYLAB_CLIENT_CONFIG", "").strip()
    if path:
        read_client_config_file(path)  # a missing file or a line that is not key=value: refused
        if kind != "external" and path not in _SAID_IGNORED:
            _SAID_IGNORED.add(path)
            warnings.warn(f"DELIVERYLAB_CLIENT_CONFIG={path} is ignored: it holds the client "
                          f"settings of an external cluster (DELIVERYLAB_CLUSTER=external), and "
                          f"the {kind} cluster needs none. Unset it, or set "
                          "DELIVERYLAB_CLUSTER=external.", UserWarning, stacklevel=3)


def _brokers_wanted(brokers: int | None) -> int | None:
    if brokers is None and os.environ.get("DELIVERYLAB_BROKERS"):
        raw = os.environ["DELIVERYLAB_BROKERS"]
        if not raw.isdigit():
            raise LabError(f"DELIVERYLAB_BROKERS={raw!r} is not a number of brokers.",
                           "Set it to 1 or 3, or unset it.")
        brokers = int(raw)
    return None if brokers is None else check_size(brokers)


def running_cluster(kind: str | None = None) -> Cluster | None:
    """The cluster already running, without starting one (local kind only knows 'running')."""
    kind = _kind(kind)
    if kind == "local":
        return LocalCluster.find()
    return connect(kind)


def find_or_start(brokers: int | None = None,
                  on_start: Callable[[int], None] | None = None) -> tuple[Cluster, bool]:
    """(cluster, started): the running cluster of the configured kind, or — local kind only — a
    new one of `brokers` brokers (default 3, or DELIVERYLAB_BROKERS) that this process owns.
    `started` says the caller started it and so stops it; `on_start(size)` is called first."""
    kind = _kind(None)
    if kind != "local":
        return connect(kind), False
    found = LocalCluster.find()
    if found is not None:
        return found, False
    size = _brokers_wanted(brokers) or DEFAULT_BROKERS
    if on_start:
        on_start(size)
    return LocalCluster.start(brokers=size, owned=True), True


def connect(kind: str | None = None, brokers: int | None = None,
            min_brokers: int = 1) -> Cluster:
    """The one call a notebook makes: reuse the running cluster, or start the embedded default.

    kind: 'local' (default), 'compose' or 'external' (or DELIVERYLAB_CLUSTER).
    brokers: size of a local cluster to start when none runs (default 3, or DELIVERYLAB_BROKERS).
    min_brokers: fail clearly if the cluster found has fewer (fault lessons need 3).
    A local cluster started here belongs to this process and stops when it exits.
    """
    kind = _kind(kind)
    wanted = _brokers_wanted(brokers)
    if kind == "external":
        cluster: Cluster = ExternalCluster()
    elif kind == "compose":
        cluster = ComposeCluster()
    else:
        cluster = LocalCluster.find() or LocalCluster.start(
            brokers=wanted or max(DEFAULT_BROKERS, min_brokers), owned=True)
        if wanted is not None and cluster.size != wanted:
            raise LabError(f"A local cluster of {cluster.size} broker(s) is running "
                           f"({cluster.bootstrap_servers}), and {wanted} were asked for.",
                           "Use the running one, or stop it with `deliverylab cluster down` first.")
    if cluster.size < min_brokers:
        raise LabError(f"This experiment needs {min_brokers} brokers, and the {cluster.kind} cluster "
                       f"at {cluster.bootstrap_servers} has {cluster.size}.",
                       "Start three: `deliverylab cluster down && deliverylab cluster up --brokers 3`.")
    return cluster


__all__ = ["BrokerInfo", "BrokerSettings", "Cluster", "ComposeCluster", "ExternalCluster",
           "LocalCluster", "PartitionState", "check_environment", "connect", "find_or_start",
           "running_cluster", "DEFAULT_BROKERS", "default_min_insync_replicas"]

"""docker-compose.yml must describe the same cluster as the local one.

The Compose cluster and the local cluster are two ways to run the same three brokers, so a
lesson's numbers must not depend on which one a learner picked. These tests read the compose
file (no Docker needed) and compare it with lib/deliverylab/cluster/settings.py: change a
broker setting there without changing docker-compose.yml and they fail.
"""
from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
import yaml

from deliverylab.cluster import BrokerSettings, compose
from deliverylab.cluster.settings import (DEFAULT_PORT_BASE, client_port, controller_ids,
                                          controller_properties, node_properties)
from deliverylab.kafka_dist import DEFAULT_KAFKA_VERSION

COMPOSE_FILE = Path(__file__).resolve().parents[1] / "docker-compose.yml"
N = compose.COMPOSE_BROKERS
CONTROLLER_IDS = controller_ids(N)  # the local cluster's controller node ids (isolated layout)
IMAGE_REPOSITORY = "apache/kafka"  # the official image; not Bitnami's
CONTROLLER_PORT = 9093

# KAFKA_* variables the official image does not turn into server.properties keys
# (docker/resources/common-scripts/kafka-propertiesSpec.json in apache/kafka).
IMAGE_NON_PROPERTY_VARS = {
    "KAFKA_VERSION", "KAFKA_HEAP_OPTS", "KAFKA_HEAP_OPT", "KAFKA_LOG4J_OPTS", "KAFKA_OPTS",
    "KAFKA_JMX_OPTS", "KAFKA_JVM_PERFORMANCE_OPTS", "KAFKA_GC_LOG_OPTS",
    "KAFKA_LOG4J_ROOT_LOGLEVEL", "KAFKA_LOG4J_LOGGERS", "KAFKA_TOOLS_LOG4J_LOGLEVEL",
}


# --- the image's mapping between environment variables and properties ----------------------

def env_var(prop: str) -> str:
    """server.properties key -> the official image's variable: '_'->'__', '-'->'___', '.'->'_'."""
    return "KAFKA_" + prop.replace("_", "__").replace("-", "___").replace(".", "_").upper()


def property_key(var: str) -> str:
    """The image's own conversion (ConvertKey in docker/resources/utility/utility.go).

    Like Go's ReplaceAllStringFunc, re.sub replaces non-overlapping matches of
    [^_]_[^_] left to right, so a one-letter segment (A_B_C) would not convert as expected;
    the round-trip test below catches such a key.
    """
    key = var[len("KAFKA_"):]
    key = re.sub(r"[^_]_[^_]", lambda m: m.group(0).replace("_", "."), key)
    return key.replace("___", "-").replace("__", "_").lower()


# --- reading the compose file ---------------------------------------------------------------

def load_compose() -> dict:
    assert COMPOSE_FILE.is_file(), f"{COMPOSE_FILE} is missing"
    with COMPOSE_FILE.open(encoding="utf-8") as f:
        return yaml.safe_load(f)  # resolves the file's YAML anchors and '<<' merge keys


def services() -> dict[int, dict]:
    """Broker services by node id (KAFKA_NODE_ID)."""
    return {i: svc for i, svc in nodes().items() if i not in CONTROLLER_IDS}


def controllers() -> dict[int, dict]:
    """Controller services by node id."""
    return {i: svc for i, svc in nodes().items() if i in CONTROLLER_IDS}


def nodes() -> dict[int, dict]:
    """Every service by node id (KAFKA_NODE_ID)."""
    out = {}
    for name, svc in load_compose()["services"].items():
        node_id = int(environment(svc)["KAFKA_NODE_ID"])
        assert node_id not in out, f"two services have KAFKA_NODE_ID {node_id}"
        out[node_id] = svc | {"_name": name}
    return out


def environment(svc: dict) -> dict:
    env = svc.get("environment") or {}
    if isinstance(env, list):  # Compose's list form: ["KEY=value", ...]
        env = dict(item.split("=", 1) for item in env)
    return env


def broker_properties(svc: dict) -> dict[str, object]:
    """The server.properties the image would write for this service."""
    return {property_key(k): v for k, v in environment(svc).items()
            if k.startswith("KAFKA_") and k not in IMAGE_NON_PROPERTY_VARS}


def published_ports(svc: dict) -> list[tuple[str | None, int, int]]:
    """(host ip, host port, container port) of each published port, short or long syntax."""
    out = []
    for entry in svc.get("ports") or []:
        if isinstance(entry, dict):
            out.append((entry.get("host_ip"), int(entry["published"]), int(entry["target"])))
            continue
        parts = str(entry).split("/")[0].split(":")
        if len(parts) == 3:
            out.append((parts[0], int(parts[1]), int(parts[2])))
        elif len(parts) == 2:
            out.append((None, int(parts[0]), int(parts[1])))
        else:
            out.append((None, int(parts[0]), int(parts[0])))
    return out


def listeners(value: str) -> dict[str, tuple[str, int]]:
    """'NAME://host:port,...' -> {NAME: (host, port)}."""
    out = {}
    for item in str(value).split(","):
        name, address = item.strip().split("://", 1)
        host, port = address.rsplit(":", 1)
        out[name] = (host, int(port))
    return out


def setting_mismatches(settings: BrokerSettings, svc: dict) -> list[str]:
    """Where this service differs from settings.cluster_properties() (empty: equal)."""
    env = environment(svc)
    problems = []
    for key, value in settings.cluster_properties().items():
        var = env_var(key)
        if var not in env:
            problems.append(f"{key}={value}: {var} is missing")
        elif env[var] != value:
            problems.append(f"{key}={value}: {var} is {env[var]!r}")
    return problems


# --- the tests --------------------------------------------------------------------------------

def test_env_var_mapping_round_trips_for_every_setting():
    props = node_properties(BrokerSettings(brokers=3), 1, DEFAULT_PORT_BASE, "/data")
    for key in props:
        assert property_key(env_var(key)) == key, (
            f"{key} does not survive the image's variable conversion ({env_var(key)})")
    assert env_var("a_b.c-d") == "KAFKA_A__B_C___D"


def test_three_brokers_and_a_controller_of_the_official_image_at_the_pinned_version():
    svcs = services()
    assert sorted(svcs) == list(range(1, N + 1)) == [1, 2, 3]
    assert sorted(controllers()) == CONTROLLER_IDS == [101]
    for node_id, svc in nodes().items():
        assert svc["image"] == f"{IMAGE_REPOSITORY}:{DEFAULT_KAFKA_VERSION}", (
            f"{svc['_name']}: use the official image at the local cluster's default Kafka "
            f"version {DEFAULT_KAFKA_VERSION} (the newest pinned jar list in deliverylab)")
        if node_id in CONTROLLER_IDS:
            assert svc["container_name"] == compose.CONTROLLER_CONTAINER
            assert svc["_name"] == svc.get("hostname") == "controller"
            continue
        assert svc["container_name"] == compose.container_name(node_id)
        assert svc["_name"] == svc.get("hostname", svc["_name"]) == f"kafka-{node_id}"


def test_all_values_are_strings():
    # Unquoted, YAML turns false/0/500 into booleans and numbers that Compose may reject or
    # rewrite (False -> "False" is not Kafka's "false").
    for svc in nodes().values():
        for var, value in environment(svc).items():
            assert isinstance(value, str), f"{svc['_name']}: quote the value of {var} ({value!r})"


@pytest.mark.parametrize("node_id", [*range(1, N + 1), *CONTROLLER_IDS])
def test_every_cluster_setting_is_in_the_compose_file(node_id):
    problems = setting_mismatches(BrokerSettings(brokers=3), nodes()[node_id])
    assert not problems, ("docker-compose.yml differs from BrokerSettings(brokers=3)."
                          "cluster_properties() in settings.py: " + "; ".join(problems))


@pytest.mark.parametrize("node_id", range(1, N + 1))
def test_same_broker_property_keys_as_a_local_node(node_id):
    # Equal key sets also catch a setting removed from settings.py but left in the compose file.
    local = node_properties(BrokerSettings(brokers=3), node_id, DEFAULT_PORT_BASE, "/data")
    ours = broker_properties(services()[node_id])
    assert sorted(set(ours) - set(local)) == [], "keys in docker-compose.yml only"
    assert sorted(set(local) - set(ours)) == [], "keys of a local node missing in docker-compose.yml"


def test_same_controller_property_keys_as_the_local_controller():
    (cid,) = CONTROLLER_IDS
    local = controller_properties(BrokerSettings(brokers=3), cid, DEFAULT_PORT_BASE, "/data")
    ours = broker_properties(controllers()[cid])
    assert sorted(set(ours) ^ set(local)) == [], "controller keys differ from the local controller's"


@pytest.mark.parametrize("node_id", range(1, N + 1))
def test_isolated_kraft_broker_is_not_a_voter(node_id):
    local = node_properties(BrokerSettings(brokers=3), node_id, DEFAULT_PORT_BASE, "/data")
    props = broker_properties(services()[node_id])
    assert props["node.id"] == str(node_id)
    for key in ("process.roles", "controller.listener.names"):
        assert props[key] == local[key], key
    assert props["process.roles"] == "broker"
    voters = ",".join(f"{c}@controller:{CONTROLLER_PORT}" for c in CONTROLLER_IDS)
    assert props["controller.quorum.voters"] == voters
    assert str(node_id) not in [v.split("@")[0] for v in voters.split(",")]
    assert props["controller.listener.names"] not in listeners(props["listeners"])


def test_controller_alone_in_its_quorum():
    (cid,) = CONTROLLER_IDS
    local = controller_properties(BrokerSettings(brokers=3), cid, DEFAULT_PORT_BASE, "/data")
    svc = controllers()[cid]
    props = broker_properties(svc)
    assert props["process.roles"] == local["process.roles"] == "controller"
    assert props["controller.quorum.voters"] == f"{cid}@controller:{CONTROLLER_PORT}"
    assert listeners(props["listeners"]) == {"CONTROLLER": ("", CONTROLLER_PORT)}
    assert not svc.get("ports"), "the controller is reached by the brokers only, never published"
    for broker in services().values():
        assert "controller" in (broker.get("depends_on") or [])


def test_one_fixed_cluster_id():
    ids = {environment(svc).get("CLUSTER_ID") for svc in nodes().values()}
    assert len(ids) == 1, f"all nodes must share one CLUSTER_ID, found {ids}"
    (cluster_id,) = ids
    assert cluster_id and len(base64.urlsafe_b64decode(cluster_id + "==")) == 16, (
        "CLUSTER_ID must be a base64url UUID, as `kafka-storage.sh random-uuid` prints")


@pytest.mark.parametrize("node_id", range(1, N + 1))
def test_host_listener_on_the_local_clusters_client_port(node_id):
    svc = services()[node_id]
    props = broker_properties(svc)
    port = client_port(DEFAULT_PORT_BASE, node_id)
    advertised = listeners(props["advertised.listeners"])
    on_host = [name for name, (host, _) in advertised.items() if host == "127.0.0.1"]
    assert len(on_host) == 1, f"one listener must be advertised on 127.0.0.1, got {advertised}"
    host_listener = on_host[0]
    assert advertised[host_listener] == ("127.0.0.1", port)
    container_port = listeners(props["listeners"])[host_listener][1]
    # Published on loopback only, from the client port to where the host listener listens.
    assert published_ports(svc) == [("127.0.0.1", port, container_port)]
    protocols = dict(item.split(":") for item in props["listener.security.protocol.map"].split(","))
    assert protocols[host_listener] == "PLAINTEXT"


@pytest.mark.parametrize("node_id", range(1, N + 1))
def test_brokers_replicate_over_the_internal_listener(node_id):
    props = broker_properties(services()[node_id])
    internal = props["inter.broker.listener.name"]
    host, port = listeners(props["advertised.listeners"])[internal]
    assert host == f"kafka-{node_id}", "brokers reach each other by service name"
    assert listeners(props["listeners"])[internal][1] == port


def test_small_heaps():
    for svc in nodes().values():
        heap = environment(svc).get("KAFKA_HEAP_OPTS", "")
        match = re.search(r"-Xmx(\d+)([mMgG])", heap)
        assert match, f"{svc['_name']}: set KAFKA_HEAP_OPTS (the default is 1 GB per broker)"
        mb = int(match.group(1)) * (1024 if match.group(2) in "gG" else 1)
        assert mb <= 512


def test_a_changed_setting_is_detected():
    # The checker itself must have teeth: a value that differs from the file is reported.
    svc = services()[1]
    assert setting_mismatches(BrokerSettings(brokers=3), svc) == []
    changed = BrokerSettings(brokers=3, replica_lag_time_max_ms=30000)
    assert any("replica.lag.time.max.ms" in p for p in setting_mismatches(changed, svc))
    added = BrokerSettings(brokers=3, extra={"log.retention.hours": "1"})
    assert any("KAFKA_LOG_RETENTION_HOURS is missing" in p for p in setting_mismatches(added, svc))

"""A new local cluster laid out in its run folder before any JVM starts: its ports checked free,
one folder per node with its properties file, every node's storage formatted, one cgroup per
JVM where the machine allows it, and the record (cluster/state.py) the cluster starts from."""
from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from ..errors import LabError
from ..java import find_java
from ..kafka_dist import classpath, kafka_version
from ..paths import LOCK_FILE
from ..secrets import redact
from . import jvm, network
from .processes import port_is_free
from .settings import (BrokerSettings, client_port, controller_ids, controller_listen_port,
                       controller_port, controller_properties, isolated, node_properties)


def lay_out(home: Path, settings: BrokerSettings, base: int, heap_mb: int,
            owner_pid: int | None) -> dict[str, Any]:
    """The new cluster's record, every node's pid still None."""
    java = find_java()
    version = kafka_version()
    check_ports_free(settings.brokers, base)
    for old in [*home.glob("broker-*"), *home.glob("controller-*")]:
        shutil.rmtree(old, ignore_errors=True)
    jvm.write_log_config(home)
    cluster_id = jvm.new_cluster_id()
    nodes, controllers, node_dirs = [], [], {}
    plan = [("broker", i) for i in range(1, settings.brokers + 1)]
    if isolated(settings.brokers):
        plan += [("controller", c) for c in controller_ids(settings.brokers)]
    for role, node_id in plan:
        node_dir = node_dirs[node_id] = home / f"{role}-{node_id}"
        (node_dir / "logs").mkdir(parents=True)
        if role == "broker":
            props = node_properties(settings, node_id, base, str(node_dir / "data"))
            # controller_port: where this node's controller listens (combined) or none.
            nodes.append({"id": node_id, "port": client_port(base, node_id),
                          "controller_port": None if isolated(settings.brokers)
                          else controller_port(base, node_id), "pid": None,
                          "dir": str(node_dir)})
        else:
            props = controller_properties(settings, node_id, base, str(node_dir / "data"))
            controllers.append({"id": node_id, "port": None,
                                "controller_port": controller_listen_port(base, node_id),
                                "pid": None, "dir": str(node_dir), "role": "controller"})
        jvm.write_properties(node_dir / "server.properties", props)
    jvm.format_storage(java.executable, classpath(version), home, node_dirs, cluster_id)
    # One cgroup per JVM when the machine allows it (root, cgroup v2): what network faults
    # match a broker's sockets by. None: the cluster runs the same, without network faults.
    cgroups = network.NodeCgroups(home).create([n["id"] for n in [*nodes, *controllers]])
    return {"kind": "local", "kafka_version": version, "cluster_id": cluster_id,
            "brokers": settings.brokers, "port_base": base, "heap_mb": heap_mb,
            "java": java.executable, "owner_pid": owner_pid,
            "started_at": time.time(), "settings": redact(settings.cluster_properties()),
            "topology": "isolated" if controllers else "combined",
            "nodes": nodes, "controllers": controllers, "cgroups": cgroups}


def check_ports_free(brokers: int, base: int) -> None:
    ctrl_ports = ([controller_listen_port(base, c) for c in controller_ids(brokers)]
                  if isolated(brokers) else [controller_port(base, i) for i in range(1, brokers + 1)])
    wanted = [(client_port(base, i), f"broker {i}") for i in range(1, brokers + 1)]
    wanted += [(p, "a controller") for p in ctrl_ports]
    for port, who in wanted:
        if not port_is_free(port):
            raise LabError(
                f"Port {port} on 127.0.0.1 is already in use, and {who} of the "
                f"local cluster needs it (ports {base}–{base + brokers - 1} for clients, "
                f"{min(ctrl_ports)}–{max(ctrl_ports)} for controllers).",
                "Stop the program that uses it (another Kafka? `deliverylab cluster down` stops "
                "ours), or pick other ports with DELIVERYLAB_PORT_BASE=29092 or "
                "`deliverylab cluster up --port-base 29092`.")


def remove_if_only_ours(home: Path) -> bool:
    """After `cluster down`: delete the run folder when all it holds is what the lab wrote for
    the cluster itself (the nodes' shared log config, the folder's lock file, an empty runs/), so
    that nothing is left the learner did not ask for. Anything else (a run's ledger, a file of
    the learner's) keeps the folder. True if it was removed."""
    if not home.is_dir():
        return False
    for entry in home.iterdir():
        ours = (entry.name in (jvm.LOG4J2, LOCK_FILE) and entry.is_file()) or (
            entry.name == "runs" and entry.is_dir() and not any(entry.iterdir()))
        if not ours:
            return False
    shutil.rmtree(home, ignore_errors=True)
    return not home.exists()

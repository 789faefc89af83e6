"""A local cluster's record in its run folder: ``cluster.json`` (every node's pid, ports and
folder), written atomically.

Any process — the CLI, a notebook kernel, a test, a worker, the watchdog — finds, faults and
stops the same cluster through this file, so it is the one place that says which JVMs are the
cluster's. Who may change it takes paths.folder_lock(home) first.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import LabError

STATE_FILE = "cluster.json"


def read_state(home: Path) -> dict[str, Any] | None:
    try:
        return json.loads((home / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None


def write_state(home: Path, state: dict[str, Any]) -> None:
    """Atomically: a reader in another process sees the old file or the new one, never half."""
    tmp = home / f".{STATE_FILE}.{os.getpid()}"
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(home / STATE_FILE)


def remove_state(home: Path) -> None:
    (home / STATE_FILE).unlink(missing_ok=True)


def all_nodes(state: dict[str, Any]) -> list[dict[str, Any]]:
    """Every JVM of the cluster: the brokers, then the controller(s) of the isolated layout."""
    return [*state["nodes"], *state.get("controllers", [])]


# --- one node's record, by id: a broker, the controller, either ---------------------------------
def broker_record(state: dict[str, Any], broker_id: int) -> dict[str, Any]:
    for node in state["nodes"]:
        if node["id"] == broker_id:
            return node
    ids = ", ".join(str(n["id"]) for n in state["nodes"])
    raise LabError(f"Broker {broker_id!r} is not part of this cluster (its brokers are {ids}).",
                   "Pick one of those ids; `deliverylab cluster status` lists them, and "
                   "`cluster.partition_state(topic)` tells which one leads a partition.")


def controller_record(state: dict[str, Any], controller_id: int | None) -> dict[str, Any]:
    """The controller `controller_id`, or the first one when None."""
    ctrls = state.get("controllers", [])
    if not ctrls:
        raise LabError("This cluster has no controller process of its own: its one broker is "
                       "also its KRaft controller (combined mode).",
                       "Controller faults need the 3-broker cluster (`deliverylab cluster up "
                       "--brokers 3`), whose controller runs apart from the brokers.")
    for node in ctrls:
        if controller_id is None or node["id"] == controller_id:
            return node
    ids = ", ".join(str(n["id"]) for n in ctrls)
    raise LabError(f"Controller {controller_id!r} is not part of this cluster (its controllers "
                   f"are {ids}).", "Pick one of those ids, or leave the id out.")


def any_record(state: dict[str, Any], node_id: int) -> dict[str, Any]:
    """A controller's record, or else a broker's (their ids never overlap: settings.py)."""
    for node in state.get("controllers", []):
        if node["id"] == node_id:
            return node
    return broker_record(state, node_id)

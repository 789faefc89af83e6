"""The embedded default: 1 or 3 Kafka broker JVMs on 127.0.0.1, started from the official jars.

The cluster's lifecycle and its process faults: start (or reuse) and wait until ready, kill,
pause, resume and restart a broker or the controller, stop and describe. A stale run folder left
by a killed process is recognised and cleaned instead of starting a second set of JVMs.
Beside it: state.py (its record, cluster.json), layout.py (a new cluster's folders, storage and
record), jvm.py (one node's JVM), local_network.py (its network faults), processes.py (process
facts and signals).
"""
from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException, Producer

from ..errors import LabError
from ..kafka_dist import classpath
from ..paths import folder_lock, home_dir
from ..secrets import redact
from . import jvm, layout, network
from .base import BrokerInfo, Cluster, quiet
from .host import refuse_native_windows
from .local_network import LocalNetworkFaults
from .processes import is_ours, port_is_free, process_state, send, signal_ours, terminate, wait_dead
from .settings import BrokerSettings, DEFAULT_PORT_BASE, check_port_base
from .state import (all_nodes, any_record, broker_record, controller_record, read_state,
                    remove_state, write_state)

READY_TOPIC = "_deliverylab_ready"



class LocalCluster(LocalNetworkFaults, Cluster):
    kind = "local"

    def __init__(self, home: Path, state: dict[str, Any]) -> None:
        self.home = home
        self.state = state
        self.bootstrap_servers = ",".join(f"127.0.0.1:{n['port']}" for n in state["nodes"])
        self._children: dict[int, subprocess.Popen] = {}

    # --- finding and starting --------------------------------------------------------------
    @classmethod
    def find(cls, home: Path | None = None) -> "LocalCluster | None":
        """The healthy cluster recorded in the run folder, or None (a stale one is cleaned)."""
        refuse_native_windows()  # one paragraph (use WSL2), not an ImportError of fcntl
        home = home or home_dir()
        with folder_lock(home):
            return cls._find_locked(home)

    @classmethod
    def _find_locked(cls, home: Path) -> "LocalCluster | None":
        state = read_state(home)
        if state is None:
            return None
        cluster = cls(home, state)
        owner = state.get("owner_pid")
        owner_gone = owner is not None and process_state(owner) == "dead"
        any_alive = any(is_ours(n["pid"], str(home)) for n in all_nodes(state))
        if owner_gone or not any_alive:
            # A killed owner's brokers are stale even if alive: clean them, never start a second set.
            # A broker down on purpose (a fault) while others run is still this cluster.
            cluster._clean()
            return None
        return cluster

    @classmethod
    def start(cls, brokers: int = 3, settings: BrokerSettings | None = None,
              port_base: int | None = None, home: Path | None = None, owned: bool = False,
              heap_mb: int = jvm.DEFAULT_HEAP_MB, timeout: float = 120.0) -> "LocalCluster":
        """Reuse the running cluster of this run folder, or start a new one and wait until ready.

        owned=True ties the cluster to this process: it stops at interpreter exit, and a
        watchdog stops it if this process is killed outright (e.g. a kernel restart).
        """
        refuse_native_windows()
        if port_base is not None:
            check_port_base(port_base, "port_base=", brokers)
        home = home or home_dir()
        settings = settings or BrokerSettings(brokers=brokers)
        if settings.brokers != brokers:
            settings.brokers = brokers
        with folder_lock(home):  # two notebooks calling connect() at once start one cluster
            running = cls._find_locked(home)
            if running is not None:
                if running.size != brokers:
                    raise LabError(
                        f"A local cluster of {running.size} broker(s) is already running "
                        f"({running.bootstrap_servers}), and {brokers} were asked for.",
                        "Use the running one, or stop it first with `deliverylab cluster down` "
                        "(or `deliverylab.connect().stop()`).")
                return running
            cluster = cls._launch(home, settings, port_base, owned, heap_mb)
        try:
            cluster._wait_ready(timeout)
        except BaseException:  # Ctrl-C or a kernel interrupt while starting: leave nothing running
            cluster.stop()
            raise
        if owned:
            cluster._watch_owner()
        return cluster

    @classmethod
    def _launch(cls, home: Path, settings: BrokerSettings, port_base: int | None, owned: bool,
                heap_mb: int) -> "LocalCluster":
        base = port_base or check_port_base(os.environ.get("DELIVERYLAB_PORT_BASE") or DEFAULT_PORT_BASE,
                                            "DELIVERYLAB_PORT_BASE")
        cluster = cls(home, layout.lay_out(home, settings, base, heap_mb,
                                           owner_pid=os.getpid() if owned else None))
        for node in [*cluster.state["controllers"], *cluster.state["nodes"]]:
            cluster._spawn(node["id"])  # writes the pid into the state file at once
        return cluster

    def _spawn(self, node_id: int) -> None:
        node = self._any_node(node_id)
        node_dir = Path(node["dir"])
        heap = self.state.get("heap_mb", jvm.DEFAULT_HEAP_MB)
        if node.get("role") == "controller":
            heap = min(heap, jvm.CONTROLLER_HEAP_MB)
        cmd = jvm.node_command(self.state["java"], classpath(self.state["kafka_version"]),
                               self.home, node_dir, heap)
        if self.state.get("cgroups"):
            cmd = network.NodeCgroups(self.home).wrap(cmd, node_id)
        with (node_dir / "stdout.log").open("a") as out:
            # Own session: Ctrl-C in a terminal or a kernel interrupt must not reach the brokers.
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        self._children[node_id] = proc
        node["pid"] = proc.pid
        write_state(self.home, self.state)

    def _wait_ready(self, timeout: float) -> None:
        """Ready = every broker registered, and a replicated topic accepts an acks=all write."""
        deadline = time.monotonic() + timeout
        admin = self.admin()
        n = self.state["brokers"]
        while True:
            self._fail_if_a_broker_died()
            try:
                md = admin.list_topics(timeout=1.0)
                if len(md.brokers) == n:
                    self.create_topic(READY_TOPIC, 1, min(3, n))
                    if self._probe_write():
                        return
            except (KafkaException, LabError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise LabError(f"The local Kafka cluster ({n} brokers, {self.bootstrap_servers}) "
                               f"was not ready within {timeout:.0f} s.",
                               f"Look at the broker logs under {self.home}/broker-*/logs/server.log; "
                               "a slow machine may need a longer timeout.")
            time.sleep(0.2)

    def _probe_write(self) -> bool:
        errors: list = []
        p = Producer(quiet({"bootstrap.servers": self.bootstrap_servers, "acks": "all",
                            "message.timeout.ms": 5000}))
        p.produce(READY_TOPIC, b"ready", on_delivery=lambda err, msg: errors.append(err))
        p.flush(6)
        return errors == [None]

    def _fail_if_a_broker_died(self) -> None:
        for node in all_nodes(self.state):
            if process_state(node["pid"]) == "dead":
                log = jvm.log_tail(Path(node["dir"]))
                self.stop()
                what = "Controller" if node.get("role") == "controller" else "Broker"
                if jvm.port_taken(log):
                    ports = " or ".join(f"127.0.0.1:{p}" for p in (node["port"], node["controller_port"]) if p)
                    raise LabError(
                        f"{what} {node['id']} could not listen on {ports}: the port is taken.",
                        "Stop what uses it, or choose other ports with DELIVERYLAB_PORT_BASE=29092 "
                        "(or `deliverylab cluster up --port-base 29092`).")
                raise LabError(f"{what} {node['id']} exited while starting: "
                               f"{jvm.first_error(log) or 'no error in its log'}.",
                               f"See {node['dir']}/logs/server.log; `deliverylab cluster down` "
                               "cleans the run folder.")

    def _watch_owner(self) -> None:
        atexit.register(self.stop_if_owner)
        subprocess.Popen([sys.executable, "-m", "deliverylab.cluster.watchdog", str(self.home),
                          str(self.state["owner_pid"])],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True,
                         env={**os.environ, "PYTHONPATH": _package_parent()})

    def stop_if_owner(self) -> None:
        state = read_state(self.home)
        if state and state.get("owner_pid") == os.getpid() and state["cluster_id"] == self.state["cluster_id"]:
            self.stop()

    # --- the record: which node is which ----------------------------------------------------
    def _refresh(self) -> None:
        """Re-read the state file: other processes restart this cluster's brokers too (a notebook's
        kernel, the CLI, another test's run) and record the new pids there. Acting on a pid this
        object remembered from before would miss the live JVM (is_ours fails) and start a second
        one for the same broker."""
        current = read_state(self.home)
        if current is not None and current.get("cluster_id") == self.state.get("cluster_id"):
            self.state = current

    def _node(self, broker_id: int) -> dict[str, Any]:
        self._refresh()
        return broker_record(self.state, broker_id)

    def _any_node(self, node_id: int) -> dict[str, Any]:
        return any_record(self.state, node_id)

    def _controller_node(self, controller_id: int | None) -> dict[str, Any]:
        self._refresh()
        return controller_record(self.state, controller_id)

    def _info(self, node: dict[str, Any], port: int) -> BrokerInfo:
        state = process_state(node["pid"]) if is_ours(node["pid"], str(self.home)) else "dead"
        return BrokerInfo(node["id"], "127.0.0.1", port, node["pid"], state)

    def brokers(self) -> list[BrokerInfo]:
        self._refresh()
        return [self._info(node, node["port"]) for node in self.state["nodes"]]

    def controllers(self) -> list[BrokerInfo]:
        """The KRaft controller process(es) of the isolated layout (none when combined)."""
        self._refresh()
        return [self._info(node, node["controller_port"]) for node in self.state.get("controllers", [])]

    @property
    def size(self) -> int:
        return len(self.state["nodes"])

    # --- process faults: one signal helper for brokers and controllers ------------------------
    def _signal(self, node: dict[str, Any], action: str) -> None:
        """kill (SIGKILL) | pause (SIGSTOP) | resume (SIGCONT) one JVM of this cluster."""
        signal_ours(node["pid"], str(self.home), action)

    def kill(self, broker_id: int) -> None:
        """SIGKILL: the broker dies with no chance to flush or hand over leadership."""
        self._signal(self._node(broker_id), "kill")

    def pause(self, broker_id: int) -> None:
        """SIGSTOP: the broker stays connected but answers nothing — like a long GC pause."""
        self._signal(self._node(broker_id), "pause")

    def resume(self, broker_id: int) -> None:
        self._signal(self._node(broker_id), "resume")

    def restart(self, broker_id: int, clean: bool = True, timeout: float = 60.0) -> None:
        """Stop the broker (cleanly unless clean=False) if it runs, start it, wait until it serves."""
        node = self._node(broker_id)
        if clean and is_ours(node["pid"], str(self.home)):
            terminate(node["pid"])
        else:
            self._signal(node, "kill")
        self._spawn(broker_id)
        self._wait_registered(broker_id, timeout)

    def kill_controller(self, controller_id: int | None = None) -> None:
        self._signal(self._controller_node(controller_id), "kill")

    def pause_controller(self, controller_id: int | None = None) -> None:
        self._signal(self._controller_node(controller_id), "pause")

    def resume_controller(self, controller_id: int | None = None) -> None:
        self._signal(self._controller_node(controller_id), "resume")

    def restart_controller(self, controller_id: int | None = None, timeout: float = 60.0) -> None:
        """Start the controller again if it is dead (SIGKILL first if it runs), and wait until
        the brokers have it back: a new topic gets a leader."""
        node = self._controller_node(controller_id)
        self._signal(node, "kill")
        self._spawn(node["id"])
        self._wait_listening(node, node["controller_port"], "Controller", timeout)

    def _wait_registered(self, broker_id: int, timeout: float) -> None:
        """The new process listens on its client port and the cluster lists it. The metadata
        alone is not enough: a broker killed less than broker.session.timeout.ms ago is still
        listed, although its new JVM is not serving yet."""
        admin = self.admin()

        def listed() -> bool:
            try:
                return broker_id in admin.list_topics(timeout=1.0).brokers
            except KafkaException:
                return False
        node = self._node(broker_id)
        self._wait_listening(node, node["port"], "Broker", timeout, listed, interval=0.2)

    def _wait_listening(self, node: dict[str, Any], port: int, what: str, timeout: float,
                        also=lambda: True, interval: float = 0.1) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._fail_if_a_broker_died()
            if not port_is_free(port) and also():
                return
            time.sleep(interval)
        raise LabError(f"{what} {node['id']} did not come back within {timeout:.0f} s.",
                       f"See {node['dir']}/logs/server.log.")

    # --- stopping and describing ------------------------------------------------------------
    def stop(self) -> None:
        """Kill every broker and controller of this cluster and delete its run folder's data."""
        for node in all_nodes(self.state):
            if is_ours(node["pid"], str(self.home)):
                send(node["pid"], signal.SIGKILL)
        for node in all_nodes(self.state):
            if node["pid"]:
                wait_dead(node["pid"], 10.0)
        self._clean()
        # A JVM's leader thread turns zombie before its other threads have closed their sockets.
        deadline = time.monotonic() + 10
        ports = [p for n in all_nodes(self.state) for p in (n["port"], n["controller_port"]) if p]
        while not all(port_is_free(p) for p in ports) and time.monotonic() < deadline:
            time.sleep(0.05)

    def _clean(self) -> None:
        self._refresh()
        for node in all_nodes(self.state):
            if is_ours(node["pid"], str(self.home)):
                send(node["pid"], signal.SIGKILL)
                wait_dead(node["pid"], 10.0)
        current = read_state(self.home)
        if current is None or current.get("cluster_id") == self.state.get("cluster_id"):
            self.heal_network()  # a network fault's table and relay, if any
            network.clean(self.home)  # and the JVMs' cgroups
            remove_state(self.home)
            for old in [*self.home.glob("broker-*"), *self.home.glob("controller-*")]:
                shutil.rmtree(old, ignore_errors=True)

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update({"home": str(self.home), "owner_pid": self.state.get("owner_pid"),
                  "kafka_version": self.state.get("kafka_version"),
                  "topology": self.state.get("topology", "combined"),
                  "controllers": [c.to_dict() for c in self.controllers()],
                  "settings": redact(self.state.get("settings", {})),
                  "network_faults": self._network_mechanism()})
        return d


def _package_parent() -> str:
    return str(Path(__file__).resolve().parents[2])

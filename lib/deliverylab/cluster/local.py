"""The embedded default: 1 or 3 Kafka broker JVMs on 127.0.0.1, started from the official jars.

State lives in a run folder (``cluster.json`` with every broker's pid), so any process — the CLI,
a notebook kernel, a test, a worker — can find, fault and stop the same cluster, and a stale
folder left by a killed process is recognised and cleaned instead of starting a second set of JVMs.
"""
from __future__ import annotations

import atexit
import base64
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from confluent_kafka import KafkaException, Producer

from ..errors import LabError
from ..java import find_java
from ..kafka_dist import classpath, kafka_version
from ..paths import home_dir
from ..secrets import redact
from . import network
from .base import BrokerInfo, Cluster, quiet
from .processes import is_ours, port_is_free, process_state, send, terminate, wait_dead
from .settings import (BrokerSettings, DEFAULT_PORT_BASE, client_port, controller_ids,
                       controller_listen_port, controller_port, controller_properties, isolated,
                       node_properties)

STATE_FILE = "cluster.json"
READY_TOPIC = "_deliverylab_ready"
# Small heaps: a learner's laptop runs three brokers beside JupyterLab. SerialGC and C1-only JIT
# start faster and use less memory than the server defaults; a teaching cluster is not a benchmark.
JVM_OPTS = ["-Xms64m", "-Xmx{heap}m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            "-XX:MaxMetaspaceSize=160m", "-XX:ReservedCodeCacheSize=48m", "-Xss512k",
            "-XX:+ExitOnOutOfMemoryError", "-Djava.awt.headless=true"]
DEFAULT_HEAP_MB = 320
CONTROLLER_HEAP_MB = 160  # a controller holds the metadata log only

LOG4J2_XML = """<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders>
    <RollingFile name="file" fileName="${sys:kafka.logs.dir}/server.log"
                 filePattern="${sys:kafka.logs.dir}/server.log.%i">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
      <Policies><SizeBasedTriggeringPolicy size="20 MB"/></Policies>
      <DefaultRolloverStrategy max="2"/>
    </RollingFile>
  </Appenders>
  <Loggers>
    <Logger name="kafka.request.logger" level="WARN"/>
    <Logger name="org.apache.kafka.clients" level="WARN"/>
    <Root level="INFO"><AppenderRef ref="file"/></Root>
  </Loggers>
</Configuration>
"""


def read_state(home: Path) -> dict[str, Any] | None:
    try:
        return json.loads((home / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None


def _write_state(home: Path, state: dict[str, Any]) -> None:
    tmp = home / f".{STATE_FILE}.{os.getpid()}"
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(home / STATE_FILE)


@contextmanager
def _home_lock(home: Path) -> Iterator[None]:
    """Two notebooks calling connect() at once must not start two clusters."""
    home.mkdir(parents=True, exist_ok=True)
    with (home / ".lock").open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _cluster_id() -> str:
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _write_properties(path: Path, props: dict[str, str]) -> None:
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))


def _log_tail(node_dir: Path, lines: int = 400) -> str:
    text = ""
    for name in ("logs/server.log", "stdout.log"):
        p = node_dir / name
        if p.exists():
            text += "\n".join(p.read_text(errors="replace").splitlines()[-lines:]) + "\n"
    return text


def _first_error(log: str) -> str:
    for line in log.splitlines():
        if " ERROR " in line or " FATAL " in line or "Exception" in line:
            return line.strip()[:300]
    return ""


class LocalCluster(Cluster):
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
        home = home or home_dir()
        with _home_lock(home):
            return cls._find_locked(home)

    @classmethod
    def _find_locked(cls, home: Path) -> "LocalCluster | None":
        state = read_state(home)
        if state is None:
            return None
        cluster = cls(home, state)
        owner = state.get("owner_pid")
        owner_gone = owner is not None and process_state(owner) == "dead"
        any_alive = any(is_ours(n["pid"], str(home)) for n in _all_nodes(state))
        if owner_gone or not any_alive:
            # A killed owner's brokers are stale even if alive: clean them, never start a second set.
            # A broker down on purpose (a fault) while others run is still this cluster.
            cluster._clean()
            return None
        return cluster

    @classmethod
    def start(cls, brokers: int = 3, settings: BrokerSettings | None = None,
              port_base: int | None = None, home: Path | None = None, owned: bool = False,
              heap_mb: int = DEFAULT_HEAP_MB, timeout: float = 120.0) -> "LocalCluster":
        """Reuse the running cluster of this run folder, or start a new one and wait until ready.

        owned=True ties the cluster to this process: it stops at interpreter exit, and a
        watchdog stops it if this process is killed outright (e.g. a kernel restart).
        """
        home = home or home_dir()
        settings = settings or BrokerSettings(brokers=brokers)
        if settings.brokers != brokers:
            settings.brokers = brokers
        with _home_lock(home):
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
        java = find_java()
        version = kafka_version()
        cp = classpath(version)
        base = port_base or int(os.environ.get("DELIVERYLAB_PORT_BASE", DEFAULT_PORT_BASE))
        _check_ports_free(settings.brokers, base)
        for old in [*home.glob("broker-*"), *home.glob("controller-*")]:
            shutil.rmtree(old, ignore_errors=True)
        log4j = home / "log4j2.xml"
        log4j.write_text(LOG4J2_XML)
        cluster_id = _cluster_id()
        nodes, controllers = [], []
        formatters = []
        plan = [("broker", i) for i in range(1, settings.brokers + 1)]
        if isolated(settings.brokers):
            plan += [("controller", c) for c in controller_ids(settings.brokers)]
        for role, node_id in plan:
            node_dir = home / f"{role}-{node_id}"
            (node_dir / "logs").mkdir(parents=True)
            if role == "broker":
                props = node_properties(settings, node_id, base, str(node_dir / "data"))
            else:
                props = controller_properties(settings, node_id, base, str(node_dir / "data"))
            _write_properties(node_dir / "server.properties", props)
            formatters.append(subprocess.Popen(
                [java.executable, "-Xmx128m", "-XX:TieredStopAtLevel=1", "-cp", cp,
                 f"-Dlog4j2.configurationFile={log4j}", f"-Dkafka.logs.dir={node_dir / 'logs'}",
                 "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}",
                 "-c", str(node_dir / "server.properties")],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
            if role == "broker":
                # controller_port: where this node's controller listens (combined) or none.
                nodes.append({"id": node_id, "port": client_port(base, node_id),
                              "controller_port": None if isolated(settings.brokers)
                              else controller_port(base, node_id), "pid": None,
                              "dir": str(node_dir)})
            else:
                controllers.append({"id": node_id, "port": None,
                                    "controller_port": controller_listen_port(base, node_id),
                                    "pid": None, "dir": str(node_dir), "role": "controller"})
        for node, proc in zip([*nodes, *controllers], formatters):
            out, _ = proc.communicate(timeout=60)
            if proc.returncode != 0:
                raise LabError(f"Formatting the storage of node {node['id']} failed: "
                               f"{out.strip()[-300:]}", "Delete the run folder "
                               f"{home} and try again; if it persists, check Java and disk space.")
        # One cgroup per JVM when the machine allows it (root, cgroup v2): what network faults
        # match a broker's sockets by. None: the cluster runs the same, without network faults.
        cgroups = network.NodeCgroups(home).create([n["id"] for n in [*nodes, *controllers]])
        state = {"kind": "local", "kafka_version": version, "cluster_id": cluster_id,
                 "brokers": settings.brokers, "port_base": base, "heap_mb": heap_mb,
                 "java": java.executable, "owner_pid": os.getpid() if owned else None,
                 "started_at": time.time(), "settings": redact(settings.cluster_properties()),
                 "topology": "isolated" if controllers else "combined",
                 "nodes": nodes, "controllers": controllers, "cgroups": cgroups}
        cluster = cls(home, state)
        for node in [*controllers, *nodes]:
            cluster._spawn(node["id"])  # writes the pid into the state file at once
        return cluster

    def _spawn(self, node_id: int) -> None:
        node = self._any_node(node_id)
        node_dir = Path(node["dir"])
        heap = self.state.get("heap_mb", DEFAULT_HEAP_MB)
        if node.get("role") == "controller":
            heap = min(heap, CONTROLLER_HEAP_MB)
        cmd = [self.state["java"], *[o.format(heap=heap) for o in JVM_OPTS],
               f"-Dlog4j2.configurationFile={self.home / 'log4j2.xml'}",
               f"-Dkafka.logs.dir={node_dir / 'logs'}",
               "-cp", classpath(self.state["kafka_version"]), "kafka.Kafka", str(node_dir / "server.properties")]
        if self.state.get("cgroups"):
            cmd = network.NodeCgroups(self.home).wrap(cmd, node_id)
        with (node_dir / "stdout.log").open("a") as out:
            # Own session: Ctrl-C in a terminal or a kernel interrupt must not reach the brokers.
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        self._children[node_id] = proc
        node["pid"] = proc.pid
        _write_state(self.home, self.state)

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
        for node in _all_nodes(self.state):
            if process_state(node["pid"]) == "dead":
                log = _log_tail(Path(node["dir"]))
                self.stop()
                what = "Controller" if node.get("role") == "controller" else "Broker"
                if "Address already in use" in log or "BindException" in log:
                    ports = " or ".join(f"127.0.0.1:{p}" for p in (node["port"], node["controller_port"]) if p)
                    raise LabError(
                        f"{what} {node['id']} could not listen on {ports}: the port is taken.",
                        "Stop what uses it, or choose other ports with DELIVERYLAB_PORT_BASE=29092 "
                        "(or `deliverylab cluster up --port-base 29092`).")
                raise LabError(f"{what} {node['id']} exited while starting: "
                               f"{_first_error(log) or 'no error in its log'}.",
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

    # --- status and control ----------------------------------------------------------------
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
        for node in self.state["nodes"]:
            if node["id"] == broker_id:
                return node
        ids = ", ".join(str(n["id"]) for n in self.state["nodes"])
        raise LabError(f"Broker {broker_id!r} is not part of this cluster (its brokers are {ids}).",
                       "Pick one of those ids; `deliverylab cluster status` lists them, and "
                       "`cluster.partition_state(topic)` tells which one leads a partition.")

    def _any_node(self, node_id: int) -> dict[str, Any]:
        for node in self.state.get("controllers", []):
            if node["id"] == node_id:
                return node
        return self._node(node_id)

    def _controller_node(self, controller_id: int | None) -> dict[str, Any]:
        self._refresh()
        ctrls = self.state.get("controllers", [])
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

    def controllers(self) -> list[BrokerInfo]:
        """The KRaft controller process(es) of the isolated layout (none when combined)."""
        self._refresh()
        out = []
        for node in self.state.get("controllers", []):
            state = process_state(node["pid"]) if is_ours(node["pid"], str(self.home)) else "dead"
            out.append(BrokerInfo(node["id"], "127.0.0.1", node["controller_port"], node["pid"], state))
        return out

    def kill_controller(self, controller_id: int | None = None) -> None:
        node = self._controller_node(controller_id)
        if is_ours(node["pid"], str(self.home)):
            send(node["pid"], signal.SIGKILL)
            wait_dead(node["pid"], 5.0)

    def pause_controller(self, controller_id: int | None = None) -> None:
        node = self._controller_node(controller_id)
        if is_ours(node["pid"], str(self.home)):
            send(node["pid"], signal.SIGSTOP)
            _wait_state(node["pid"], "paused")

    def resume_controller(self, controller_id: int | None = None) -> None:
        node = self._controller_node(controller_id)
        if is_ours(node["pid"], str(self.home)):
            send(node["pid"], signal.SIGCONT)
            _wait_state(node["pid"], "running")

    def restart_controller(self, controller_id: int | None = None, timeout: float = 60.0) -> None:
        """Start the controller again if it is dead (SIGKILL first if it runs), and wait until
        the brokers have it back: a new topic gets a leader."""
        node = self._controller_node(controller_id)
        if is_ours(node["pid"], str(self.home)):
            send(node["pid"], signal.SIGKILL)
            wait_dead(node["pid"], 5.0)
        self._spawn(node["id"])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._fail_if_a_broker_died()
            if not port_is_free(node["controller_port"]):  # listening again
                return
            time.sleep(0.1)
        raise LabError(f"Controller {node['id']} did not come back within {timeout:.0f} s.",
                       f"See {node['dir']}/logs/server.log.")

    def brokers(self) -> list[BrokerInfo]:
        self._refresh()
        out = []
        for node in self.state["nodes"]:
            state = process_state(node["pid"]) if is_ours(node["pid"], str(self.home)) else "dead"
            out.append(BrokerInfo(node["id"], "127.0.0.1", node["port"], node["pid"], state))
        return out

    @property
    def size(self) -> int:
        return len(self.state["nodes"])

    def kill(self, broker_id: int) -> None:
        """SIGKILL: the broker dies with no chance to flush or hand over leadership."""
        node = self._node(broker_id)
        if is_ours(node["pid"], str(self.home)):
            send(node["pid"], signal.SIGKILL)
            wait_dead(node["pid"], 5.0)

    def pause(self, broker_id: int) -> None:
        """SIGSTOP: the broker stays connected but answers nothing — like a long GC pause."""
        node = self._node(broker_id)
        if is_ours(node["pid"], str(self.home)):
            send(node["pid"], signal.SIGSTOP)
            _wait_state(node["pid"], "paused")

    def resume(self, broker_id: int) -> None:
        node = self._node(broker_id)
        if is_ours(node["pid"], str(self.home)):
            send(node["pid"], signal.SIGCONT)
            _wait_state(node["pid"], "running")

    def restart(self, broker_id: int, clean: bool = True, timeout: float = 60.0) -> None:
        """Stop the broker (cleanly unless clean=False) if it runs, start it, wait until it serves."""
        node = self._node(broker_id)
        if is_ours(node["pid"], str(self.home)):
            if clean:
                terminate(node["pid"])
            else:
                send(node["pid"], signal.SIGKILL)
                wait_dead(node["pid"], 5.0)
        self._spawn(broker_id)
        self._wait_registered(broker_id, timeout)

    def _wait_registered(self, broker_id: int, timeout: float) -> None:
        """The new process listens on its client port and the cluster lists it. The metadata
        alone is not enough: a broker killed less than broker.session.timeout.ms ago is still
        listed, although its new JVM is not serving yet."""
        deadline = time.monotonic() + timeout
        admin = self.admin()
        port = self._node(broker_id)["port"]
        while time.monotonic() < deadline:
            self._fail_if_a_broker_died()
            try:
                if not port_is_free(port) and broker_id in admin.list_topics(timeout=1.0).brokers:
                    return
            except KafkaException:
                pass
            time.sleep(0.2)
        raise LabError(f"Broker {broker_id} did not come back within {timeout:.0f} s.",
                       f"See {self._node(broker_id)['dir']}/logs/server.log.")

    # --- network partitions (cluster/network.py) ----------------------------------------------
    def check_network(self, what: str) -> None:
        lacking = network.missing()
        if lacking:
            raise network.unavailable(what, lacking)
        if not self.state.get("cgroups"):
            raise network.unavailable(what, f"the cluster at {self.bootstrap_servers} was started "
                                      "without a cgroup per broker (not as root, or by an older lab)")

    def _endpoint(self, node_id: int) -> network.Endpoint:
        node = self._any_node(node_id)
        ports = tuple(p for p in (node["port"], node["controller_port"]) if p)
        return network.Endpoint(f"{node.get('role', 'broker')} {node_id}",
                                network.NodeCgroups(self.home).path(node_id), ports)

    def _install(self, what: str, rules: network.Rules) -> None:
        network.install(network.table_name(self.home),
                        f"Kafka Delivery Lab {what}, run folder {self.home}", rules)

    def isolate(self, nodes: list[int], from_nodes: list[int], what: str = "partition") -> None:
        """Cut the processes `nodes` (broker ids, controller ids) off from `from_nodes`, both
        ways, while clients still reach every broker; replaces an earlier network fault."""
        self.check_network(what)
        mount = network.NodeCgroups(self.home).mount
        self._install(what, network.cut_rules([self._endpoint(n) for n in nodes],
                                              [self._endpoint(n) for n in from_nodes], mount))

    def lossy(self, nodes: list[int], from_nodes: list[int], loss_pct: float,
              what: str = "lossy-link") -> None:
        """Drop each packet between `nodes` and `from_nodes` with probability loss_pct %."""
        self.check_network(what)
        mount = network.NodeCgroups(self.home).mount
        self._install(what, network.cut_rules([self._endpoint(n) for n in nodes],
                                              [self._endpoint(n) for n in from_nodes], mount,
                                              loss_pct=loss_pct))

    def slow(self, node: int, from_nodes: list[int], delay_ms: float, what: str = "slow-link") -> None:
        """Every connection of `from_nodes` to `node` (a broker's port, or the controller's)
        takes delay_ms longer per request and answer: it goes through a relay."""
        self.check_network(what)
        if shutil.which("ss") is None:
            raise network.unavailable(what, "the `ss` command (Debian: iproute2) is not installed")
        mount = network.NodeCgroups(self.home).mount
        target, clients = self._endpoint(node), [self._endpoint(n) for n in from_nodes]
        port = target.ports[0]
        self.heal_network()
        relay, relay_port = network.start_relay(port, delay_ms)
        self._relay = relay
        # Kept in cluster.json, so a heal from another process (cluster down) can undo it too.
        self.state["relay"] = {"pid": relay.pid, "node": node, "from": list(from_nodes)}
        _write_state(self.home, self.state)
        try:
            self._install(what, network.redirect_rules(clients, port, relay_port, mount))
            network.drop_connections(clients, port, mount)  # reconnect: through the relay now
        except BaseException:
            self.heal_network()
            raise

    def heal_network(self) -> None:
        """Remove the cluster's network fault, if any: the lab's table, the relay."""
        network.delete_table(network.table_name(self.home))
        relay_info = self.state.pop("relay", None)
        if relay_info:
            # The relayed connections must be closed by the brokers' side first: once the NAT
            # rule is gone their packets are no longer translated, and a fetcher would wait
            # out replica.socket.timeout.ms (30 s) on a connection that answers nothing.
            mount = network.NodeCgroups(self.home).mount
            port = self._endpoint(relay_info["node"]).ports[0]
            network.drop_connections([self._endpoint(n) for n in relay_info["from"]], port, mount)
            if is_ours(relay_info["pid"], "deliverylab.cluster.linkproxy"):
                send(relay_info["pid"], signal.SIGKILL)
                wait_dead(relay_info["pid"], 5.0)
            if read_state(self.home) is not None:
                _write_state(self.home, self.state)
        relay = getattr(self, "_relay", None)
        if relay is not None:
            relay.wait(5)  # reaped: no zombie left in a notebook kernel
            self._relay = None

    def stop(self) -> None:
        """Kill every broker and controller of this cluster and delete its run folder's data."""
        for node in _all_nodes(self.state):
            if is_ours(node["pid"], str(self.home)):
                send(node["pid"], signal.SIGKILL)
        for node in _all_nodes(self.state):
            if node["pid"]:
                wait_dead(node["pid"], 10.0)
        self._clean()
        # A JVM's leader thread turns zombie before its other threads have closed their sockets.
        deadline = time.monotonic() + 10
        ports = [p for n in _all_nodes(self.state) for p in (n["port"], n["controller_port"]) if p]
        while not all(port_is_free(p) for p in ports) and time.monotonic() < deadline:
            time.sleep(0.05)

    def _clean(self) -> None:
        self._refresh()
        for node in _all_nodes(self.state):
            if is_ours(node["pid"], str(self.home)):
                send(node["pid"], signal.SIGKILL)
                wait_dead(node["pid"], 10.0)
        current = read_state(self.home)
        if current is None or current.get("cluster_id") == self.state.get("cluster_id"):
            self.heal_network()  # a network fault's table and relay, if any
            network.clean(self.home)  # and the JVMs' cgroups
            (self.home / STATE_FILE).unlink(missing_ok=True)
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

    def _network_mechanism(self) -> str:
        """Which mechanism network faults use on this cluster, or why they cannot run."""
        lacking = network.missing() or (None if self.state.get("cgroups") else
                                         "the cluster was started without a cgroup per broker")
        if lacking:
            return f"unavailable: {lacking}"
        return ("nftables rules per broker cgroup (partitions, lossy-link); a relay behind an "
                "nftables redirect (slow-link, slow-controller)")


def _all_nodes(state: dict[str, Any]) -> list[dict[str, Any]]:
    return [*state["nodes"], *state.get("controllers", [])]


def _check_ports_free(brokers: int, base: int) -> None:
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


def _wait_state(pid: int, state: str, timeout: float = 3.0) -> None:
    """Signals reach a many-threaded JVM in a few ms; return once the kernel shows the change."""
    deadline = time.monotonic() + timeout
    while process_state(pid) not in (state, "dead") and time.monotonic() < deadline:
        time.sleep(0.005)


def _package_parent() -> str:
    return str(Path(__file__).resolve().parents[2])

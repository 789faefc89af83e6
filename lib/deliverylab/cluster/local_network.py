"""The local cluster's network faults: its nodes mapped onto network.py's mechanism (one cgroup
per JVM, the lab's nftables table, a relay for a slow link).

A mixin of LocalCluster: it needs the cluster's run folder (``home``), its record (``state``,
``_any_node``) and nothing else, and keeps what a network fault changes in that record, so that
a heal from another process (`deliverylab cluster down`) can undo it.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from . import network
from .processes import signal_ours
from .state import read_state, write_state

RELAY_MARKER = "deliverylab.cluster.linkproxy"  # in a relay's command line: is_ours() checks it


class LocalNetworkFaults:
    home: Path
    state: dict[str, Any]
    bootstrap_servers: str  # and LocalCluster._any_node(node_id): a broker's or controller's record

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
        write_state(self.home, self.state)
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
            signal_ours(relay_info["pid"], RELAY_MARKER, "kill")
            if read_state(self.home) is not None:
                write_state(self.home, self.state)
        relay = getattr(self, "_relay", None)
        if relay is not None:
            relay.wait(5)  # reaped: no zombie left in a notebook kernel
            self._relay = None

    def _network_mechanism(self) -> str:
        """Which mechanism network faults use on this cluster, or why they cannot run."""
        lacking = network.missing() or (None if self.state.get("cgroups") else
                                         "the cluster was started without a cgroup per broker")
        if lacking:
            return f"unavailable: {lacking}"
        return ("nftables rules per broker cgroup (partitions, lossy-link); a relay behind an "
                "nftables redirect (slow-link, slow-controller)")

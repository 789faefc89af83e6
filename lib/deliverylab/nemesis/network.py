"""The network faults' scheduling: which processes a partition or a degraded link cuts, given
the partition's leader and followers at the moment it strikes. The cutting itself is the
cluster's (cluster/network.py: nftables rules per broker cgroup, a relay for delay): a network
fault is one table, so healing it is one call, `cluster.heal_network()`.
"""
from __future__ import annotations

from typing import Any

from ..cluster.base import Cluster, PartitionState
from .faults import PARTITIONS, FaultSpec


def strike(cluster: Cluster, spec: FaultSpec, state: PartitionState) -> tuple[list[int], dict[str, Any]]:
    """Make the cut for network fault `spec.kind`; the struck node and what the fault event
    records about the cut."""
    kind, c = spec.kind, cluster
    if kind in PARTITIONS:
        # partition-leader / -follower: that broker loses the other brokers and the controller;
        # partition-controller: the leader loses the controller only (it still replicates).
        ctrls = [n.id for n in c.controllers()]
        brokers = [b.id for b in c.brokers()]
        target = state.followers()[0] if kind == "partition-follower" else state.leader
        rest = ctrls if kind == "partition-controller" else [b for b in brokers if b != target] + ctrls
        c.isolate([target], rest, kind)
        return [target], {"cut_from": rest, "mechanism": "nftables, socket cgroupv2 per JVM"}
    if kind == "slow-link":  # the leader's replication: its followers' fetches and their answers
        followers = list(state.followers())
        c.slow(state.leader, followers, spec.delay_ms, kind)
        return [state.leader], {"delay_ms": spec.delay_ms, "links": followers,
                                "mechanism": "relay (nftables redirect per JVM cgroup)"}
    if kind == "lossy-link":
        followers = list(state.followers())
        c.lossy([state.leader], followers, spec.loss_pct, kind)
        return [state.leader], {"loss_pct": spec.loss_pct, "links": followers,
                                "mechanism": "nftables random drop, socket cgroupv2 per JVM"}
    if kind == "slow-controller":  # every broker's requests to the controller
        ctrl = c.controllers()[0].id
        brokers = [b.id for b in c.brokers()]
        c.slow(ctrl, brokers, spec.delay_ms, kind)
        return [ctrl], {"delay_ms": spec.delay_ms, "links": brokers,
                        "mechanism": "relay (nftables redirect per JVM cgroup)"}
    raise ValueError(f"{kind!r} is not a network fault")

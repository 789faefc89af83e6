"""The faults a run can ask for: their names and groups, FaultSpec (which fault, when, for how
long), and where a seed places one in a run. broker.py strikes the broker and controller faults,
network.py schedules the network ones; cluster/ holds the mechanisms (signals, nftables, relay).
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from ..cluster import Cluster
from ..errors import LabError
from ..fields import check_fields

FAULTS = ("none", "kill-leader", "pause-leader", "pause-followers", "kill-follower",
          "restart-leader", "kill-leader-lagging-followers",
          # The followers paused until the ISR is the leader alone, the leader acks on, dies:
          # only an unclean election (unclean.leader.election.enable=true) gives the partition
          # a leader again before the old one returns, and it lacks what the old one acked.
          "kill-leader-alone",
          # The KRaft controller, a process of its own on the 3-broker cluster: without it no
          # leader is elected, no ISR change is committed, no broker is fenced.
          "pause-controller", "kill-controller", "pause-controller-kill-leader",
          # Network partitions: the processes run on, cut apart; clients still reach every broker.
          "partition-leader", "partition-follower", "partition-controller",
          # Degraded links: the followers' fetches from the leader (or every broker's requests
          # to the controller) slowed by delay_ms, or packets between leader and followers lost.
          "slow-link", "slow-controller", "lossy-link")
PARTITIONS = ("partition-leader", "partition-follower", "partition-controller")
NETWORK_FAULTS = (*PARTITIONS, "slow-link", "slow-controller", "lossy-link")
CONTROLLER_FAULTS = ("pause-controller", "kill-controller", "pause-controller-kill-leader",
                     *NETWORK_FAULTS)  # a partition cuts the controller process off too
# A network fault must outlast the broker session (broker.session.timeout.ms, 4 s in the lab)
# for the controller to fence a cut leader and elect another, and replica.lag.time.max.ms (5 s)
# for a slow follower to leave the ISR: shorter, and nothing changes hands.
NETWORK_HEAL_AFTER_S = 8.0
# Faults whose struck brokers stay dead until the heal starts them again: a restarted broker
# learns the current leader from the controller before it serves, so a run may read its topic
# back while that heal runs. A paused or cut-off leader instead answers on as a zombie (its own
# high watermark, records it will truncate) until it learns it was replaced: read after the heal.
READ_WHILE_HEALING = ("kill-leader", "kill-follower", "kill-leader-lagging-followers",
                      "kill-leader-alone",
                      "restart-leader", "pause-controller-kill-leader")


@dataclass(frozen=True)
class FaultSpec:
    kind: str
    at_index: int | None = None  # when the run has made this much progress (messages)
    at_s: float | None = None  # or this many seconds into the run
    heal_after_s: float = 3.0  # resume / restart the broker this long after the fault
    delay_ms: float = 200.0  # slow-link, slow-controller: added to each request and its answer
    loss_pct: float = 10.0  # lossy-link: share of packets dropped (TCP resends them)

    def check(self, cluster: Cluster | None = None) -> "FaultSpec":
        check_fields(self, {"at_index": (0, None), "at_s": (0, 3600), "heal_after_s": (0, 600)})
        if self.kind not in FAULTS:
            raise LabError(f"Unknown broker fault {self.kind!r}.",
                           f"Use one of {', '.join(FAULTS)}.")
        if self.at_index is None and self.at_s is None:
            raise LabError(f"Broker fault {self.kind!r} needs a time: at_index or at_s.",
                           "E.g. FaultSpec('kill-leader', at_index=300).")
        if self.heal_after_s is not None and self.heal_after_s < 0:
            raise LabError(f"heal_after_s={self.heal_after_s!r} is negative.", "Use 0 or more seconds.")
        if not isinstance(self.delay_ms, (int, float)) or not 0 < self.delay_ms <= 10_000:
            raise LabError(f"delay_ms={self.delay_ms!r} is not a delay the lab can add.",
                           "Use a number of milliseconds from 1 to 10000, e.g. delay_ms=200.")
        if not isinstance(self.loss_pct, (int, float)) or not 0 < self.loss_pct <= 100:
            raise LabError(f"loss_pct={self.loss_pct!r} is not a share of packets.",
                           "Use a percentage above 0 and up to 100, e.g. loss_pct=10.")
        if cluster is not None and self.kind != "none" and cluster.kind == "external":
            raise cluster._no_faults(self.kind)
        if cluster is not None and self.kind in NETWORK_FAULTS:
            cluster.check_network(self.kind)  # not root, no nft, compose: one paragraph, now
        if cluster is not None and self.kind in CONTROLLER_FAULTS and cluster.kind == "local" \
                and not cluster.controllers():
            raise LabError(f"Fault {self.kind!r} needs a KRaft controller of its own, and the "
                           f"cluster at {cluster.bootstrap_servers} runs its controller inside "
                           "its broker (combined mode, an older or 1-broker cluster).",
                           "Restart it with the current lab: `deliverylab cluster down && "
                           "deliverylab cluster up --brokers 3`.")
        if cluster is not None and self.kind != "none" and cluster.size < 3:
            raise LabError(f"Broker fault {self.kind!r} needs a cluster of 3 brokers; the "
                           f"{cluster.kind} cluster at {cluster.bootstrap_servers} has "
                           f"{cluster.size}.",
                           "Run `deliverylab cluster down && deliverylab cluster up --brokers 3` "
                           "(or connect(brokers=3) with no cluster running).")
        return self


def seeded_fault(kind: str, messages: int, seed: int,
                 heal_after_s: float | tuple[float, float] | None = None) -> FaultSpec | None:
    """A fault somewhere in the second quarter of the run, placed by the seed. It is armed by
    delivery reports (producers) or processed messages (consumers), so it strikes while records
    are in flight. heal_after_s=(low, high) draws the fault's length from the same seed; None:
    3 s, or NETWORK_HEAL_AFTER_S for a partition (it must outlast the broker session)."""
    if kind == "none":
        return None
    if heal_after_s is None:
        heal_after_s = NETWORK_HEAL_AFTER_S if kind in NETWORK_FAULTS else 3.0
    rng = random.Random(seed)
    at = messages // 4 + rng.randrange(max(1, messages // 4))
    if isinstance(heal_after_s, tuple):
        low, high = heal_after_s
        heal_after_s = round(rng.uniform(low, high), 2)
    return FaultSpec(kind, at_index=at, heal_after_s=heal_after_s)

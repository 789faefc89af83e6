"""Broker-side faults during a run (the nemesis): kill, pause or restart the leader or the
followers of the experiment's partition, or the KRaft controller, or cut one of them off the
network (cluster/network.py), at a message index or a time, then heal after a delay.

The nemesis always heals: a run never leaves a broker or the controller paused or dead behind
it. When the run ends before the planned heal, the heal happens then, and the ledger's heal event
says so (cut_short), so a Result can warn that the fault was shorter than planned.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .cluster.base import Cluster
from .errors import LabError
from .ledger import Ledger

FAULTS = ("none", "kill-leader", "pause-leader", "pause-followers", "kill-follower",
          "restart-leader", "kill-leader-lagging-followers",
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
                      "restart-leader", "pause-controller-kill-leader")
LAG_BEFORE_KILL_S = 1.0  # followers fall this far behind (still in the ISR) before the leader dies


@dataclass(frozen=True)
class FaultSpec:
    kind: str
    at_index: int | None = None  # when the run has made this much progress (messages)
    at_s: float | None = None  # or this many seconds into the run
    heal_after_s: float = 3.0  # resume / restart the broker this long after the fault
    delay_ms: float = 200.0  # slow-link, slow-controller: added to each request and its answer
    loss_pct: float = 10.0  # lossy-link: share of packets dropped (TCP resends them)

    def check(self, cluster: Cluster | None = None) -> "FaultSpec":
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


class Nemesis(threading.Thread):
    """Watches the run's progress and strikes once, then heals."""

    def __init__(self, cluster: Cluster, spec: FaultSpec, topic: str, ledger_path: Path,
                 progress: Callable[[], int]) -> None:
        super().__init__(daemon=True, name="nemesis")
        self.cluster, self.spec, self.topic = cluster, spec, topic
        self.ledger_path, self.progress = ledger_path, progress
        self.t0 = time.monotonic()
        self.halt = threading.Event()
        self.struck: list[int] = []
        self.struck_at: float | None = None
        self.healed = False
        self.error: Exception | None = None
        self._heal_actions: list[Callable[[], None]] = []

    def _due(self) -> bool:
        if self.spec.at_s is not None and time.monotonic() - self.t0 >= self.spec.at_s:
            return True
        return self.spec.at_index is not None and self.progress() >= self.spec.at_index

    def run(self) -> None:
        ledger = Ledger(self.ledger_path)
        try:
            while not self.halt.is_set() and not self._due():
                time.sleep(0.01)
            if self.halt.is_set():
                return
            self._strike(ledger)
            self.struck_at = time.monotonic()
            self.halt.wait(self.spec.heal_after_s)
        except Exception as exc:  # surfaced by the experiment after the run
            self.error = exc
        finally:
            self._heal(ledger)
            ledger.close()

    def _strike(self, ledger: Ledger) -> None:
        kind = self.spec.kind
        started = time.time()  # the fault event's time: when the first action began
        state = self.cluster.partition_state(self.topic, 0)
        c = self.cluster
        extra: dict = {}
        if kind == "kill-leader":
            targets, act, heal = [state.leader], c.kill, c.restart
        elif kind == "pause-leader":
            targets, act, heal = [state.leader], c.pause, c.resume
        elif kind == "pause-followers":
            targets, act, heal = list(state.followers()), c.pause, c.resume
        elif kind == "kill-follower":
            targets, act, heal = list(state.followers()[:1]), c.kill, c.restart
        elif kind == "kill-leader-lagging-followers":
            # Followers stop fetching but stay in the ISR (replica.lag.time.max.ms has not passed);
            # the leader keeps acking acks=1 writes; then it dies and a stale follower takes over.
            followers = list(state.followers())
            for b in followers:
                c.pause(b)
            self.halt.wait(LAG_BEFORE_KILL_S)
            c.kill(state.leader)
            for b in followers:
                c.resume(b)
            targets, act, heal = [state.leader], lambda b: None, c.restart
        elif kind == "restart-leader":
            targets, act, heal = [state.leader], lambda b: c.restart(b), lambda b: None
        elif kind == "pause-controller":
            targets, act, heal = ["controller"], lambda _: c.pause_controller(), lambda _: c.resume_controller()
        elif kind == "kill-controller":
            targets, act, heal = ["controller"], lambda _: c.kill_controller(), lambda _: c.restart_controller()
        elif kind == "pause-controller-kill-leader":
            # The leader dies while no controller can elect another: the partition keeps a dead
            # leader until the controller is back. Heal order: the controller first (it elects
            # a new leader from the ISR), then the old leader rejoins as a follower.
            c.pause_controller()
            c.kill(state.leader)
            self._heal_actions.append(c.resume_controller)
            targets, act, heal = [state.leader], lambda b: None, c.restart
        elif kind in PARTITIONS:
            # partition-leader / -follower: that broker loses the other brokers and the
            # controller; partition-controller: the leader loses the controller only (it still
            # replicates). One table holds the partition: healing deletes it.
            ctrls = [n.id for n in c.controllers()]
            brokers = [b.id for b in c.brokers()]
            target = state.followers()[0] if kind == "partition-follower" else state.leader
            rest = ctrls if kind == "partition-controller" else [b for b in brokers if b != target] + ctrls
            c.isolate([target], rest, kind)
            extra = {"cut_from": rest, "mechanism": "nftables, socket cgroupv2 per JVM"}
            self._heal_actions.append(c.heal_network)
            targets, act, heal = [target], lambda b: None, lambda b: None
        elif kind in ("slow-link", "lossy-link"):
            # The leader's replication: its followers' fetches (and their answers).
            followers = list(state.followers())
            if kind == "slow-link":
                c.slow(state.leader, followers, self.spec.delay_ms, kind)
                extra = {"delay_ms": self.spec.delay_ms, "links": followers,
                         "mechanism": "relay (nftables redirect per JVM cgroup)"}
            else:
                c.lossy([state.leader], followers, self.spec.loss_pct, kind)
                extra = {"loss_pct": self.spec.loss_pct, "links": followers,
                         "mechanism": "nftables random drop, socket cgroupv2 per JVM"}
            self._heal_actions.append(c.heal_network)
            targets, act, heal = [state.leader], lambda b: None, lambda b: None
        elif kind == "slow-controller":
            ctrl = c.controllers()[0].id
            brokers = [b.id for b in c.brokers()]
            c.slow(ctrl, brokers, self.spec.delay_ms, kind)
            extra = {"delay_ms": self.spec.delay_ms, "links": brokers,
                     "mechanism": "relay (nftables redirect per JVM cgroup)"}
            self._heal_actions.append(c.heal_network)
            targets, act, heal = [ctrl], lambda b: None, lambda b: None
        else:
            return
        for b in targets:
            act(b)
            self._heal_actions.append(lambda b=b: heal(b))
        self.struck = targets
        ledger.event("fault", -1, 0, json.dumps({"kind": kind, "brokers": targets,
                                                  "leader": state.leader, "isr": list(state.isr),
                                                  "took_s": round(time.time() - started, 3),
                                                  **extra}),
                     t=started)

    def _heal(self, ledger: Ledger) -> None:
        if not self._heal_actions or self.healed:
            return
        lasted = time.monotonic() - self.struck_at if self.struck_at else 0.0
        # Recorded when healing begins (a resume is instant; a restarted JVM serves a few
        # seconds later). cut_short: the run ended before the planned heal, so the fault
        # lasted less than asked and a Result warns about it.
        ledger.event("heal", -1, 0, json.dumps({
            "kind": self.spec.kind, "brokers": self.struck, "planned_s": self.spec.heal_after_s,
            "lasted_s": round(lasted, 3),
            "cut_short": bool(self.struck_at and lasted < self.spec.heal_after_s - 0.05)}))
        for action in self._heal_actions:
            action()
        self.healed = True

    def stop(self) -> None:
        """End the run's fault: heal now if still broken, and wait for the heal to finish."""
        self.halt.set()
        self.join(120)

    def failure(self) -> LabError:
        return LabError(f"The broker fault {self.spec.kind!r} could not be applied: {self.error}",
                        "Check `deliverylab cluster status`.")

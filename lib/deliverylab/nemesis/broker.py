"""Broker-side faults during a run: kill, pause or restart the leader or the followers of the
run's partition, or the KRaft controller, or cut one of them off the network (network.py), at a
message index or a time, then heal after a delay.

When the run ends before the planned heal, the heal happens then, and the ledger's heal event
says so (cut_short), so a Result can warn that the fault was shorter than planned.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from ..cluster import Cluster, PartitionState
from ..errors import LabError
from ..ledger import Ledger
from . import network
from .faults import NETWORK_FAULTS, FaultSpec
from .thread import NemesisThread

LAG_BEFORE_KILL_S = 1.0  # followers fall this far behind (still in the ISR) before the leader dies
# kill-leader-alone: the ISR shrinks after replica.lag.time.max.ms (5 s in the lab) or the
# paused brokers' fencing (broker.session.timeout.ms, 4 s); the controller acts on the dead
# leader after the session timeout. Waited on, never slept; these bound the waits.
ALONE_WITHIN_S = 20.0
ELECTION_WITHIN_S = 20.0
ACKED_ALONE = 20  # delivery reports the leader gives while alone in the ISR, before it dies


class BrokerNemesis(NemesisThread):
    """Watches the run's progress and strikes once, then heals."""

    def __init__(self, cluster: Cluster, spec: FaultSpec, topic: str, ledger_path: Path,
                 progress: Callable[[], int]) -> None:
        super().__init__(ledger_path, "nemesis")
        self.cluster, self.spec, self.topic, self.progress = cluster, spec, topic, progress
        self.t0 = time.monotonic()
        self.struck: list = []
        self.struck_at: float | None = None
        self.seen: dict[str, Any] = {}  # what the fault watched happen (kill-leader-alone)
        self.killed_at: float | None = None  # kill-leader-alone: when the leader died

    def _due(self) -> bool:
        if self.spec.at_s is not None and time.monotonic() - self.t0 >= self.spec.at_s:
            return True
        return self.spec.at_index is not None and self.progress() >= self.spec.at_index

    def act(self, ledger: Ledger) -> None:
        if not self.wait_until(self._due):
            return
        kind = self.spec.kind
        started = time.time()  # the fault event's time: when the first action began
        state = self.cluster.partition_state(self.topic, 0)
        if kind in NETWORK_FAULTS:
            self.struck, extra = network.strike(self.cluster, self.spec, state)
            self.heals.append(self.cluster.heal_network)  # the fault's one table goes
        else:
            self.struck, extra = self._strike(kind, state), {}
        self.record_fault(ledger, {"kind": kind, "brokers": self.struck, "leader": state.leader,
                                   "isr": list(state.isr),
                                   "took_s": round(time.time() - started, 3), **extra}, t=started)
        self.struck_at = time.monotonic()
        planned = self.spec.heal_after_s
        if kind == "pause-followers" and planned is not None:
            self._watch_isr_shrink(state, until=self.struck_at + planned)
            planned = max(0.0, self.struck_at + planned - time.monotonic())
        self.hold(planned)

    def _strike(self, kind: str, state: PartitionState) -> list:
        """A broker or controller fault; each struck process's heal is registered as it goes."""
        c = self.cluster
        if kind == "kill-leader":
            return self._each([state.leader], c.kill, c.restart)
        if kind == "pause-leader":
            return self._each([state.leader], c.pause, c.resume)
        if kind == "pause-followers":
            return self._each(list(state.followers()), c.pause, c.resume)
        if kind == "kill-follower":
            return self._each(list(state.followers()[:1]), c.kill, c.restart)
        if kind == "kill-leader-lagging-followers":
            # Followers stop fetching but stay in the ISR (replica.lag.time.max.ms has not passed);
            # the leader keeps acking acks=1 writes; then it dies and a stale follower takes over.
            followers = list(state.followers())
            for b in followers:
                c.pause(b)
            self.halt.wait(LAG_BEFORE_KILL_S)
            c.kill(state.leader)
            for b in followers:
                c.resume(b)
            return self._each([state.leader], None, c.restart)
        if kind == "kill-leader-alone":
            return self._kill_leader_alone(state)
        if kind == "restart-leader":
            return self._each([state.leader], c.restart, None)
        if kind == "pause-controller":
            return self._each(["controller"], lambda _: c.pause_controller(),
                              lambda _: c.resume_controller())
        if kind == "kill-controller":
            return self._each(["controller"], lambda _: c.kill_controller(),
                              lambda _: c.restart_controller())
        if kind == "pause-controller-kill-leader":
            # The leader dies while no controller can elect another: the partition keeps a dead
            # leader until the controller is back. Heal order: the controller first (it elects
            # a new leader from the ISR), then the old leader rejoins as a follower.
            c.pause_controller()
            c.kill(state.leader)
            self.heals.append(c.resume_controller)
            return self._each([state.leader], None, c.restart)
        raise ValueError(f"{kind!r} is not a broker fault")

    def _watch_isr_shrink(self, state: PartitionState, until: float) -> None:
        """pause-followers: when the ISR became the leader alone, measured from the pause (a lesson
        compares it with the first NOT_ENOUGH_REPLICAS). Watched only while the fault holds; no
        shrink within it (or the run's end) leaves alone_after_s unset."""
        try:
            # 1 s per question: a question that hangs on a paused broker must not delay the heal
            self._wait_state(lambda s: s.isr == (state.leader,), until - time.monotonic(),
                             f"the ISR of {self.topic} to shrink to the leader alone",
                             ask_within_s=1.0)
        except LabError:  # not within the fault: nothing to record, and not an error of the run
            return
        self.seen["alone_after_s"] = round(time.monotonic() - self.struck_at, 2)

    def _kill_leader_alone(self, state: PartitionState) -> list:
        """Pause the followers until the ISR is the leader alone, let it acknowledge ACKED_ALONE
        more writes, kill it, resume the followers, and watch what the controller makes of the
        partition: a follower elected (unclean) or no leader (-1). The old leader is restarted at
        the heal, heal_after_s after that first change."""
        c, t0 = self.cluster, time.monotonic()
        followers = list(state.followers())
        for b in followers:
            c.pause(b)
            self.heals.append(lambda b=b: c.resume(b))  # resumed below; again is harmless
        alone = self._wait_state(lambda s: s.isr == (state.leader,), ALONE_WITHIN_S,
                                 f"the ISR of {self.topic} to shrink to the leader alone")
        self.seen["alone_after_s"] = round(time.monotonic() - t0, 2)
        self.seen["isr_alone"] = list(alone.isr)
        reported = self.progress()
        if not self.wait_until(lambda: self.progress() >= reported + ACKED_ALONE):
            # No kill after the run: a leader killed then would never be restarted by this run's
            # heal order, and the next run would find two brokers (a workshop day did).
            raise LabError(f"The run ended before the leader of {self.topic} acknowledged "
                           f"{ACKED_ALONE} more writes alone in the ISR (it acknowledged "
                           f"{self.progress() - reported}), so it was not killed.",
                           "Send for longer (a lower rate or more messages: the ISR takes 5 s "
                           "to shrink), and with acks=all let an ISR of one acknowledge: "
                           'topic_config={"min.insync.replicas": "1"}.')
        c.kill(state.leader)
        killed = self.killed_at = time.monotonic()
        struck = self._each([state.leader], None, c.restart)  # at once: the waits below may raise
        for b in followers:
            c.resume(b)
        after = self._wait_state(lambda s: s.leader != state.leader, ELECTION_WITHIN_S,
                                 f"the controller to act on the dead leader of {self.topic}")
        self.seen.update({"after_kill_s": round(time.monotonic() - killed, 2),
                          "leader_after_kill": after.leader, "isr_after_kill": list(after.isr)})
        if after.leader != -1:  # elected (unclean): leaderless from the kill until now
            self.seen["leaderless_s"] = self.seen["after_kill_s"]
        return struck

    def after_heal(self) -> dict[str, Any] | None:
        """kill-leader-alone, once the old leader was restarted: the partition's leader, and the
        seconds from the kill until a live broker led it (with no election, until the old leader
        was back: the first time this nemesis saw a leader after the restart)."""
        if self.spec.kind != "kill-leader-alone" or self.killed_at is None:
            return None
        try:  # the heal runs after the halt too: watch regardless
            back = self._wait_state(lambda s: s.leader != -1, ELECTION_WITHIN_S,
                                    f"a leader of {self.topic} after the heal", halted_ok=True)
        except LabError as exc:
            self.error = self.error or exc
            return None
        return {"leader_after_heal": back.leader, "isr_after_heal": list(back.isr),
                "leaderless_s": self.seen.get("leaderless_s",
                                              round(time.monotonic() - self.killed_at, 2))}

    def _wait_state(self, done: Callable[[PartitionState], bool], within_s: float,
                    what: str, halted_ok: bool = False, ask_within_s: float = 2.0) -> PartitionState:
        deadline, last = time.monotonic() + within_s, None
        while time.monotonic() < deadline and (halted_ok or not self.halt.is_set()):
            try:
                last = self.cluster.partition_state(self.topic, 0, timeout=ask_within_s)
                if done(last):
                    return last
            except Exception:  # a broker of the partition is down: ask again
                pass
            time.sleep(0.05)
        if self.halt.is_set() and not halted_ok:
            raise LabError(f"The run ended while the fault waited for {what}; last seen: {last}.",
                           "Send for longer, so that the run outlasts the fault.")
        raise LabError(f"Waited {within_s:.0f} s for {what}; last seen: {last}.",
                       "Check `deliverylab cluster status` (replica.lag.time.max.ms and "
                       "broker.session.timeout.ms of the lab's brokers are 5 s and 4 s).")

    def _each(self, targets: list, act: Callable[[Any], None] | None,
              heal: Callable[[Any], None] | None) -> list:
        for b in targets:
            if act:
                act(b)
            self.heals.append(lambda b=b: heal(b) if heal else None)
        return targets

    def heal_detail(self) -> dict[str, Any]:
        lasted = time.monotonic() - self.struck_at if self.struck_at else 0.0
        # cut_short: the run ended before the planned heal, so the fault lasted less than asked
        # and a Result warns about it.
        return {"kind": self.spec.kind, "brokers": self.struck, "planned_s": self.spec.heal_after_s,
                **self.seen,
                "lasted_s": round(lasted, 3),
                "cut_short": bool(self.struck_at and lasted < self.spec.heal_after_s - 0.05)}

    def failure(self) -> LabError:
        return LabError(f"The broker fault {self.spec.kind!r} could not be applied: {self.error}",
                        "Check `deliverylab cluster status`.")

"""The group coordinator as a fault target, and Scenario 2 made deterministic.

The coordinator of a group is the leader of the group's __consumer_offsets partition; the admin
client's consumer-group description names it. Scenario 2 ("commit sent, crash before the
response"): the worker tells the ledger it is about to commit (`s2-ready`); this nemesis pauses
the coordinator (SIGSTOP: the request waits in its socket) and says so (`s2-paused`); the worker
sends the commit and dies. Then the coordinator either resumes — it reads the request and
applies the commit (`scenario-2-applied`) — or dies with the request unread, and a new
coordinator serves the offset committed before (`scenario-2-lost`). The nemesis reads the
group's committed offsets back (`s2-settled`) before the worker may restart, and always heals.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

from confluent_kafka import Consumer, TopicPartition

from ..clients import fetch_committed, quiet
from ..cluster.base import Cluster
from ..errors import LabError
from ..ledger import Ledger
from ..vocabulary import CRASH, HEAL, S2_PAUSED, S2_READY, S2_SETTLED
from .thread import NemesisThread


def java_string_hash(text: str) -> int:
    """Java's String.hashCode(), which Kafka uses to place a group on a partition."""
    h, units = 0, text.encode("utf-16-be")  # Java strings are UTF-16 code units
    for i in range(0, len(units), 2):
        h = (31 * h + (units[i] << 8 | units[i + 1])) & 0xFFFFFFFF
    return h - (1 << 32) if h >= 1 << 31 else h


def offsets_partition(group: str, partitions: int) -> int:
    """The __consumer_offsets partition that holds the group: Utils.abs(hashCode) % partitions."""
    h = java_string_hash(group)
    return (0 if h == -(1 << 31) else abs(h)) % partitions


def find_coordinator(cluster: Cluster, group: str, timeout_s: float = 30.0,
                     in_sync: bool = False) -> int:
    """The broker id of the group's coordinator: the leader of the group's __consumer_offsets
    partition (retried while it moves). The admin client's describe_consumer_groups() names the
    same broker (tests/test_groups.py checks it), but a coordinator request that meets the
    coordinator's death aborted the process in librdkafka 2.16 (enq_once refcnt assertion),
    while this asks only for metadata.

    in_sync=True also waits until every replica of that partition is in its ISR: a fault about
    to strike the coordinator needs a follower that can take over (a broker an earlier fault
    restarted may still be catching up, and without unclean election the partition — and the
    group's commits — would wait for the dead broker to come back)."""
    deadline = time.monotonic() + timeout_s
    while True:
        state = None
        try:
            md = cluster.admin().list_topics("__consumer_offsets", timeout=5)
            count = len(md.topics["__consumer_offsets"].partitions)
            if count:
                state = cluster.partition_state("__consumer_offsets", offsets_partition(group, count))
                if state.leader is not None and state.leader >= 0 and \
                        (not in_sync or set(state.isr) == set(state.replicas)):
                    return int(state.leader)
        except Exception:
            pass
        if time.monotonic() > deadline:
            raise LabError(f"No coordinator for group {group!r} within {timeout_s:.0f} s"
                           + (f" with every replica of its offsets partition in sync (last seen: "
                              f"{state})" if in_sync else "") + ".",
                           "Check `deliverylab cluster status`.")
        time.sleep(0.2)


def committed_offsets(cluster: Cluster, group: str, topic: str, partitions: int,
                      timeout_s: float = 60.0) -> dict[int, int]:
    """The group's committed offsets as its (possibly new) coordinator serves them. Asked with a
    consumer's committed() (no subscribe, so it never joins the group): the admin client's
    offset listing aborted the process in librdkafka 2.16 (enq_once refcnt assertion) when it
    met the coordinator's death."""
    consumer = Consumer(quiet({**cluster.client_config(), "group.id": group,
                               "enable.auto.commit": False}))
    try:
        got = fetch_committed(consumer, [TopicPartition(topic, p) for p in range(partitions)], timeout_s)
    finally:
        consumer.close()
    if got is None:
        raise LabError(f"Group {group!r}'s committed offsets were not served within "
                       f"{timeout_s:.0f} s.", "Check `deliverylab cluster status`.")
    return {t.partition: t.offset for t in got}


class Scenario2(NemesisThread):
    """Pauses the coordinator under the worker's in-flight commit, then resumes or kills it.
    It strikes on the worker's handshake through the ledger (s2-ready), not on a message count,
    and its outcome (resume or kill) is the experiment's variant."""

    def __init__(self, cluster: Cluster, scenario: str, group: str, topic: str, partitions: int,
                 ledger_path: Path) -> None:
        super().__init__(ledger_path, "scenario-2")
        self.cluster, self.scenario, self.group = cluster, scenario, group
        self.topic, self.partitions = topic, partitions

    def _seen(self, ledger: Ledger, kind: str) -> bool:
        return self.wait_until(lambda: ledger.conn.execute(
            "SELECT 1 FROM events WHERE kind = ?", (kind,)).fetchone() is not None, every_s=0.005)

    def act(self, ledger: Ledger) -> None:
        c = self.cluster
        find_coordinator(c, self.group, in_sync=True)  # while the worker works its batch
        if not self._seen(ledger, S2_READY):
            return
        coord = find_coordinator(c, self.group)
        c.pause(coord)
        self.heals.append(lambda: c.resume(coord))
        ledger.event(S2_PAUSED, -1, 0, json.dumps({"coordinator": coord}))
        self.record_fault(ledger, {"kind": "pause-coordinator", "brokers": [coord]})
        if not self._seen(ledger, CRASH):
            return
        if self.scenario == "scenario-2-applied":
            c.resume(coord)
            self.heals.clear()
            ledger.event(HEAL, -1, 0, json.dumps({"kind": "resume-coordinator", "brokers": [coord]}))
        else:
            c.kill(coord)  # the request dies unread in the paused broker's socket
            self.heals[:] = [lambda: c.restart(coord)]
            self.record_fault(ledger, {"kind": "kill-coordinator", "brokers": [coord]})
        offsets = committed_offsets(c, self.group, self.topic, self.partitions)
        ledger.event(S2_SETTLED, -1, 0, json.dumps({
            "committed": offsets, "coordinator": find_coordinator(c, self.group),
            "old_coordinator": coord}))

    def heal_detail(self) -> dict[str, Any]:
        return {"kind": self.scenario}

    def failure(self) -> LabError:
        return _failure(self.scenario, self.error)


def _failure(name: str, error: Exception | None) -> LabError:
    return LabError(f"{name}: the coordinator fault could not be applied: {error}",
                    "Check `deliverylab cluster status`.")


COORDINATOR_FAULTS = ("kill-coordinator", "pause-coordinator", "restart-coordinator")


class CoordinatorFault(NemesisThread):
    """The group coordinator dies, stalls or restarts mid-run (once the run has processed
    `at_index` records), and heals `heal_after_s` later: commits meet errors and retries, and
    the group moves to a new coordinator (recorded in the fault and heal events)."""

    def __init__(self, cluster: Cluster, kind: str, group: str, ledger_path: Path,
                 progress: Callable[[], int], at_index: int, heal_after_s: float) -> None:
        super().__init__(ledger_path, "coordinator-fault")
        self.cluster, self.kind, self.group = cluster, kind, group
        self.progress, self.at_index, self.heal_after_s = progress, at_index, heal_after_s

    def act(self, ledger: Ledger) -> None:
        c = self.cluster
        if not self.wait_until(lambda: self.progress() >= self.at_index):
            return
        coord = find_coordinator(c, self.group, in_sync=self.kind == "kill-coordinator")
        started = time.time()
        if self.kind == "kill-coordinator":
            c.kill(coord)
            self.heals.append(lambda: c.restart(coord))
        elif self.kind == "pause-coordinator":
            c.pause(coord)
            self.heals.append(lambda: c.resume(coord))
        else:
            c.restart(coord)  # a clean stop and start: the coordinator moves and comes back
        self.record_fault(ledger, {"kind": self.kind, "brokers": [coord], "coordinator": coord},
                          t=started)
        self.hold(self.heal_after_s)

    def heal_detail(self) -> dict[str, Any]:
        return {"kind": self.kind}

    def failure(self) -> LabError:
        return _failure(self.kind, self.error)

"""The outside observer of a program under check (docs/CHECK.md): what it has written, what its
group has committed, and the kills.

It reads the output topic (read_uncommitted, so records of an open transaction count as written)
and the group's committed offsets a few dozen times a second. From the two it knows what is in
flight — output written for input not yet committed, or input committed with no output yet — and
kills the program's whole process tree with SIGKILL on the seeded plan (check/schedule.py): crash k
strikes at the first observation after its threshold that shows the program in flight. Each kill is recorded with what it saw, as the in-process witness
does for a function. Seen from outside, "written" lags the program by the observer's own fetch
(milliseconds): a kill judged "input committed, its output not yet written" first looks at the output once more.
"""
from __future__ import annotations

import json
import signal
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import psutil
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from ..clients import quiet
from ..errors import LabError
from ..ledger import Ledger
from ..supervisor import kill_tree
from .contract import last_line
from .lag import GroupLag
from .records import lab_id
from .schedule import CrashPlan, Window, point_name
from ..vocabulary import AFTERMATH, CRASH, RESTART, START, STOP

OBSERVE_S = 0.01  # how long one look at the output waits for records
QUIET_S = 1.0  # no new output this long, with no lag: the program is done and may be stopped
STOP_GRACE_S = 5.0  # SIGTERM, then SIGKILL after this long
COMMITTED = ("commit", "process")  # the group committed past records with no output yet
WRITTEN = ("process", "commit")  # output written for records not yet committed
WHERE = {COMMITTED: "while the group's committed offset was ahead of the output (input "
                    "committed, its output not yet written)",
         WRITTEN: "while output was written for records whose offsets were not yet committed"}
# Most of a fast program's work cannot be seen from outside: records it has fetched and is
# working on, output still in its producer. It counts as working while the group has lag and its
# output or commits moved this recently; a kill then strikes records in its hands.
WORKING_S = 0.25
WORKING = "while it was working through uncommitted input (the group had lag, and its output or commits had just moved)"
AFTERMATH_S = 0.1  # after a kill, output still reaching the log was written by the dead process


class Watcher(threading.Thread):
    """Observes a program's output and its group's commits; kills it on the plan; stops it when
    its work is done; sets `abort` (with `error`) when it breaks the contract or hangs."""

    def __init__(self, client: dict[str, Any], ledger_path: Path, output: str, partitions: int,
                 positions: dict[str, tuple[int, int]], lag: GroupLag, plan: CrashPlan,
                 stall_s: float, name: str, log_for: Callable[[int], Path]) -> None:
        super().__init__(daemon=True, name="check-watcher")
        self.ledger_path, self.output, self.partitions = ledger_path, output, partitions
        self.positions, self.lag, self.plan = positions, lag, plan
        self.stall_s, self.name, self.log_for = stall_s, name, log_for
        self.thresholds = plan.thresholds()
        self.by_partition: dict[int, list[tuple[int, str]]] = {}
        for ident, (p, o) in positions.items():
            self.by_partition.setdefault(p, []).append((o, ident))
        for rows in self.by_partition.values():
            rows.sort()
        self.reader = Consumer(quiet({**client, "group.id": f"deliverylab-watch-{uuid.uuid4().hex[:8]}",
                                      "enable.auto.commit": False, "fetch.wait.max.ms": 10,
                                      "isolation.level": "read_uncommitted"}))
        self.seen: dict[str, int] = {}  # id -> copies in the output
        self.observed: list[tuple[str, float]] = []  # (id, time first seen by the watcher)
        self.windows: set[Window] = set()
        self.halt = threading.Event()
        self.ready = threading.Event()  # set once it reads the output and the group's offsets
        self.abort = threading.Event()
        self.error: LabError | None = None
        self.fired = 0
        self.progress_at = time.monotonic()

    # --- looking ---------------------------------------------------------------------------------
    def _read_output(self) -> bool:
        got = False
        for msg in self.reader.consume(500, timeout=OBSERVE_S):
            if msg.error() is not None:
                continue
            ident = lab_id(msg.value())
            if ident is None or ident not in self.positions:
                self._fail(f"{self.name} wrote an output record without an input record's id "
                           f"(partition {msg.partition()}, offset {msg.offset()}, value "
                           f"{(msg.value() or b'')[:60]!r}).",
                           "Write, for each input record, one output record whose value is the "
                           "input record's value copied, or JSON with its \"id\" field "
                           "(docs/CHECK.md).")
                return got
            self.seen[ident] = self.seen.get(ident, 0) + 1
            self.observed.append((ident, time.time()))
            got = True
        return got

    def stakes(self, committed: dict[int, int]) -> dict[str, list[str]]:
        written = sorted(i for i in self.seen if self.positions[i][1] >= committed.get(self.positions[i][0], 0))
        skipped = sorted(i for p, rows in self.by_partition.items()
                         for o, i in rows if o < committed.get(p, 0) and i not in self.seen)
        return {"committed_unprocessed": skipped, "processed_uncommitted": written}

    # --- acting ----------------------------------------------------------------------------------
    def _current(self, ledger: Ledger) -> tuple[int, int, float] | None:
        """The running program: its pid, its start's number and when it began (monotonic)."""
        row = ledger.conn.execute("SELECT pid, worker, t FROM events WHERE kind IN (?, ?) "
                                  "ORDER BY rowid DESC LIMIT 1", (START, RESTART)).fetchone()
        if row is None:
            return None
        try:
            if psutil.Process(row[0]).status() == psutil.STATUS_ZOMBIE:
                return None
        except psutil.Error:
            return None
        return int(row[0]), int(row[1]), time.monotonic() - (time.time() - float(row[2]))

    def _kill_program(self, ledger: Ledger, pid: int, window: Window | None,
                      target: Window | None, committed: dict[int, int],
                      stakes: dict[str, list[str]]) -> None:
        self.fired += 1
        ledger.event(CRASH, -1, pid, json.dumps({
            "n": self.fired, "point": point_name(window) if window else "in-flight",
            "after": None, "before": None, "where": WHERE[window] if window else WORKING,
            "planned": list(target) if target else None, "handed_out": len(self.seen),
            "observed": True, "working": True, "commits_known": True, "in_hand": [], **stakes}))
        kill_tree(pid)
        # What the dead process sent just before it died still reaches the log and the group:
        # output seen now was written but not committed at the kill (its restart writes it
        # again); an offset committed now with no output was committed before the work.
        until = time.monotonic() + AFTERMATH_S
        while time.monotonic() < until:
            self._read_output()
        now = self.stakes(self.lag.committed(timeout=1.0) or committed)
        late = {k: sorted(set(now[k]) - set(stakes[k])) for k in now}
        late["processed_uncommitted"] = sorted(set(self.stakes(committed)["processed_uncommitted"])
                                               - set(stakes["processed_uncommitted"]))
        if any(late.values()):
            ledger.event(AFTERMATH, -1, pid, json.dumps({"n": self.fired, **late}))

    def _end_program(self, ledger: Ledger, pid: int) -> None:
        ledger.event(STOP, -1, pid, json.dumps({"reason": "no lag, output quiet"}))
        kill_tree(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        while time.monotonic() < deadline and psutil.pid_exists(pid):
            try:
                if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                    return
            except psutil.Error:
                return
            time.sleep(0.05)
        kill_tree(pid)

    def _fail(self, problem: str, fix: str) -> None:
        self.error = LabError(problem, fix)
        self.abort.set()

    def run(self) -> None:
        ledger = Ledger(self.ledger_path)
        try:
            # Warm before the program starts (its first records come within a second): the
            # output's metadata, a first fetch and the group's coordinator are found already.
            self.reader.list_topics(self.output, timeout=5)
            self.reader.assign([TopicPartition(self.output, p, OFFSET_BEGINNING)
                                for p in range(self.partitions)])
            self._read_output()
            self.lag.committed(timeout=5.0)
            self.ready.set()
            killed: int | None = None
            stopped: int | None = None
            last_output = time.monotonic()
            last_left = None
            while not self.halt.is_set() and not self.abort.is_set():
                if self._read_output():
                    last_output = self.progress_at = time.monotonic()
                if self.abort.is_set():
                    return
                committed = self.lag.committed(timeout=1.0)
                current = self._current(ledger)
                if committed is None or current is None:
                    continue
                pid, worker, started = current
                left = self.lag.left(committed)
                if left != last_left:
                    last_left, self.progress_at = left, time.monotonic()
                if pid in (killed, stopped):
                    continue
                if left == 0 and time.monotonic() - last_output > QUIET_S:
                    stopped = pid
                    self._end_program(ledger, pid)
                    continue
                if time.monotonic() - max(self.progress_at, started) > self.stall_s:
                    self._fail(f"{self.name} ran {self.stall_s:.0f} s without writing an output "
                               f"record or committing an offset{last_line(self.log_for(worker))}.",
                               "It must consume INPUT_TOPIC from KAFKA_BOOTSTRAP_SERVERS as "
                               "member of GROUP_ID, commit its offsets there and write one "
                               "record per input record to OUTPUT_TOPIC (docs/CHECK.md).")
                    return
                stakes = self.stakes(committed)
                if stakes["committed_unprocessed"] and self._read_output():
                    stakes = self.stakes(committed)  # the output was on its way: look again
                window = COMMITTED if stakes["committed_unprocessed"] else \
                    WRITTEN if stakes["processed_uncommitted"] else None
                if self.progress_at < started:
                    continue  # this start has not done anything yet: what is at stake is its
                    # predecessor's, and a kill now would only strike a process starting up
                working = left > 0 and time.monotonic() - self.progress_at < WORKING_S
                if window is not None:
                    self.windows.add(window)
                elif not working:
                    continue
                if self.fired >= len(self.thresholds) or len(self.seen) < self.thresholds[self.fired]:
                    continue
                # A fast program's whole input may pass in a few observations: strike at the
                # first one that shows it in flight once the crash is armed.
                self._kill_program(ledger, pid, window, self.plan.window(self.fired, sorted(self.windows)),
                                   committed, stakes)
                killed = pid
        except Exception as exc:  # surfaced by the check after the run
            self._fail(f"The check's watcher failed: {exc}", "Check `deliverylab cluster status`.")
        finally:
            ledger.close()

    def stop(self) -> None:
        self.halt.set()
        self.join(30)
        self.reader.close()


__all__ = ["Watcher"]

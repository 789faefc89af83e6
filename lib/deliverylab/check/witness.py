"""The lab's eye inside the process under check: the learner's calls, what is at stake between
them, and the crash that strikes there.

The instrumented clients (check/clients.py) tell the witness before each call (`before`) and
after it returns (`after`). Between two calls the witness knows, from what the calls did:

- in hand: input records handed out by poll()/consume() and not yet processed (or produced);
- committed but not processed: in hand, below an offset the loop has committed;
- processed but not committed: processed at or above the committed offset of its partition;
- in the open transaction: produced (or offsets sent) since begin_transaction().

A gap between two calls is a *window*; one where something is at stake may be struck. When the
plan's next crash is armed (check/schedule.py) and the window is its target, the witness writes
the crash to the ledger — which call came last, which came next, and the ids of each set above —
and the process SIGKILLs itself before the next call reaches librdkafka.
"""
from __future__ import annotations

import os
import signal
import time
from typing import Any, Callable, Iterable

from .schedule import PATIENCE_CALLS, CrashPlan, Window, point_name


class Witness:
    def __init__(self, plan: CrashPlan, fired: int, handed_before: Iterable[str],
                 record_crash: Callable[[dict[str, Any]], None]) -> None:
        self.plan = plan
        self.thresholds = plan.thresholds()
        self.fired = fired  # crashes already struck, by earlier incarnations
        self.handed_ever: set[str] = set(handed_before)
        self.record_crash = record_crash
        self.last: str | None = None  # the last call that did something
        self.windows: set[Window] = set()
        self.calls_armed = 0
        # id -> (partition, offset)
        self.in_hand: dict[str, tuple[int, int]] = {}
        self.processed: dict[str, tuple[int, int]] = {}  # this incarnation, not yet committed
        self.in_txn: dict[str, tuple[int, int]] = {}
        self.committed: dict[int, int] = {}  # partition -> committed offset (next to read)
        self.committing_known = True  # False under auto-commit: commits the loop cannot see

    # --- what the calls did ------------------------------------------------------------------
    def handed_out(self, records: Iterable[tuple[str, int, int]]) -> None:
        for msg_id, p, o in records:
            self.in_hand[msg_id] = (p, o)
            self.handed_ever.add(msg_id)

    def done_with(self, msg_id: str, transactional: bool = False) -> None:
        """The record's work was done: processed (its effect written) or produced in the open
        transaction."""
        where = self.in_hand.pop(msg_id, None)
        if where is None:
            return
        if transactional:
            self.in_txn[msg_id] = where
        elif where[1] >= self.committed.get(where[0], -1):
            self.processed[msg_id] = where

    def committed_to(self, offsets: dict[int, int]) -> None:
        for p, o in offsets.items():
            self.committed[p] = o
        self.processed = {m: (p, o) for m, (p, o) in self.processed.items()
                          if o >= self.committed.get(p, -1)}

    def transaction_ended(self, committed: bool, offsets: dict[int, int]) -> None:
        if committed:
            self.committed_to(offsets)
            # Output committed, input offsets not (committed outside the transaction, or not
            # at all): processed but not committed, as in a loop without transactions.
            self.processed.update({m: (p, o) for m, (p, o) in self.in_txn.items()
                                   if o >= self.committed.get(p, -1)})
        else:  # aborted: its records never reach a read_committed reader; they are to do again
            self.in_hand.update(self.in_txn)
        self.in_txn = {}

    # --- the sets a crash report names ---------------------------------------------------------
    def committed_unprocessed(self) -> list[str]:
        """In hand (or only in the open transaction) below an offset already committed."""
        return sorted(m for m, (p, o) in {**self.in_hand, **self.in_txn}.items()
                      if o < self.committed.get(p, -1))

    def at_stake(self) -> bool:
        return bool(self.in_hand or self.processed or self.in_txn)

    def stakes(self) -> dict[str, Any]:
        return {"in_hand": sorted(self.in_hand), "committed_unprocessed": self.committed_unprocessed(),
                "processed_uncommitted": sorted(self.processed), "in_transaction": sorted(self.in_txn),
                "commits_known": self.committing_known}

    # --- the strike --------------------------------------------------------------------------
    def armed(self) -> bool:
        return self.fired < len(self.thresholds) and \
            len(self.handed_ever) >= self.thresholds[self.fired]

    def before(self, call: str) -> None:
        """Called just before the learner's `call` reaches librdkafka (or the lab's process)."""
        if self.last is None or not self.at_stake():
            return
        window = (self.last, call)
        self.windows.add(window)
        if not self.armed():
            return
        self.calls_armed += 1
        target = self.plan.window(self.fired, sorted(self.windows))
        if window == target or self.calls_armed > PATIENCE_CALLS:
            self.strike(window, target)

    def after(self, call: str, did_something: bool = True) -> None:
        """`call` returned; a poll that returned nothing leaves the last call as it was."""
        if did_something:
            self.last = call

    def strike(self, window: Window, target: Window | None) -> None:
        self.record_crash({"n": self.fired + 1, "point": point_name(window), "after": window[0],
                           "before": window[1], "planned": list(target) if target else None,
                           "handed_out": len(self.handed_ever), **self.stakes()})
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(10)  # never reached: SIGKILL cannot be caught


__all__ = ["Witness"]

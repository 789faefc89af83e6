"""Scenario 2 made deterministic: "commit sent, crash before the response".

The worker and the run's coordinator nemesis (deliverylab.coordinator) take turns through the
ledger. At the scheduled commit the worker says it is ready (`s2-ready`), waits until the group
coordinator is paused (`s2-paused`), sends the commit (its connection to the coordinator is up:
earlier commits used it), waits until the request has left, and dies. The nemesis then resumes
the coordinator (the commit is applied) or kills it (the commit is lost) and, once the
coordinator's answer is settled, says so (`s2-settled`); only then does the restarted worker
ask for its committed offsets, and it records what it got (`s2-resumed`).
"""
from __future__ import annotations

import json
import os
import time
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from ..errors import LabError
from ..vocabulary import CRASH, S2_PAUSED, S2_READY, S2_RESUMED, S2_SETTLED

SEND_WAIT_S = 0.3  # the request is written to the coordinator's socket by librdkafka's broker thread


def active(spec: dict[str, Any]) -> bool:
    return str(spec.get("scenario") or "").startswith("scenario-2")


def wait_for(ctx: Any, kind: str, timeout_s: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        row = ctx.ledger.conn.execute(
            "SELECT detail FROM events WHERE kind = ? ORDER BY t DESC LIMIT 1", (kind,)).fetchone()
        if row:
            return json.loads(row[0]) if row[0] else {}
        time.sleep(0.01)
    raise LabError(f"Scenario 2: no {kind!r} from the coordinator nemesis within {timeout_s:.0f} s.",
                   "Check `deliverylab cluster status`; the run's ledger has the events so far.")


def send_and_die(consumer: Consumer, ctx: Any, offsets: dict[int, int], indices: list[int]) -> None:
    """The commit leaves for a paused coordinator; the worker dies before any answer."""
    ctx.ledger.event(S2_READY, ctx.worker, os.getpid(), json.dumps({"offsets": offsets}))
    wait_for(ctx, S2_PAUSED)
    tps = [TopicPartition(ctx.spec["topic"], p, o) for p, o in offsets.items()]
    consumer.commit(offsets=tps, asynchronous=True)
    time.sleep(SEND_WAIT_S)
    ctx.crash.hit("commit-in-flight", indices)


def settled_then_resume(ctx: Any) -> None:
    """A restart after the Scenario-2 crash waits until the coordinator's answer is settled, so
    its committed() shows the outcome and not a race with the paused coordinator."""
    crashed = ctx.ledger.conn.execute("SELECT 1 FROM events WHERE kind = ?", (CRASH,)).fetchone()
    if crashed:
        wait_for(ctx, S2_SETTLED)


def record_resume(ctx: Any, committed: list[TopicPartition]) -> None:
    if not ctx.ledger.conn.execute("SELECT 1 FROM events WHERE kind = ?", (CRASH,)).fetchone():
        return
    if ctx.ledger.conn.execute("SELECT 1 FROM events WHERE kind = ?", (S2_RESUMED,)).fetchone():
        return
    ctx.ledger.event(S2_RESUMED, ctx.worker, os.getpid(), json.dumps(
        {"committed": {t.partition: t.offset for t in committed}}))

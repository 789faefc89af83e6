"""At-least-once: process, then commit. A crash between the two replays the uncommitted tail."""
from __future__ import annotations

import time

from .common import (EndOfInput, WorkerContext, check_message, commit_in_flight, commit_offsets,
                     decode, new_consumer, process)
from .membership import commit_or_forget, membership


# Parallel to the other models' loops on purpose (see workers/__init__.py): the
# order of poll, process and commit is the lesson, shown as it runs.
def run(ctx: WorkerContext) -> None:
    spec = ctx.spec
    store = ctx.store()
    consumer = new_consumer(ctx)
    end = EndOfInput(spec["partitions"], consumer)
    every, interval_ms = spec.get("commit_every"), spec.get("commit_interval_ms")
    pending: dict[int, int] = {}  # partition -> next offset to commit
    pending_indices: list[int] = []
    last_commit = time.monotonic()
    group = membership(consumer)  # None in assign mode
    if group:  # partitions taken away: commit their tail (commit-on-revoke) or forget it
        group.on_revoke = commit_or_forget(consumer, ctx, pending, commit_offsets)
        group.on_lost = lambda going: [pending.pop(p, None) for p in going]  # too late to commit

    while not end.done and not ctx.deadline_passed():
        msg = check_message(consumer.poll(0.5))
        if msg is None or end.saw(msg):
            continue
        record = decode(msg)
        ctx.crash.hit("after-poll", record["index"])
        process(ctx, store, msg, record)
        ctx.crash.hit("after-process", record["index"])
        pending[msg.partition()] = msg.offset() + 1
        pending_indices.append(record["index"])

        due_by_count = bool(every) and len(pending_indices) >= every
        due_by_time = bool(interval_ms) and (time.monotonic() - last_commit) * 1000 >= interval_ms
        if due_by_count or due_by_time:
            commit_in_flight(consumer, ctx, pending, pending_indices)
            commit_offsets(consumer, ctx, pending)
            ctx.crash.hit("after-commit", pending_indices)
            pending.clear()
            pending_indices, last_commit = [], time.monotonic()
        if end.group and end.group.leave_due(bool(pending)):
            break  # scale-in: this member leaves; close() revokes its partitions

    if not (end.group and end.group.left):
        commit_offsets(consumer, ctx, pending)  # a clean shutdown commits what it processed
        pending.clear()
    consumer.close()

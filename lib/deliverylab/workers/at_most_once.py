"""At-most-once: commit, then process. A crash between the two loses the committed messages.
A batch is processed only after the broker confirmed its commit: a loop that processes after a
failed commit (a common shortcut) can process a batch twice when it crashes later."""
from __future__ import annotations

from .common import (EndOfInput, WorkerContext, check_message, commit_in_flight, commit_offsets,
                     decode, new_consumer, process)
from .membership import membership, stall_if_due


# Parallel to the other models' loops on purpose (see workers/__init__.py): the
# order of poll, process and commit is the lesson, shown as it runs.
def run(ctx: WorkerContext) -> None:
    spec = ctx.spec
    store = ctx.store()
    consumer = new_consumer(ctx)
    end = EndOfInput(spec["partitions"], consumer)
    batch_size = spec.get("commit_every") or 1
    group = membership(consumer)  # None in assign mode

    while not end.done and not ctx.deadline_passed():
        batch = [m for m in map(check_message, consumer.consume(batch_size, timeout=0.5))
                 if m is not None and not end.saw(m)]
        if not batch:
            continue
        records = [decode(m) for m in batch]
        indices = [r["index"] for r in records]
        ctx.crash.hit("after-poll", indices)
        member_id = consumer.memberid() if group else None

        offsets = {m.partition(): m.offset() + 1 for m in batch}
        commit_in_flight(consumer, ctx, offsets, indices)
        if not commit_offsets(consumer, ctx, offsets):  # committed before anything is processed
            # Not confirmed: processing now could repeat this batch after a crash (a restart
            # would begin before it). At-most-once skips it instead: never twice, maybe never.
            continue
        # Too slow (a group lesson): the batch's slow work starts before any of its records is
        # done, so a member thrown out meanwhile loses the whole committed batch, not only the
        # records after the slow one (none, when the slow one was last: the lesson by chance).
        stall_if_due(ctx, indices)

        for msg, record in zip(batch, records):
            if group and consumer.memberid() != member_id:
                break  # thrown out of the group (too slow for max.poll.interval.ms): the rest is
                # no longer ours, and its new owner starts after the offsets committed above
            ctx.crash.hit("after-commit", record["index"])
            process(ctx, store, msg, record)
            ctx.crash.hit("after-process", record["index"])

    consumer.close()

"""Auto-commit: what many applications run with. librdkafka stores each offset when poll()
returns the message and commits the stored offsets in the background every
auto.commit.interval.ms — neither before nor after processing, but whenever the timer fires."""
from __future__ import annotations

from .common import EndOfInput, WorkerContext, check_message, decode, new_consumer, process


def run(ctx: WorkerContext) -> None:
    spec = ctx.spec
    store = ctx.store()
    consumer = new_consumer(ctx, **{"enable.auto.commit": True,
                                    "auto.commit.interval.ms": spec.get("auto_commit_interval_ms", 1000)})
    end = EndOfInput(spec["partitions"], consumer)

    while not end.done and not ctx.deadline_passed():
        msg = check_message(consumer.poll(0.5))
        if msg is None or end.saw(msg):
            continue
        record = decode(msg)
        ctx.crash.hit("after-poll", record["index"])
        process(ctx, store, msg, record)
        ctx.crash.hit("after-process", record["index"])

    consumer.close()  # close() commits the stored offsets one last time

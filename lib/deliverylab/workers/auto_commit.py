"""Auto-commit, the way librdkafka (and so Confluent.Kafka) does it, in two variants.

`auto-commit` is what many applications run with: librdkafka *stores* each offset when poll()
hands the record out (enable.auto.offset.store=true) and a background timer *commits* the stored
offsets every auto.commit.interval.ms — neither before nor after processing, but whenever the
timer fires, even while the application is still working on the record. A crash then repeats
what was processed since the last tick (duplicates), and a tick during the work on a record
commits that record before it was done (a crash before it finishes loses it).

`auto-commit-store` is the pattern Confluent recommends with auto-commit: turn the automatic
store off (enable.auto.offset.store=false) and store each offset yourself after processing
(store_offsets(message=msg); StoreOffset(result) in .NET). The timer then commits only what was
processed: at-least-once, with the commit left to the timer.

(The Java consumer differs: it commits inside poll(), so nothing is committed while a record is
being processed; a tick can never run ahead of the work there.)
"""
from __future__ import annotations

from .common import EndOfInput, WorkerContext, check_message, decode, new_consumer, process


def run(ctx: WorkerContext) -> None:
    spec = ctx.spec
    store = ctx.store()
    consumer = new_consumer(ctx, **{"enable.auto.commit": True,
                                    "auto.commit.interval.ms": spec.get("auto_commit_interval_ms", 1000)})
    end = EndOfInput(spec["partitions"], consumer)

    while not end.done and not ctx.deadline_passed():
        msg = check_message(consumer.poll(0.5))  # returns the record AND stores its offset + 1
        if msg is None or end.saw(msg):
            continue
        record = decode(msg)
        ctx.crash.hit("after-poll", record["index"])
        process(ctx, store, msg, record)  # crash point mid-process: the work ran, no effect yet
        ctx.crash.hit("after-process", record["index"])

    consumer.close()  # close() commits the stored offsets one last time


# Parallel to the other models' loops on purpose (see workers/__init__.py): the
# order of poll, process and commit is the lesson, shown as it runs.
def run_store(ctx: WorkerContext) -> None:
    spec = ctx.spec
    store = ctx.store()
    consumer = new_consumer(ctx, **{"enable.auto.commit": True,
                                    "auto.commit.interval.ms": spec.get("auto_commit_interval_ms", 1000),
                                    "enable.auto.offset.store": False})
    end = EndOfInput(spec["partitions"], consumer)

    while not end.done and not ctx.deadline_passed():
        msg = check_message(consumer.poll(0.5))  # returns the record; stores nothing
        if msg is None or end.saw(msg):
            continue
        record = decode(msg)
        ctx.crash.hit("after-poll", record["index"])
        process(ctx, store, msg, record)  # crash point mid-process: the work ran, no effect yet
        ctx.crash.hit("after-process", record["index"])
        consumer.store_offsets(message=msg)  # only now may the timer commit offset + 1

    consumer.close()  # close() commits the stored offsets one last time

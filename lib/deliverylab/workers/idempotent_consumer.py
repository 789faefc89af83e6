"""Idempotent consumer: the effect and the next offset go into the database in ONE transaction,
and on start the consumer seeks to the offset the database holds. Kafka's committed offset is
then only for monitoring (consumer lag); a crash anywhere neither loses nor duplicates an effect.
With `dedupe` it also skips a record whose message id the store already holds: a message its
producer sent twice sits at two offsets, and only its id tells the second copy apart.
"""
from __future__ import annotations

import time

from confluent_kafka import OFFSET_BEGINNING, TopicPartition

from .common import (EndOfInput, WorkerContext, check_message, commit_in_flight, commit_offsets,
                     decode, new_consumer)
from .membership import membership


def _stored_offsets(store, topic: str) -> dict[int, int]:
    return dict(store.conn.execute(
        "SELECT partition, next_offset FROM offsets WHERE topic = ?", (topic,)).fetchall())


# Parallel to the other models' loops on purpose (see workers/__init__.py): the
# order of poll, process and commit is the lesson, shown as it runs.
def run(ctx: WorkerContext) -> None:
    spec = ctx.spec
    topic = spec["topic"]
    store = ctx.store()
    consumer = new_consumer(ctx)
    group = membership(consumer)
    if group:  # each partition the group assigns starts where the database says
        group.start_offsets = lambda: _stored_offsets(store, topic)
    else:
        stored = _stored_offsets(store, topic)
        consumer.assign([TopicPartition(topic, p, stored.get(p, OFFSET_BEGINNING))
                         for p in range(spec["partitions"])])
    end = EndOfInput(spec["partitions"], consumer)
    every = spec.get("commit_every") or 10
    dedupe = spec.get("dedupe", False)  # skip a message id the store already holds
    pending: dict[int, int] = {}
    pending_indices: list[int] = []

    while not end.done and not ctx.deadline_passed():
        msg = check_message(consumer.poll(0.5))
        if msg is None or end.saw(msg):
            continue
        record = decode(msg)
        ctx.crash.hit("after-poll", record["index"])
        if spec.get("processing_ms"):  # the work, before its effect is written
            time.sleep(spec["processing_ms"] / 1000)

        store.conn.execute("BEGIN IMMEDIATE")
        # dedupe: a message its producer sent twice (an application resend) is at a new offset,
        # so the offset alone does not catch it; its message id does.
        seen = dedupe and store.conn.execute(
            "SELECT 1 FROM effects WHERE msg_id = ?", (record["id"],)).fetchone()
        if not seen:
            store.conn.execute(
                'INSERT INTO effects (msg_id, key, seq, topic, partition, "offset", worker, t) '
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (record["id"], record["key"], record["seq"], topic, msg.partition(), msg.offset(),
                 ctx.worker, time.time()))
        ctx.crash.hit("mid-transaction", record["index"])  # effect written, not yet committed
        store.conn.execute(
            "INSERT INTO offsets VALUES (?, ?, ?) ON CONFLICT(topic, partition) "
            "DO UPDATE SET next_offset = excluded.next_offset",
            (topic, msg.partition(), msg.offset() + 1))
        store.conn.execute("COMMIT")
        ctx.crash.hit("after-process", record["index"])

        pending[msg.partition()] = msg.offset() + 1
        pending_indices.append(record["index"])
        if len(pending_indices) >= every:  # only for lag monitoring: restarts ignore it
            commit_in_flight(consumer, ctx, pending, pending_indices)
            commit_offsets(consumer, ctx, pending)
            ctx.crash.hit("after-commit", pending_indices)
            pending, pending_indices = {}, []

    commit_offsets(consumer, ctx, pending)
    consumer.close()

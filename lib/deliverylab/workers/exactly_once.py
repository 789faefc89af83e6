"""Exactly-once: consume → transform → produce in a Kafka transaction, with the input offsets
sent to the same transaction. A crash aborts the open transaction; read_committed readers of
the output never see its records. The row this worker also writes to the learner's database is
a side effect OUTSIDE Kafka: the transaction does not cover it, and the lab counts it too.

A processing error (spec "abort_at": input indices whose transform fails, once each) aborts the
transaction and the loop carries on. abort_transaction() does not move the consumer back
(KAFKA-17582): unless the loop rewinds to the committed offsets (spec "rewind", librdkafka's
INTRODUCTION.md), the aborted batch is never copied — lost, in an "exactly-once" loop.
"""
from __future__ import annotations

import json
import os

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from ..clients import fetch_committed
from ..ids import member_of, value_of
from ..topics import transactional_id
from ..vocabulary import ABORT
from .common import (EndOfInput, WorkerContext, check_message, decode, fail, new_consumer,
                     prime_metadata, process)


class ProcessingError(Exception):
    """The application could not process this record (a bad payload, a service down)."""


def transform(record: dict, failing: set[int] = frozenset()) -> bytes:
    if record["index"] in failing:
        failing.discard(record["index"])  # fails once: the retry after a rewind succeeds
        raise ProcessingError(f"input {record['index']}")
    return value_of({**record, "processed": True})


def rewind(consumer: Consumer) -> list[int]:
    """Seek every assigned partition back to the group's committed offset (librdkafka's
    INTRODUCTION.md: after an abort, rewind the input to where the transaction began)."""
    committed = fetch_committed(consumer, consumer.assignment(), 30)
    if committed is None:
        fail("the group coordinator gave no committed offsets to rewind to within 30 s")
    for tp in committed:
        consumer.seek(TopicPartition(tp.topic, tp.partition,
                                     tp.offset if tp.offset >= 0 else OFFSET_BEGINNING))
    return [tp.partition for tp in committed]


# Parallel to the other models' loops on purpose (see workers/__init__.py): the
# order of poll, process and commit is the lesson, shown as it runs.
def run(ctx: WorkerContext) -> None:
    spec = ctx.spec
    store = ctx.store()
    txn_id = spec["transactional_id"]  # one per group member: the group metadata fences zombies
    if spec.get("membership") == "group":
        txn_id = transactional_id(spec["topic"], member_of(ctx.worker))
    # retry.backoff.ms: right after a commit the coordinator is still writing that transaction's
    # markers, and answers the next send_offsets_to_transaction() "CONCURRENT_TRANSACTIONS";
    # librdkafka asks again after retry.backoff.ms (default 100 ms), so 10 ms saves most of that
    # wait on a local cluster (measured once on Kafka 4.1.1: send_offsets 103-115 ms at the
    # default, 41 ms at 10 ms, while the lab was built). This notebook does not time the two.
    producer = Producer(ctx.client(**{"transactional.id": txn_id, "retry.backoff.ms": 10,
                                      **spec.get("producer_config", {})}))
    # Fences an earlier incarnation with this transactional.id (a zombie) and aborts the
    # transaction it left open — before the consumer asks for committed offsets, which stay
    # "unstable" while that transaction is pending.
    prime_metadata(producer, spec["output_topic"])  # a broker connection first: else librdkafka
    # finds no broker to ask for its coordinator and retries only after a fixed 500 ms
    producer.init_transactions(30)
    consumer = new_consumer(ctx, **{"isolation.level": "read_committed"})
    ctx.before_crash = lambda: producer.flush(5)  # "mid-transaction": its records are in the log
    end = EndOfInput(spec["partitions"], consumer)
    size = spec.get("transaction_size") or 10
    failing = set(spec.get("abort_at") or ())  # input records whose processing fails once

    while not end.done and not ctx.deadline_passed():
        batch = [m for m in map(check_message, consumer.consume(size, timeout=0.5))
                 if m is not None and not end.saw(m)]
        if not batch:
            continue
        records = [decode(m) for m in batch]
        indices = [r["index"] for r in records]
        ctx.crash.hit("after-poll", indices)

        producer.begin_transaction()
        try:
            for msg, record in zip(batch, records):
                producer.produce(spec["output_topic"], key=msg.key(), value=transform(record, failing))
                process(ctx, store, msg, record)
                ctx.crash.hit("mid-transaction", record["index"])
        except ProcessingError as exc:  # this batch failed; the producer itself is fine
            producer.abort_transaction(30)  # the consumer's position stays past the batch
            if spec.get("rewind", True):
                end.rewound(rewind(consumer))  # back to the committed offsets: the batch again
            ctx.ledger.event(ABORT, ctx.worker, os.getpid(),
                             json.dumps({"error": str(exc), "rewind": spec.get("rewind", True),
                                         "batch": indices}))
            continue
        offsets = {m.partition(): m.offset() + 1 for m in batch}
        producer.send_offsets_to_transaction(
            [TopicPartition(spec["topic"], p, o) for p, o in offsets.items()],
            consumer.consumer_group_metadata(), 30)
        ctx.crash.hit("before-commit-transaction", indices)
        producer.commit_transaction(30)
        for p, o in offsets.items():
            ctx.ledger.commit(ctx.worker, spec["topic"], p, o, True)
        ctx.crash.hit("after-commit", indices)

    consumer.close()

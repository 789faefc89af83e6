"""Writes the experiment's input: N messages with a unique id, a key, a per-key sequence number
and a payment payload. Idempotent with acks=all, so the input itself is exactly what was sent."""
from __future__ import annotations

import sys
import time

from confluent_kafka import Producer

from ..clients import RELIABLE_PRODUCER, poll_until, produce
from ..ids import id_of_value, record, value_for
from ..payloads import payment_for
from .common import WorkerContext, prime_metadata


def run(ctx: WorkerContext) -> None:
    spec = ctx.spec
    # input_batch: records per producer batch (librdkafka batch.num.messages). Unset, the whole
    # input goes in a few large batches — and a share-group member acquires whole batches.
    # A paced input (input_rate: the lagging-consumer runs) goes one record per batch: a fetch
    # returns at least one whole batch, so a batch that grew while acks were slow (a busy machine)
    # would land in a small fetch queue at once, and retention would find nothing unread to delete.
    batch = {"batch.num.messages": spec["input_batch"]} if spec.get("input_batch") else \
        {"batch.num.messages": 1} if spec.get("input_rate") else {}
    producer = Producer(ctx.client(**RELIABLE_PRODUCER, **batch))
    prime_metadata(producer, spec["topic"])  # else its producer id comes on a 500 ms timer
    records = [record(i, spec["keys"]) for i in range(spec["messages"])]
    ctx.ledger.sends((r["id"], r["key"], r["seq"], spec["topic"]) for r in records)
    reports: list[tuple] = []

    def on_delivery(err, msg):
        reports.append((id_of_value(msg.value()), msg.topic(), msg.partition(), msg.offset() if err is None else -1,
                        None if err is None else err.name(), 0.0))

    carried = spec.get("input_payments")  # the story's charging stage: what the checkout stored
    rate, t0 = spec.get("input_rate") or 0, time.monotonic()
    for rec in records:
        if rate:  # spread over time, so a small segment.ms rolls segments meanwhile
            poll_until(producer, t0 + rec["index"] / rate)
        payment = payment_for(carried[rec["index"]] if carried else rec["index"])
        produce(producer, spec["topic"], rec["key"].encode(),
                value_for(rec["index"], spec["keys"], payment), on_delivery)
        producer.poll(0)
    left = producer.flush(60)
    ctx.ledger.acks(reports)
    failed = [r for r in reports if r[4] is not None]
    if left or failed:
        print(f"input producer: {left} undelivered, {len(failed)} failed "
              f"({failed[0][4] if failed else ''})", file=sys.stderr)
        sys.exit(5)

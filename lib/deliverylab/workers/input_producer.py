"""Writes the experiment's input: N messages with a unique id, a key, a per-key sequence number
and a payment payload. Idempotent with acks=all, so the input itself is exactly what was sent."""
from __future__ import annotations

import sys

from confluent_kafka import Producer

from ..clients import RELIABLE_PRODUCER, produce
from ..ids import id_of_value, key_for, msg_id, seq_for
from ..payloads import payment_for
from .common import WorkerContext, prime_metadata


def message(index: int, keys: int) -> dict:
    return {"id": msg_id(index), "index": index, "key": key_for(index, keys),
            "seq": seq_for(index, keys)}


def encode(record: dict, payment: bytes) -> bytes:
    """The record as JSON with the payment embedded; built by hand because json.dumps per
    message would make the lab's producer several times slower than a bare client loop.
    The id comes first: `ids.id_of_value` reads it back from there."""
    return (f'{{"id":"{record["id"]}","index":{record["index"]},"key":"{record["key"]}",'
            f'"seq":{record["seq"]},"payment":').encode() + payment + b"}"


def run(ctx: WorkerContext) -> None:
    spec = ctx.spec
    # input_batch: records per producer batch (librdkafka batch.num.messages). Unset, the whole
    # input goes in a few large batches — and a share-group member acquires whole batches.
    batch = {"batch.num.messages": spec["input_batch"]} if spec.get("input_batch") else {}
    producer = Producer(ctx.client(**RELIABLE_PRODUCER, **batch))
    prime_metadata(producer, spec["topic"])  # else its producer id comes on a 500 ms timer
    records = [message(i, spec["keys"]) for i in range(spec["messages"])]
    ctx.ledger.sends((r["id"], r["key"], r["seq"], spec["topic"]) for r in records)
    reports: list[tuple] = []

    def on_delivery(err, msg):
        reports.append((id_of_value(msg.value()), msg.topic(), msg.partition(), msg.offset() if err is None else -1,
                        None if err is None else err.name(), 0.0))

    for rec in records:
        produce(producer, spec["topic"], rec["key"].encode(), encode(rec, payment_for(rec["index"])),
                on_delivery)
        producer.poll(0)
    left = producer.flush(60)
    ctx.ledger.acks(reports)
    failed = [r for r in reports if r[4] is not None]
    if left or failed:
        print(f"input producer: {left} undelivered, {len(failed)} failed "
              f"({failed[0][4] if failed else ''})", file=sys.stderr)
        sys.exit(5)

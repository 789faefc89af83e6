"""Writes the experiment's input: N messages with a unique id, a key, a per-key sequence number
and a payment payload. Idempotent with acks=all, so the input itself is exactly what was sent."""
from __future__ import annotations

import sys

from confluent_kafka import Producer

from ..payloads import payment_for
from .common import WorkerContext


def message(index: int, keys: int) -> dict:
    return {"id": f"m{index:06d}", "index": index, "key": f"customer-{index % keys:03d}",
            "seq": index // keys}


def encode(record: dict, payment: bytes) -> bytes:
    """The record as JSON with the payment embedded; built by hand because json.dumps per
    message would make the lab's producer several times slower than a bare client loop."""
    return (f'{{"id":"{record["id"]}","index":{record["index"]},"key":"{record["key"]}",'
            f'"seq":{record["seq"]},"payment":').encode() + payment + b"}"


def message_id(value: bytes) -> str:
    """The id from an encoded record without parsing it: it is always the first field."""
    return value[7:14].decode()


def run(ctx: WorkerContext) -> None:
    spec = ctx.spec
    producer = Producer(ctx.client(**{"enable.idempotence": True, "acks": "all", "linger.ms": 5}))
    records = [message(i, spec["keys"]) for i in range(spec["messages"])]
    ctx.ledger.sends((r["id"], r["key"], r["seq"], spec["topic"]) for r in records)
    reports: list[tuple] = []

    def on_delivery(err, msg):
        reports.append((message_id(msg.value()), msg.topic(), msg.partition(), msg.offset() if err is None else -1,
                        None if err is None else err.name(), 0.0))

    for rec in records:
        value = encode(rec, payment_for(rec["index"]))
        while True:
            try:
                producer.produce(spec["topic"], key=rec["key"].encode(), value=value,
                                 on_delivery=on_delivery)
                break
            except BufferError:  # local queue full: serve delivery reports, then try again
                producer.poll(0.1)
        producer.poll(0)
    left = producer.flush(60)
    ctx.ledger.acks(reports)
    failed = [r for r in reports if r[4] is not None]
    if left or failed:
        print(f"input producer: {left} undelivered, {len(failed)} failed "
              f"({failed[0][4] if failed else ''})", file=sys.stderr)
        sys.exit(5)

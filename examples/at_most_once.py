"""A consumer app that commits before it works: at-most-once. Claimed at-least-once, the check
catches it losing records (a crash after the commit and before the output skips them).

    deliverylab check --claim at-least-once --crashes 8 -- python examples/at_most_once.py
"""
import argparse
import json
import os
import time

from confluent_kafka import Consumer, KafkaError, Producer

parser = argparse.ArgumentParser()
parser.add_argument("--processing-ms", type=float, default=5.0, help="work per record")
parser.add_argument("--batch", type=int, default=10, help="records per commit")
args = parser.parse_args()

settings = json.loads(os.environ.get("KAFKA_CLIENT_CONFIG_JSON", "{}"))
settings["bootstrap.servers"] = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
consumer = Consumer({**settings, "group.id": os.environ["GROUP_ID"],
                     "group.instance.id": os.environ["GROUP_ID"] + "-app",
                     # Its session: 6 s after the last run ends, the member is gone and the
                     # group can be deleted.
                     "session.timeout.ms": 6000,
                     "auto.offset.reset": "earliest", "enable.auto.commit": False,
                     "enable.partition.eof": True})
producer = Producer({**settings, "acks": "all", "enable.idempotence": True})
consumer.subscribe([os.environ["INPUT_TOPIC"]])
output = os.environ["OUTPUT_TOPIC"]

at_end = set()
while True:
    msgs = consumer.consume(args.batch, timeout=1.0)
    records = [m for m in msgs if m.error() is None]
    for m in msgs:
        if m.error() is not None and m.error().code() == KafkaError._PARTITION_EOF:
            at_end.add(m.partition())
        elif m.error() is None:
            at_end.discard(m.partition())
    if records:
        consumer.commit(asynchronous=False)  # the bug: done before the work is
    for m in records:
        time.sleep(args.processing_ms / 1000)
        producer.produce(output, key=m.key(), value=m.value())
    producer.flush()
    if at_end and at_end >= {tp.partition for tp in consumer.assignment()}:
        break

consumer.close()

"""A consumer app that keeps the deliverylab check contract, correctly at-least-once.

It reads INPUT_TOPIC as member of GROUP_ID, writes each record's value to OUTPUT_TOPIC, waits
until the output is delivered (flush), and only then commits the input offsets. A crash between
the flush and the commit makes the restart write those records again: duplicates, never a loss.

    deliverylab check --claim at-least-once --crashes 8 -- python examples/at_least_once.py
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

settings = json.loads(os.environ.get("KAFKA_CLIENT_CONFIG_JSON", "{}"))  # SASL etc., if any
settings["bootstrap.servers"] = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
consumer = Consumer({**settings, "group.id": os.environ["GROUP_ID"],
                     # Static membership: a restart takes the dead member's place at once.
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
    for m in records:
        time.sleep(args.processing_ms / 1000)  # the work
        producer.produce(output, key=m.key(), value=m.value())
    if records:
        producer.flush()  # the output is written before the input counts as done
        consumer.commit(asynchronous=False)
    if at_end and at_end >= {tp.partition for tp in consumer.assignment()}:
        break  # caught up: the check starts us again if anything is left

consumer.close()

"""A consume-transform-produce app with Kafka transactions: exactly-once into OUTPUT_TOPIC.

Each batch's output and its input offsets are committed in one transaction
(send_offsets_to_transaction), so after a crash the open transaction is aborted (read_committed
readers never see it) and the restart redoes the batch from the committed offsets.

    deliverylab check --claim exactly-once --crashes 8 -- python examples/exactly_once.py
"""
import argparse
import json
import os
import time

from confluent_kafka import Consumer, KafkaError, Producer

parser = argparse.ArgumentParser()
parser.add_argument("--processing-ms", type=float, default=5.0, help="work per record")
parser.add_argument("--batch", type=int, default=10, help="records per transaction")
args = parser.parse_args()

settings = json.loads(os.environ.get("KAFKA_CLIENT_CONFIG_JSON", "{}"))
settings["bootstrap.servers"] = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
consumer = Consumer({**settings, "group.id": os.environ["GROUP_ID"],
                     "group.instance.id": os.environ["GROUP_ID"] + "-app",
                     # Its session: 6 s after the last run ends, the member is gone and the
                     # group can be deleted.
                     "session.timeout.ms": 6000,
                     "auto.offset.reset": "earliest", "enable.auto.commit": False,
                     "isolation.level": "read_committed", "enable.partition.eof": True})
# The same transactional.id on every start: the new incarnation fences the dead one and aborts
# the transaction it left open.
producer = Producer({**settings, "transactional.id": os.environ["TRANSACTIONAL_ID"]})
producer.init_transactions()
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
        producer.begin_transaction()
        for m in records:
            time.sleep(args.processing_ms / 1000)
            producer.produce(output, key=m.key(), value=m.value())
        producer.send_offsets_to_transaction(consumer.position(consumer.assignment()),
                                             consumer.consumer_group_metadata())
        producer.commit_transaction()
    if at_end and at_end >= {tp.partition for tp in consumer.assignment()}:
        break

consumer.close()

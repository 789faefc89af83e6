"""Read a topic back from the beginning with a fresh consumer: the evidence of what is stored."""
from __future__ import annotations

import json
import time
import uuid
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from .cluster.base import quiet


def read_topic(client: dict[str, Any], topic: str, partitions: int,
               isolation: str = "read_committed", timeout: float = 30.0) -> list[tuple]:
    """(topic, partition, offset, msg_id, key, seq) for every record, in log order per partition."""
    consumer = Consumer(quiet({**client, "group.id": f"deliverylab-readback-{uuid.uuid4().hex[:8]}",
                               "enable.auto.commit": False, "enable.partition.eof": True,
                               "isolation.level": isolation}))
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    rows: list[tuple] = []
    at_eof: set[int] = set()
    deadline = time.monotonic() + timeout
    try:
        while len(at_eof) < partitions and time.monotonic() < deadline:
            for msg in consumer.consume(500, timeout=0.5):
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        at_eof.add(msg.partition())
                    continue
                at_eof.discard(msg.partition())
                rec = json.loads(msg.value())
                rows.append((topic, msg.partition(), msg.offset(), rec["id"], rec["key"], rec["seq"]))
    finally:
        consumer.close()
    return rows

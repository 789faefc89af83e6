"""Read a topic back from the beginning with a fresh consumer: the evidence of what is stored."""
from __future__ import annotations

import json
import time
import uuid
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from .cluster.base import quiet
from .errors import LabError


def _settled_end(consumer: Consumer, eof) -> bool:
    """Right after a leader change the new leader's high watermark can lag its log for a moment,
    so an EOF may come early. Trust it only if the watermark, asked again, has not moved."""
    tp = TopicPartition(eof.topic(), eof.partition())
    for _ in range(2):
        time.sleep(0.3)
        try:
            _, high = consumer.get_watermark_offsets(tp, timeout=5, cached=False)
        except Exception:
            return False
        if high > eof.offset():
            return False
    return True


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
                    if err.code() == KafkaError._PARTITION_EOF and _settled_end(consumer, msg):
                        at_eof.add(msg.partition())
                    continue
                at_eof.discard(msg.partition())
                rec = json.loads(msg.value())
                rows.append((topic, msg.partition(), msg.offset(), rec["id"], rec["key"], rec["seq"]))
    finally:
        consumer.close()
    if len(at_eof) < partitions:
        # Counting a half-read topic would report its unread records as lost.
        raise LabError(f"The read-back of topic {topic!r} did not reach the end of "
                       f"{partitions - len(at_eof)} partition(s) within {timeout:.0f} s, so its "
                       "records cannot be counted.",
                       "Check `deliverylab cluster status` (a partition without a leader cannot be "
                       "read) and run the experiment again.")
    return rows

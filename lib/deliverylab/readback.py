"""Read a topic back from the beginning with a fresh consumer: the evidence of what is stored.

Where the read ends is decided before it starts: each partition's high watermark, asked of its
leader. A partition is read when the consumer reports end-of-partition at or past that offset
(for a read_committed reader the end it reports is the last stable offset, which reaches the
high watermark once every transaction's marker is written). No fixed sleeps: a read of a few
hundred records takes milliseconds, as it does for any consumer.
"""
from __future__ import annotations

import time
import uuid
from typing import Any, Callable, Sequence

from confluent_kafka import (OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message,
                             TopicPartition)

from .clients import quiet
from .errors import LabError
from .ids import record_of

POLL_S = 0.05  # consume() waits for a full batch or this long: short, so the last wait is short
TIMEOUT_S = 30.0  # a topic not read to its end in this time is an error, never "lost"


def _high_watermark(probe: Consumer, topic: str, partition: int, deadline: float) -> int:
    """The partition's high watermark, asked of its leader; asked again while a leader is being
    elected or the client's metadata still names the old one (NOT_LEADER_FOR_PARTITION)."""
    while True:
        try:
            return probe.get_watermark_offsets(TopicPartition(topic, partition), timeout=2,
                                               cached=False)[1]
        except KafkaException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _leader_moved(consumer: Consumer, topic: str) -> set[int]:
    """Partitions led by a broker other than their preferred replica: a leader change happened
    (a fault, or the election after one). Asking for the metadata also lets the assign() below
    fetch at once instead of on the client's next 1-second topic scan."""
    try:
        meta = consumer.list_topics(topic, timeout=5).topics[topic].partitions
    except (KafkaException, KeyError):
        return set()
    return {p for p, m in meta.items() if m.replicas and m.leader != m.replicas[0]}


def _settled(probe: Consumer, topic: str, partition: int, end: int) -> bool:
    """Right after a leader change the new leader's high watermark can lag its log for a moment,
    so an end reached early may not be the end. Trust it only if the watermark, asked again
    after a pause, has not moved. Used only where a leader change happened. A follower in sync
    fetches again within milliseconds of each write, so two asks 0.15 s apart are ample here."""
    for _ in range(2):
        time.sleep(0.15)
        try:
            _, high = probe.get_watermark_offsets(TopicPartition(topic, partition), timeout=2,
                                                  cached=False)
        except KafkaException:
            return False
        if high > end:
            return False
    return True


def read_topic(client: dict[str, Any], topic: str, partitions: int,
               isolation: str = "read_committed", timeout: float | None = None,
               after_fault: bool = False,
               row: Callable[[Message, dict[str, Any]], Any] | None = None) -> list:
    """(topic, partition, offset, msg_id, key, seq) for every record, in log order per partition.

    row: builds each row from the message and its decoded record instead (the retry pipeline
    keeps the whole record and the log time).

    after_fault: the run changed a partition leader (a broker fault); the end of each partition
    is then checked once more against a possibly stale high watermark. A leader change the read
    itself observes (a leader that is not the preferred replica, a record from a later leader
    epoch) turns the same check on.
    """
    conf = quiet({**client, "group.id": f"deliverylab-readback-{uuid.uuid4().hex[:8]}",
                  "enable.auto.commit": False, "enable.partition.eof": True,
                  # The end-of-partition event comes when a fetch returns empty, and the broker
                  # holds an empty fetch up to this long (default 500 ms) waiting for data.
                  "fetch.wait.max.ms": 10})
    timeout = TIMEOUT_S if timeout is None else timeout
    deadline = time.monotonic() + timeout
    consumer = Consumer({**conf, "isolation.level": isolation})
    # The ends are asked with read_uncommitted: a read_committed client is told the last stable
    # offset, and the read must go on until every transaction's marker is in.
    probe = Consumer({**conf, "isolation.level": "read_uncommitted"})
    rows: list = []
    done: set[int] = set()
    eof_at: dict[int, int] = {}  # partition -> where the consumer last reported its end
    try:
        # Always asked (it primes the metadata the assign() needs), even when after_fault makes
        # every partition unsure anyway.
        unsure = _leader_moved(consumer, topic) | (set(range(partitions)) if after_fault else set())
        ends = {p: _high_watermark(probe, topic, p, deadline) for p in range(partitions)}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        while len(done) < partitions and time.monotonic() < deadline:
            for msg in consumer.consume(1000, timeout=POLL_S):
                err, p = msg.error(), msg.partition()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        eof_at[p] = msg.offset()
                    continue
                eof_at.pop(p, None)
                done.discard(p)
                if (msg.leader_epoch() or 0) > 0:
                    unsure.add(p)  # written after a leader change
                rec = record_of(msg.value())
                rows.append(row(msg, rec) if row else
                            (topic, p, msg.offset(), rec["id"], rec["key"], rec["seq"]))
            for p, at in eof_at.items():
                if p not in done and at >= ends[p] and (p not in unsure or
                                                        _settled(probe, topic, p, at)):
                    done.add(p)
    except KafkaException:
        pass  # no leader answered in time: reported below as a partition not read to its end
    finally:
        consumer.close()
        probe.close()
    if len(done) < partitions:
        # Counting a half-read topic would report its unread records as lost.
        raise LabError(f"The read-back of topic {topic!r} did not reach the end of "
                       f"{partitions - len(done)} partition(s) within {timeout:.0f} s, so its "
                       "records cannot be counted.",
                       "Check `deliverylab cluster status` (a partition without a leader cannot be "
                       "read) and run the experiment again.")
    return rows


class Watermarks:
    """How many records some partitions hold, from their leaders' high watermarks, asked by a
    consumer that never joins its group (so no group is made)."""

    def __init__(self, client: dict[str, Any], topics: Sequence[str], partitions: int) -> None:
        self.consumer = Consumer(quiet({**client, "group.id": f"deliverylab-probe-{uuid.uuid4().hex[:8]}"}))
        self.parts = [TopicPartition(t, p) for t in topics for p in range(partitions)]

    def __enter__(self) -> "Watermarks":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def total(self, timeout: float = 5.0) -> int:
        """The records they hold now (a KafkaException when a leader does not answer)."""
        return sum(self.consumer.get_watermark_offsets(tp, timeout=timeout, cached=False)[1]
                   for tp in self.parts)

    def wait_for(self, records: int, within_s: float, every_s: float = 0.05) -> bool:
        """Until they hold `records` (True) or `within_s` passed (False)."""
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            if self.total() >= records:
                return True
            time.sleep(every_s)
        return False

    def close(self) -> None:
        self.consumer.close()

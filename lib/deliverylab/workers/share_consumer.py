"""A share-group member (KIP-932, "queues for Kafka"): the broker hands each record to one member
under a time-limited lock, and the member acknowledges it on its own — ACCEPT (done), RELEASE
(give it back: redelivered, its delivery count raised) or REJECT (archived at once). A record
whose lock expires (its member crashed) comes back too; after `share.delivery.count.limit`
deliveries the broker archives it. No offsets are committed: several members read one
partition together, each its own process.

Acknowledgement modes (`share.acknowledgement.mode`):
- implicit: no acknowledge() call; commit_sync() (or the next poll) accepts the whole previous
  batch — a failing record cannot be given back, so the lab refuses poison records here;
- explicit: acknowledge(msg, ACCEPT | RELEASE | REJECT) per record, then commit_sync().

Every delivery is written to the ledger with the broker's delivery count, every committed
acknowledgement with the broker's answer, so the checker counts from what happened.
"""
from __future__ import annotations

import threading
import time

from confluent_kafka import AcknowledgeType, KafkaError, KafkaException, ShareConsumer

from .common import WorkerContext, decode, fail, process

ACK_TYPES = {"ACCEPT": AcknowledgeType.ACCEPT, "RELEASE": AcknowledgeType.RELEASE,
             "REJECT": AcknowledgeType.REJECT}
SETTLED_CHECK_S = 0.3  # how often a member asks the ledger whether every record is settled
CLOSE_WITHIN_S = 10.0  # how long a member waits for its close() (see close)


class Settled:
    """Whether every input record has reached an end the broker confirmed: accepted, rejected,
    or released at the delivery limit (the broker archives it). Members end on that, not on an
    end offset: in a share group no member owns a partition's end."""

    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx, self.last, self.value = ctx, 0.0, False

    def all(self) -> bool:
        if not self.value and time.monotonic() - self.last > SETTLED_CHECK_S:
            self.last = time.monotonic()
            limit = self.ctx.spec["delivery_limit"]
            (n,) = self.ctx.ledger.conn.execute(
                "SELECT COUNT(DISTINCT msg_id) FROM share_acks WHERE ok = 1 AND (ack != 'RELEASE' "
                "OR delivery_count >= ?)", (limit,)).fetchone()
            self.value = n >= self.ctx.spec["messages"]
        return self.value


def new_share_consumer(ctx: WorkerContext) -> ShareConsumer:
    consumer = ShareConsumer(ctx.client(**{
        "group.id": ctx.spec["group_id"],
        "share.acknowledgement.mode": ctx.spec["ack"],
        **ctx.spec.get("consumer_config", {}),
    }))
    consumer.subscribe([ctx.spec["topic"]])
    return consumer


def records_of(batch) -> list:
    """The records of a poll; error events are transient (librdkafka retries) unless fatal."""
    records = []
    for msg in batch:
        err = msg.error()
        if err is None:
            records.append(msg)
        elif err.fatal():
            fail(f"share consumer error: {err.str()}")
    return records


def commit(consumer: ShareConsumer, ctx: WorkerContext, acks: list[tuple]) -> None:
    """Send the batch's acknowledgements and record, per record, the broker's answer."""
    try:
        answers = consumer.commit_sync(30.0)
        failed = {tp.partition: exc for tp, exc in answers.items() if exc is not None}
        errors = {p: _name(exc) for p, exc in failed.items()}
    except KafkaException as exc:
        errors = {p: _name(exc) for (_, _, p, _, _, _) in acks}
    ctx.ledger.share_acks([(ctx.worker, m, p, o, dc, ack, p not in errors, errors.get(p))
                           for (m, _, p, o, dc, ack) in acks])


def _name(exc: BaseException) -> str:
    err = exc.args[0] if exc.args else None
    return err.name() if isinstance(err, KafkaError) else str(exc)[:200]


# The loop is the lesson (see workers/__init__.py): poll, process, acknowledge, commit.
def run(ctx: WorkerContext) -> None:
    spec = ctx.spec
    store = ctx.store()
    explicit = spec["ack"] == "explicit"
    poison = set(spec.get("poison") or ())
    consumer = new_share_consumer(ctx)
    settled = Settled(ctx)
    while not settled.all() and not ctx.deadline_passed():
        batch = records_of(consumer.poll(0.5))
        if not batch:
            continue
        acks = []  # (msg_id, index, partition, offset, delivery count, ack)
        for msg in batch:
            record = decode(msg)
            acks.append([record["id"], record["index"], msg.partition(), msg.offset(),
                         msg.delivery_count() or 1, "ACCEPT"])
        ctx.ledger.deliveries((ctx.worker, m, p, o, dc) for (m, _, p, o, dc, _) in acks)
        for msg, row in zip(batch, acks):
            index = row[1]
            ctx.crash.hit("after-poll", index)
            if index in poison:  # processing fails, every time: no effect is written
                row[5] = spec["poison_ack"]
            else:
                process(ctx, store, msg, decode(msg))
                ctx.crash.hit("after-process", index)
            if explicit:
                consumer.acknowledge(msg, ACK_TYPES[row[5]])
        commit(consumer, ctx, [tuple(a) for a in acks])  # implicit: accepts the whole batch
        ctx.crash.hit("after-ack", [a[1] for a in acks])
    close(consumer)


def close(consumer: ShareConsumer) -> None:
    """close(), waited for CLOSE_WITHIN_S at most. librdkafka's share consumer close() has hung
    here for good (py-spy: rd_kafka_share_consumer_close → rd_kafka_consumer_close0, waiting on
    its queue; a member that had acquired no record, on a busy machine), which held the whole run
    to its time limit (90 s instead of ~7 s). Past the bound the member exits without it, as
    confluent-kafka-python issue #1667's workaround does; the broker drops it when its share
    session times out."""
    closer = threading.Thread(target=consumer.close, name="share-close", daemon=True)
    closer.start()
    closer.join(CLOSE_WITHIN_S)

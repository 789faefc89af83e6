"""The producer under test: sends N messages with the learner's settings (librdkafka keys
verbatim), records every delivery report — success with its offset, or the error — and never
retries on its own, so what the log holds afterwards is what the settings did.

With `resend` on it is an application that does retry on its own: restarted after a crash, it
first sends again every message it never saw confirmed (no successful delivery report in its
ledger), with the same message id, then carries on. The new process is a new producer with a new
producer id, so the broker's idempotence cannot recognise a resent message it already stored."""
from __future__ import annotations

import time

from confluent_kafka import Consumer, Producer, TopicPartition

from ..clients import poll_until, produce
from ..ids import id_of_value, index_of, record, value_for
from ..payloads import payment_for
from ..vocabulary import BEFORE_FLUSH
from .common import WorkerContext, prime_metadata


class ReportBook:
    """Buffers sends and delivery reports, writing them to the ledger in batches (and before a
    crash), so recording does not slow the producer down much."""

    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx
        self.sends: list[tuple] = []
        self.acks: list[tuple] = []
        self.last_write = time.monotonic()
        self.sent_here = self.confirmed_here = 0  # this process's sends, and its successes

    def on_delivery(self, err, msg) -> None:
        ok = err is None
        self.confirmed_here += ok
        self.acks.append((id_of_value(msg.value()), msg.topic(), msg.partition(),
                          msg.offset() if ok else -1, None if ok else err.name(), time.time()))

    def write(self, force: bool = False) -> None:
        if force or len(self.sends) + len(self.acks) >= 500 or time.monotonic() - self.last_write > 0.2:
            if self.sends:
                self.ctx.ledger.sends(self.sends)
            if self.acks:
                self.ctx.ledger.acks(self.acks)
            self.sends, self.acks, self.last_write = [], [], time.monotonic()


def unconfirmed(ctx: WorkerContext) -> list[int]:
    """The input indices this application sent but never saw confirmed, in send order: what an
    application that keeps its own record of confirmations sends again after a restart."""
    rows = ctx.ledger.conn.execute(
        "SELECT DISTINCT msg_id FROM sends WHERE msg_id NOT IN "
        "(SELECT msg_id FROM acks WHERE error IS NULL OR error = '')").fetchall()
    return sorted(index_of(m) for (m,) in rows)


# How long a kill waits for the log to hold a message its process has not seen confirmed.
AT_STAKE_WAIT_S = 10.0
# A kill strikes a producer with at most this many messages waiting for their report (at 500
# messages a second, 20 ms of sending): a producer in flow, not one that never reported.
AT_STAKE_MAX = 10
AT_STAKE_MIN = 3  # … and at least this many, so two runs' kills put comparable numbers at stake


class LogEnd:
    """The topic's end offsets, summed over its partitions, asked of the brokers (the high
    watermark: with acks=all, what the in-sync replicas hold). Taken when the process starts, it
    tells how many records this process's sends have put in the log so far."""

    def __init__(self, ctx: WorkerContext, producer: Producer, topic: str) -> None:
        self.topic = topic
        self.partitions = sorted(producer.list_topics(topic, timeout=10).topics[topic].partitions)
        self.consumer = Consumer(ctx.client(**{"group.id": f"{topic}-log-end",
                                               "enable.auto.commit": False}))
        self.start = self.now()

    def now(self) -> int:
        return sum(self.consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=5,
                                                       cached=False)[1] for p in self.partitions)

    def wait_for_unconfirmed_record(self, book: "ReportBook") -> None:
        """Before a kill: wait until the log holds more of this process's records than it has
        seen delivery reports for, serving none meanwhile (no poll()), so the kill leaves a
        message stored whose report the application never saw — what an application's resend
        sends twice. Without the wait, the few messages a kill finds unconfirmed at 500 a second
        are mostly still in librdkafka's queue (linger.ms), and a resend duplicates none."""
        until = time.monotonic() + AT_STAKE_WAIT_S
        while self.now() - self.start <= book.confirmed_here and time.monotonic() < until:
            pass  # each now() is a round trip to the brokers


def strike(ctx: WorkerContext, producer: Producer, book: ReportBook, log_end: LogEnd,
           due: list[int], last: bool = False) -> None:
    """A rated producer's due kill. It holds until the process is delivering: its first delivery
    report came (as 07's faults are armed) and at most AT_STAKE_MAX messages wait for one —
    serving reports meanwhile, sending nothing. A new producer can take longer than a short life
    to report first (08's experiment 2b once lost a whole life of 200 so), and a kill then puts
    that whole life at stake, not the few messages in flight. Then it waits, serving no reports,
    until the log holds a message the process has not seen confirmed, and dies. The loop's kill
    waits for the next message while fewer than AT_STAKE_MIN wait; the `last` one (the life's
    messages all sent) strikes with what is left, even nothing."""
    while (not book.confirmed_here or book.sent_here - book.confirmed_here > AT_STAKE_MAX) \
            and not ctx.deadline_passed():
        producer.poll(0.01)
    if book.sent_here - book.confirmed_here < AT_STAKE_MIN and not last:
        return  # the next message's turn
    if book.sent_here > book.confirmed_here:
        log_end.wait_for_unconfirmed_record(book)
    ctx.crash.hit(BEFORE_FLUSH, due)


def run(ctx: WorkerContext) -> None:
    spec = ctx.spec
    book = ReportBook(ctx)
    ctx.before_crash = lambda: book.write(force=True)
    # the messages at stake at a kill: sent by this process, never seen confirmed
    ctx.crash_detail = lambda: {"unconfirmed": book.sent_here - book.confirmed_here}
    producer = Producer(ctx.client(**spec.get("producer_config", {})))
    prime_metadata(producer, spec["topic"])  # an idempotent producer's id: at once, not in 0.5 s
    # After a crash the app resumes after the last message it handed to produce(): whatever
    # was still queued inside the dead process is gone without a report — unless it resends.
    start = ctx.ledger.conn.execute("SELECT COUNT(DISTINCT msg_id) FROM sends").fetchone()[0]
    again = unconfirmed(ctx) if spec.get("resend") else []
    rate = spec.get("rate") or 0
    # A rated producer's crash is armed by its first delivery report and waits for a record the
    # log holds unconfirmed (below); at full speed (rate 0) a kill finds a queue full of messages
    # that never left the process, and strikes at once.
    log_end = LogEnd(ctx, producer, spec["topic"]) if ctx.crash.spec and rate else None
    t0 = time.monotonic()
    # Crashes due (scheduled, not yet struck), from earlier lives too: a kill that its life
    # ended before strikes in the next, even while that one resends (each crash uses one up).
    due = ctx.crash.pending(BEFORE_FLUSH, range(start))

    for n, index in enumerate([*again, *range(start, spec["messages"])]):
        if ctx.deadline_passed():
            break
        if rate:
            poll_until(producer, t0 + n / rate)
        rec = record(index, spec["keys"])
        value = value_for(index, spec["keys"], payment_for(index))
        book.sends.append((rec["id"], rec["key"], rec["seq"], spec["topic"]))
        produce(producer, spec["topic"], rec["key"].encode(), value, book.on_delivery)
        book.sent_here += 1
        producer.poll(0)
        book.write()
        if n >= len(again):  # a resend itself never crashes: each crash is one new message's
            due += ctx.crash.pending(BEFORE_FLUSH, [index])
        if due and not log_end:
            ctx.crash.hit(BEFORE_FLUSH, due)
        elif due:
            strike(ctx, producer, book, log_end, due)

    if due and log_end and book.sent_here:  # a life that ended before its due kill could strike
        strike(ctx, producer, book, log_end, due, last=True)
    producer.flush(spec.get("flush_timeout_s", 60))
    book.write(force=True)

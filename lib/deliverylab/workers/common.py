"""What every worker process shares: its spec, its ledger, its store, its crash points."""
from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from confluent_kafka import (OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, Producer,
                             TopicPartition)

from ..clients import client_from_env, error_reason, fetch_committed
from ..crash import CrashPoints, CrashSpec, crash_of
from ..ids import member_of, record_of
from ..ledger import Ledger, Store
from ..vocabulary import CRASH
from . import exits, scenario2
from .membership import GROUP_ENDS, REFUSALS, REJOIN_LATER, group_settings, join, stall_if_due


def wait_for_turn() -> None:
    """A standby worker (started ahead by the supervisor while its predecessor runs, so its
    imports are done) waits here for "go": before it has read the spec or the ledger, or made a
    Kafka client. Anything else on stdin (EOF: the supervisor is gone or done) ends it unused."""
    if os.environ.get("DELIVERYLAB_WORKER_STANDBY") == "1" and sys.stdin.readline().strip() != "go":
        sys.exit(0)


@dataclass
class WorkerContext:
    run_dir: Path
    worker: int
    spec: dict[str, Any]
    ledger: Ledger
    crash: CrashPoints
    out_of_time: bool = False  # the loop stopped because the run's time limit passed
    # what a worker adds to its crash event, e.g. the producer's messages at stake at the kill
    crash_detail: Callable[[], dict] = lambda: {}

    @classmethod
    def load(cls, run_dir: Path, worker: int, role: str | None = None) -> "WorkerContext":
        wait_for_turn()
        spec = json.loads((run_dir / "spec.json").read_text())
        ledger = Ledger(run_dir / "ledger.sqlite")
        schedule = crash_of(spec, role)
        crash_spec = CrashSpec(**{**schedule, "at": tuple(schedule.get("at") or ())}) \
            if schedule else None
        ctx = cls(run_dir, worker, spec, ledger, None)  # type: ignore[arg-type]
        crashed = ctx._crashes(crash_spec.point) if crash_spec else []
        ctx.crash = CrashPoints(crash_spec, crashed, ctx._record_crash,
                                lambda index: index in ctx._crashes(crash_spec.point))
        return ctx

    def _record_crash(self, point: str, index: int) -> None:
        self.before_crash()
        self.ledger.event(CRASH, self.worker, os.getpid(), json.dumps({"point": point, "index": index,
                                                                  **self.crash_detail()}))

    def _crashes(self, point: str) -> list[int]:
        """The indices this run's workers crashed at, at `point`: an input producer's crash at
        index 99 does not use up the consumer's crash at 99 (their points differ)."""
        details = [json.loads(d) for (d,) in self.ledger.conn.execute(
            "SELECT detail FROM events WHERE kind = ?", (CRASH,))]
        return [d["index"] for d in details if d.get("point", point) == point]

    def before_crash(self) -> None:
        """Workers that buffer ledger rows override this to write them out first."""

    def client(self, **overrides: Any) -> dict[str, Any]:
        # Client settings come through the environment: they may hold a SASL password, which
        # must never be written into the run folder.
        return client_from_env(**overrides)

    def deadline_passed(self) -> bool:
        """Asked by the loops while their input is not done: True ends the loop, so the worker
        then exits with exits.TIME_LIMIT (its unread input is the run's timeout, not a loss)."""
        if time.time() > self.spec["deadline"]:
            self.out_of_time = True
        return self.out_of_time

    def store(self) -> Store:
        return Store(self.run_dir / "store.sqlite")


def decode(msg: Message) -> dict[str, Any]:
    return record_of(msg.value())


def input_partitions(spec: dict[str, Any]) -> list[TopicPartition]:
    return [TopicPartition(spec["topic"], p) for p in range(spec["partitions"])]


class EndOfInput:
    """The input is produced before the consumer starts, so its end is known up front: past the
    last record the input producer saw acknowledged (the ledger), or the leader's high watermark
    at the worker's start if that is further. A partition is done when the worker has handed out
    its last record (no wait for an end-of-partition event, which comes only when a fetch
    long-poll, fetch.wait.max.ms = 500 ms, returns empty), or starts at its end already.
    Where no end is known, an EOF event is trusted only if the watermark, asked of the leader
    once more, agrees: right after a leader change a fetch can report EOF below the real end."""

    def __init__(self, partitions: int, consumer: Consumer | None = None) -> None:
        self.partitions = partitions
        self.consumer = consumer
        self.group = GROUP_ENDS.get(id(consumer))  # a group member ends with the group
        ends, starts = _KNOWN_ENDS.get(id(consumer), ({}, {}))
        self.ends: dict[int, int | None] = ends
        self.at_eof: set[int] = {p for p, e in ends.items()
                                 if e is not None and starts.get(p, -1) >= e}

    def saw(self, msg: Message) -> bool:
        """True when msg is an EOF event (and records it when it is the true end); False for a
        record (and records its partition as done when it is the partition's last record)."""
        if self.group is not None:
            return self.group.saw(msg)
        err, p = msg.error(), msg.partition()
        end = self.ends.get(p)
        if err is not None and err.code() == KafkaError._PARTITION_EOF:
            if msg.offset() >= end if end is not None else self._really_at_end(msg):
                self.at_eof.add(p)
            return True
        if end is not None and msg.offset() + 1 >= end:
            self.at_eof.add(p)
        else:
            self.at_eof.discard(p)
        return False

    def _really_at_end(self, msg: Message) -> bool:
        if self.consumer is None:
            return True
        try:
            _, high = self.consumer.get_watermark_offsets(
                TopicPartition(msg.topic(), msg.partition()), timeout=2, cached=False)
        except Exception:
            return False
        return msg.offset() >= high

    def rewound(self, partitions: list[int]) -> None:
        """The loop sought these partitions back (a rewind after an abort): their records are
        to be read again, so a partition done with its last record is not done any more."""
        self.at_eof.difference_update(partitions)

    @property
    def done(self) -> bool:
        if self.group is not None:
            return self.group.done
        return len(self.at_eof) >= self.partitions


# new_consumer() -> EndOfInput(): where each input partition ends and where this worker starts,
# by id of the consumer (one process, one consumer; the workers' loops stay as they are).
_KNOWN_ENDS: dict[int, tuple[dict[int, int | None], dict[int, int]]] = {}


def input_ends(ctx: WorkerContext, consumer: Consumer) -> dict[int, int | None]:
    """Per input partition: the offset after its last record, or None when it cannot be told."""
    topic = ctx.spec["topic"]
    acked = dict(ctx.ledger.conn.execute(
        'SELECT partition, MAX("offset") + 1 FROM acks WHERE topic = ? AND "offset" >= 0 '
        "GROUP BY partition", (topic,)).fetchall())
    ends: dict[int, int | None] = {}
    for p in range(ctx.spec["partitions"]):
        try:  # the input is not transactional: a read_committed client's answer is the same
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=5, cached=False)
            ends[p] = max(high, acked.get(p, 0))
        except KafkaException:
            ends[p] = acked.get(p)  # None without acks: fall back to a confirmed EOF
    return ends


def fail(message: str) -> None:
    print(message, file=sys.stderr)
    sys.exit(exits.FAILED)


def _exit_with(code: int, reason: dict[str, str]) -> None:
    print(json.dumps(reason), file=sys.stderr)
    sys.exit(code)


def check_message(msg: Message | None) -> Message | None:
    """Errors that end the worker, with the broker's reason: the group coordinator refusing this
    member for good (the run cannot happen) or for now (start again later), and fatal consumer
    errors. librdkafka reports a fatal error as code _FATAL, whose fatal() is False on the
    event poll() returns (seen with UNRELEASED_INSTANCE_ID): both count. EOF passes through."""
    if msg is None:
        return None
    err = msg.error()
    if err is None or err.code() == KafkaError._PARTITION_EOF:
        return msg
    reason = error_reason(err)
    if reason in REJOIN_LATER:
        _exit_with(exits.REJOIN, {"reason": reason, "text": err.str()})
    if reason in REFUSALS:
        _exit_with(exits.REFUSED, {
            "problem": f"The brokers refused a consumer of the run with {reason} ({err.str()}), "
                       "a refusal no retry changes: the run cannot happen as it is set up, so "
                       "nothing of it is counted.",
            "fix": REFUSALS[reason]})
    if err.fatal() or err.code() == KafkaError._FATAL:
        fail(f"consumer error: {reason}: {err.str()}")
    return None  # transient (a coordinator moving, a broker restarting): librdkafka retries


def new_consumer(ctx: WorkerContext, **overrides: Any) -> Consumer:
    group = ctx.spec.get("membership") == "group"
    conf = ctx.client(**{
        "group.id": ctx.spec["group_id"],
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        **(group_settings(ctx.spec, member_of(ctx.worker)) if group else {}),
        **ctx.spec.get("consumer_config", {}),
        **overrides,
    })
    consumer = Consumer(conf)
    if group:  # subscribe(): the group decides which partitions this member gets
        prime_metadata(consumer, ctx.spec["topic"])
        join(ctx, consumer, conf, input_ends(ctx, consumer))
        return consumer
    if scenario2.active(ctx.spec):
        scenario2.settled_then_resume(ctx)
    # assign(), not subscribe(): one worker owns every partition, so a restarted worker resumes
    # at once from the committed offsets instead of waiting out a session timeout and rebalance.
    committed = committed_offsets(consumer, input_partitions(ctx.spec))
    if scenario2.active(ctx.spec):
        scenario2.record_resume(ctx, committed)
    prime_metadata(consumer, ctx.spec["topic"])
    _KNOWN_ENDS[id(consumer)] = (input_ends(ctx, consumer),
                                 {t.partition: t.offset for t in committed})
    consumer.assign([TopicPartition(t.topic, t.partition, t.offset if t.offset >= 0 else OFFSET_BEGINNING)
                     for t in committed])
    return consumer


def prime_metadata(client: Consumer | Producer, topic: str) -> None:
    """Ask for the topic's metadata before assign(). A fresh client that is assigned a topic it
    has not seen yet looks up its leader only on its next 1-second topic scan, so the first
    fetch (and every restart's first record) would wait up to 1 s; with the metadata cached the
    fetch starts at once. Measured on the lab cluster: restart → first record 0.9–1.1 s → 0.05 s.

    Asked twice: librdkafka answers the first request over a bootstrap connection, which it
    drops as soon as it knows the brokers by id, and it connects to those only when needed. A
    transactional producer's init_transactions() then finds no broker up to ask for its
    coordinator and tries again on a 500 ms timer. The second request opens a connection to a
    broker by id, so the coordinator is found at once: first init_transactions() 0.5–0.6 s →
    0.06–0.16 s on the lab cluster (debug=eos shows "No brokers available for Transactions")."""
    for _ in range(2):
        try:
            client.list_topics(topic, timeout=5)
        except KafkaException:
            return  # the fetcher's own metadata refresh still finds the leader, only later


def committed_offsets(consumer: Consumer, partitions: list[TopicPartition],
                      within_s: float = 30.0) -> list[TopicPartition]:
    """The group's committed offsets, asked explicitly and retried while the group coordinator
    is still starting. A bare assign() whose first offset lookup meets NOT_COORDINATOR can stall
    that partition for good (librdkafka issue #5586) — seen on freshly started clusters."""
    committed = fetch_committed(consumer, partitions, within_s)
    if committed is None:
        fail(f"the group coordinator gave no committed offsets within {within_s:.0f} s")
    return committed


def process(ctx: WorkerContext, store: Store, msg: Message, record: dict[str, Any]) -> None:
    """The application's side effect: a row in the learner's database (duplicates show as rows).
    processing_ms of work come first, so commits and auto-commit ticks can fall between crashes;
    crash point `mid-process` is after the work, before its effect is written."""
    if ctx.spec.get("processing_ms"):
        time.sleep(ctx.spec["processing_ms"] / 1000)
    stall_if_due(ctx, record["index"])
    ctx.crash.hit("mid-process", record["index"])
    store.conn.execute(
        'INSERT INTO effects (msg_id, key, seq, topic, partition, "offset", worker, t) '
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (record["id"], record["key"], record["seq"], msg.topic(), msg.partition(), msg.offset(),
         ctx.worker, time.time()))


def commit_offsets(consumer: Consumer, ctx: WorkerContext, offsets: dict[int, int]) -> bool:
    """Commit next-offsets synchronously and record what the worker saw; True if the broker
    confirmed the commit (nothing to commit counts as confirmed)."""
    if not offsets:
        return True
    tps = [TopicPartition(ctx.spec["topic"], p, o) for p, o in offsets.items()]
    try:
        consumer.commit(offsets=tps, asynchronous=False)
        for p, o in offsets.items():
            ctx.ledger.commit(ctx.worker, ctx.spec["topic"], p, o, True)
        return True
    except Exception as exc:  # a failed commit is data for the lesson, not a reason to stop
        # The error's name (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, …), as Kafka spells it.
        err = exc.args[0] if isinstance(exc, KafkaException) and exc.args else None
        name = err.name() if isinstance(err, KafkaError) else str(exc)[:200]
        for p, o in offsets.items():
            ctx.ledger.commit(ctx.worker, ctx.spec["topic"], p, o, False, name)
        return False


def commit_in_flight(consumer: Consumer, ctx: WorkerContext, offsets: dict[int, int],
                     indices: list[int]) -> None:
    """Scenario 2: the commit request leaves, and the worker dies before it sees the answer."""
    if ctx.crash.spec is None or ctx.crash.spec.point != "commit-in-flight":
        return
    if not any(i not in ctx.crash.done and ctx.crash.spec.scheduled(i) for i in indices):
        return
    if scenario2.active(ctx.spec):
        scenario2.send_and_die(consumer, ctx, offsets, indices)
    tps = [TopicPartition(ctx.spec["topic"], p, o) for p, o in offsets.items()]
    consumer.commit(offsets=tps, asynchronous=True)
    time.sleep(ctx.spec.get("in_flight_ms", 2) / 1000)  # on the wire; the reply is never polled
    ctx.crash.hit("commit-in-flight", indices)

"""Share groups (KIP-932, "queues for Kafka"), counted like every other delivery model.

    spec = ShareExperiment(members=2, ack="explicit", crash=CrashSpec("after-process", every=25))
    result = run_share(spec)        # result.summary: lost, duplicated, archived, delivery_counts

N members (each its own OS process, restarted after each crash) read ONE partition together:
the point of share groups is more consumers than partitions. Each record is acquired under a
lock of `lock_duration_ms`, acknowledged on its own, redelivered when released or when its lock
expires (a crashed member), and archived after `delivery_limit` deliveries. Poison records
(`poison`: input indices whose processing always fails) are released (or rejected) every time.

The group's settings are set by the lab through the admin API before any member starts
(incremental_alter_configs on the GROUP resource): share.auto.offset.reset=earliest (the
default, latest, would skip the input written before the group existed),
share.record.lock.duration.ms and share.delivery.count.limit.

Dead-letter topic (`dead_letter=True`, KIP-1191: Kafka 4.4 with share.version=2): the run also
creates a topic the broker may write to — its name must start with the broker's
errors.deadletterqueue.topic.name.prefix ("dlq." by default) and the topic must carry
errors.deadletterqueue.group.enable=true — and names it in the group config
errors.deadletterqueue.topic.name, with errors.deadletterqueue.copy.record.enable=true so the
broker copies the record itself (not only its __dlq.errors.* context headers). When the members
are done the lab reads that topic back: an archived message found there is `dead-lettered`.
"""
from __future__ import annotations

import json
import sqlite3
import time
from contextlib import closing
from dataclasses import asdict, dataclass, field
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

from ..cluster import Cluster, connect
from ..config_check import check_consumer_config
from ..crash import CrashSpec
from ..counts import DEAD_LETTERS_FILE, share_result
from ..errors import LabError, require_seconds, require_whole
from ..fields import check_fields
from ..members import MAX_MEMBERS, MEMBERS_FIX
from ..ids import check_messages
from ..ledger import Store
from ..readback import Watermarks
from ..results import Result
from ..runs import Progress, Run
from ..vocabulary import INPUT, SHARE

ACK_MODES = ("implicit", "explicit")
POISON_ACKS = ("RELEASE", "REJECT")
# The broker's bounds (Kafka 4.4 defaults; the lab lowers the lock floor to 1 s, settings.py).
LOCK_RANGE_MS = (1000, 60000)  # group.share.min/max.record.lock.duration.ms
DELIVERY_LIMIT_RANGE = (2, 10)  # group.share.min/max.delivery.count.limit
RECORD_LOCKS_RANGE = (100, 4000)  # group.share.min/max.partition.max.record.locks
# KIP-1191: a dead-letter topic's name must start with the broker's
# errors.deadletterqueue.topic.name.prefix (Kafka 4.4's default; the lab's brokers keep it), and
# the topic must say it may be one (a topic config, false by default).
DLQ_PREFIX = "dlq."
DLQ_TOPIC_CONFIG = {"errors.deadletterqueue.group.enable": "true"}
# The ranges of ShareExperiment's numbers (fields.check_fields; the broker's bounds below)
RANGES = {"members": (1, MAX_MEMBERS, MEMBERS_FIX), "keys": (1, 10_000),
          "processing_ms": (0, 60_000, "Use 0 (no work) or a few ms per message, e.g. processing_ms=5."),
          "stall_ms": (0, 600_000), "time_limit_s": (None, 3600)}
DLQ_WAIT_S = 20.0  # the broker writes a dead letter after the acknowledgement: wait this long for it


@dataclass
class ShareExperiment:
    """Share-group members on one partition, an acknowledgement mode and a crash schedule."""

    messages: int = 100
    members: int = 1
    ack: str = "explicit"  # share.acknowledgement.mode: "implicit" or "explicit"
    crash: CrashSpec | None = None  # after-poll, after-process or after-ack
    poison: tuple[int, ...] = ()  # input indices whose processing always fails (explicit only)
    poison_ack: str = "RELEASE"  # what a failing record gets: RELEASE (retry) or REJECT (archive)
    lock_duration_ms: int = 2000  # share.record.lock.duration.ms (group config)
    delivery_limit: int = 5  # share.delivery.count.limit (group config)
    # share.partition.max.record.locks (group config; None: the broker's 2000): how many records
    # of the partition may be acquired at once, by all members together
    max_record_locks: int | None = None
    processing_ms: float = 0.0
    # A member alive but stuck: processing input message `stall_at` takes `stall_ms` more (once
    # in the run). It keeps its connection, so only the lock's expiry gives its records back.
    stall_at: int | None = None
    stall_ms: float = 0.0
    keys: int = 8
    # Records per producer batch of the input (batch.num.messages; None: the producer's default,
    # the whole input in a few large batches). The broker hands a member whole batches, so with
    # large ones a single member can acquire everything; small ones let members share.
    input_batch: int | None = None
    # A dead-letter topic for the group (KIP-1191, Kafka 4.4+): archived records are copied there
    dead_letter: bool = False
    consumer_config: dict[str, Any] = field(default_factory=dict)
    time_limit_s: float = 90.0
    label: str | None = None

    def check(self) -> "ShareExperiment":
        check_fields(self, RANGES)
        check_messages(self.messages, "Use e.g. messages=100.")
        require_whole("members", self.members, "Use e.g. members=2 (each its own process).")
        require_whole("keys", self.keys, "Use e.g. keys=8.")
        if self.ack not in ACK_MODES:
            raise LabError(f"ack={self.ack!r} is not an acknowledgement mode.",
                           "Use 'implicit' (a poll's records are accepted together) or 'explicit' "
                           "(acknowledge each record: ACCEPT, RELEASE or REJECT).")
        if self.crash is not None:
            self.crash.check(SHARE)
        self.poison = tuple(self.poison)
        if any(not isinstance(i, int) or not 0 <= i < self.messages for i in self.poison):
            raise LabError(f"poison={list(self.poison)!r} must list input indices in 0…{self.messages - 1}.",
                           "E.g. poison=(7,): message 7 fails every time it is processed.")
        if self.poison and self.ack != "explicit":
            raise LabError("A poison record needs ack='explicit': in implicit mode every polled "
                           "record is accepted together, so a failing one cannot be given back.",
                           "Use ack='explicit' (the failing record is released or rejected).")
        if self.poison_ack not in POISON_ACKS:
            raise LabError(f"poison_ack={self.poison_ack!r} is not RELEASE or REJECT.",
                           "RELEASE: redelivered until the delivery limit, then archived; "
                           "REJECT: archived at once.")
        low, high = LOCK_RANGE_MS
        if not (isinstance(self.lock_duration_ms, int) and low <= self.lock_duration_ms <= high):
            raise LabError(f"lock_duration_ms={self.lock_duration_ms!r} is outside what the "
                           f"brokers allow ({low}–{high} ms).", "Use e.g. lock_duration_ms=2000.")
        low, high = DELIVERY_LIMIT_RANGE
        if not (isinstance(self.delivery_limit, int) and low <= self.delivery_limit <= high):
            raise LabError(f"delivery_limit={self.delivery_limit!r} is outside what the brokers "
                           f"allow ({low}–{high}).", "Use e.g. delivery_limit=5 (Kafka's default).")
        if self.stall_at is not None and not (isinstance(self.stall_at, int)
                                              and 0 <= self.stall_at < self.messages
                                              and isinstance(self.stall_ms, (int, float))
                                              and self.stall_ms > 0):
            raise LabError(f"stall_at={self.stall_at!r}, stall_ms={self.stall_ms!r}: a stall needs an "
                           f"input index in 0…{self.messages - 1} and a positive duration.",
                           "E.g. stall_at=10, stall_ms=5000.")
        low, high = RECORD_LOCKS_RANGE
        if self.max_record_locks is not None and not (
                isinstance(self.max_record_locks, int) and low <= self.max_record_locks <= high):
            raise LabError(f"max_record_locks={self.max_record_locks!r} is outside what the brokers "
                           f"allow ({low}–{high}).", "Use e.g. max_record_locks=100, or None.")
        if self.input_batch is not None and not (isinstance(self.input_batch, int)
                                                 and 1 <= self.input_batch <= 1_000_000):
            raise LabError(f"input_batch={self.input_batch!r} must be a whole number of records "
                           "per producer batch (1 or more).", "Use e.g. input_batch=10, or None.")
        require_seconds("time_limit_s", self.time_limit_s, "Use e.g. time_limit_s=60.")
        check_consumer_config(self.consumer_config)
        return self


def group_configs(spec: ShareExperiment, dead_letter_topic: str | None = None) -> dict[str, str]:
    """The share group's own settings, as the lab sets them before a member starts."""
    configs = {"share.auto.offset.reset": "earliest",
               "share.record.lock.duration.ms": str(spec.lock_duration_ms),
               "share.delivery.count.limit": str(spec.delivery_limit)}
    if spec.max_record_locks is not None:
        configs["share.partition.max.record.locks"] = str(spec.max_record_locks)
    if dead_letter_topic is not None:
        configs["errors.deadletterqueue.topic.name"] = dead_letter_topic
        configs["errors.deadletterqueue.copy.record.enable"] = "true"
    return configs


def configure_group(cluster: Cluster, group: str, configs: dict[str, str]) -> None:
    """incremental_alter_configs on the GROUP resource (kafka-configs.sh --entity-type groups)."""
    resource = ConfigResource("group", group, incremental_configs=[
        ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in configs.items()])
    admin = cluster.admin()  # kept until the answers are in: a dropped client aborts them
    try:
        for fut in admin.incremental_alter_configs([resource]).values():
            fut.result(timeout=30)
    except KafkaException as exc:
        dlq = "errors.deadletterqueue.topic.name" in configs
        raise LabError(f"The brokers at {cluster.bootstrap_servers} refused the share group's "
                       f"settings ({exc.args[0].str() if exc.args else exc}).",
                       ("A dead-letter topic for a share group needs Kafka 4.4 or newer with the "
                        "feature share.version=2 (the default for a new 4.4 cluster); "
                        "otherwise use dead_letter=False. " if dlq else "") +
                       "Share groups need Kafka 4.2 or newer (on by default for a new cluster); "
                       "on 4.1 they must be switched on (share.version=1). Unset "
                       "DELIVERYLAB_KAFKA_VERSION and restart the cluster.") from None


def run_share(spec: ShareExperiment, cluster: Cluster | None = None,
              progress: Progress | None = None, keep: bool = False) -> Result:
    spec.check()
    cluster = cluster or connect(min_brokers=1)
    with Run(cluster, SHARE, keep) as run:
        topic = run.topic("lab-share", 1)
        group = run.group(topic)  # deleted with the run's topics (DeleteGroups takes share groups too)
        dlq = None  # the dead-letter topic is one of the run's topics: deleted with them
        if spec.dead_letter:
            dlq = run.topic(DLQ_PREFIX + "lab-share", 1, config=DLQ_TOPIC_CONFIG)
        configs = group_configs(spec, dlq)
        deadline = time.time() + spec.time_limit_s
        run.write_spec({**asdict(spec), "topic": topic, "partitions": 1, "group_id": group,
                        "dead_letter_topic": dlq,
                        "deadline": deadline, "crash": asdict(spec.crash) if spec.crash else None})
        run.ledger.set_meta(kind=SHARE, model=SHARE, topic=topic, group=group, t0=run.t0,
                            group_configs=configs, **({"dead_letter_topic": dlq} if dlq else {}))
        configure_group(cluster, group, configs)
        run.supervise(INPUT, deadline)
        with closing(Store(run.dir / "store.sqlite")) as store:
            def processed() -> int:
                return store.conn.execute("SELECT COUNT(*) FROM effects").fetchone()[0]
            tick = run.ticker(processed, spec.messages, progress)
            report = run.supervise_members(SHARE, deadline, spec.members, tick)
            tick.finish()
        if dlq:
            read_dead_letters(run, dlq, given_up(run.ledger.conn, spec.delivery_limit))
        result = share_result(run.dir, spec, cluster.bootstrap_servers, report.timed_out)
        result.summary.update(run.kept())
        return result


# --- the dead-letter topic (KIP-1191) ---------------------------------------------------------

def given_up(conn: sqlite3.Connection, delivery_limit: int) -> int:
    """How many messages the broker confirmed it gave up on (as the checker counts archived):
    a committed REJECT, or a committed RELEASE of the last allowed delivery."""
    (n,) = conn.execute("SELECT COUNT(DISTINCT msg_id) FROM share_acks WHERE ok = 1 AND "
                        "(ack = 'REJECT' OR (ack = 'RELEASE' AND delivery_count >= ?))",
                        (delivery_limit,)).fetchone()
    return int(n)


def read_dead_letters(run: Run, topic: str, expected: int) -> None:
    """Read the dead-letter topic back into the run folder. The broker writes a dead letter after
    it archived the record, so the members may be done before it is in: wait (up to DLQ_WAIT_S)
    until the topic holds `expected` records, then read whatever it holds — fewer is counted
    (those messages stay `archived`), never waited for forever."""
    with Watermarks(run.client_config(), [topic], 1) as marks:
        marks.wait_for(expected, within_s=DLQ_WAIT_S, every_s=0.2)

    def row(msg, rec: dict[str, Any]) -> dict[str, Any]:
        headers = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in (msg.headers() or [])}
        return {"offset": msg.offset(), "msg_id": rec["id"], "key": rec["key"], "seq": rec["seq"],
                "t": msg.timestamp()[1] / 1000.0, "headers": headers}

    rows = run.read_back(topic, 1, row=row)
    (run.dir / DEAD_LETTERS_FILE).write_text(json.dumps(rows))


__all__ = ["ShareExperiment", "run_share", "share_result", "group_configs", "configure_group"]

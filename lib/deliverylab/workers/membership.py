"""A consumer worker as a member of a consumer group (subscribe), beside assign mode.

In group mode N members (separate OS processes, each supervised on its own) share the input's
partitions. Every assignment, revocation and loss is written to the ledger as an event
(`assigned` / `revoked` / `lost`, detail: member and partitions) with its time, so a run shows
who held which partition when. The loops stay the delivery models' own; what differs here is
how a member gets its partitions, what it does with its uncommitted tail when a partition is
taken away (commit it: commit-on-revoke; or forget it), and when it stops (the group's input is
done, or this member's scheduled clean leave).
"""
from __future__ import annotations

import json
import os
import time
from typing import Any, Callable

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from ..ids import member_of
from ..vocabulary import (ASSIGNED, EXACTLY_ONCE, IDEMPOTENT_CONSUMER, PARTITIONS_LOST, REVOKED,
                          STALL)

# librdkafka refuses these with group.protocol=consumer (KIP-848): the broker assigns partitions
# and times out members, governed by the group's own config (CONFIGURATION.md, "group.protocol").
REFUSED_BY_CONSUMER_PROTOCOL = ("session.timeout.ms", "heartbeat.interval.ms",
                                "partition.assignment.strategy")
ASSIGNORS = ("range", "roundrobin", "cooperative-sticky")

# A SIGKILLed member says no goodbye: the coordinator drops it only once session.timeout.ms has
# passed without its heartbeat (librdkafka's default: 45000 ms, CONFIGURATION.md), and until
# then every rebalance waits for it (classic: a JoinGroup round waits for each known member, and
# a dynamic member's restart is a new member whose join opens such a round). At 45 s a crash, a
# group run with a few crashes cannot end within its time limit: it stalled, and its unread
# input was counted as lost (issue 21). The lab's classic groups use the brokers' floor instead,
# group.min.session.timeout.ms (6000 by default, also on the lab's brokers): a crash costs
# about 6 s. (KIP-848 groups get the same from the lab's brokers, cluster/settings.py.)
LAB_SESSION_TIMEOUT_MS = 6000

# What the group coordinator answers when it refuses a member for good: the run cannot happen
# (no retry changes a setting), so the worker ends with the broker's reason and a fix. Each name
# is Kafka's error name, as librdkafka reports it on poll() (e.g. "JoinGroup failed: Broker:
# Invalid session timeout").
REFUSALS = {
    "INVALID_SESSION_TIMEOUT": "Use a session timeout within the brokers' "
                               "group.min.session.timeout.ms and group.max.session.timeout.ms "
                               "(6000 and 1800000 by default): session_timeout_ms= in Python, "
                               "--session-timeout-ms on the command line, e.g. 6000.",
    "INCONSISTENT_GROUP_PROTOCOL": "Every member of a group must use the same group.protocol "
                                   "and a common partition.assignment.strategy.",
    "UNSUPPORTED_ASSIGNOR": "Use an assignor the brokers offer (group.consumer.assignors: "
                            "uniform, range), or group_protocol='classic'.",
    "GROUP_AUTHORIZATION_FAILED": "The cluster's credentials may not use this consumer group: "
                                  "grant them READ on the group (the lab's groups are named "
                                  "<topic>-group).",
    "TOPIC_AUTHORIZATION_FAILED": "The cluster's credentials may not read the run's topic: "
                                  "grant them READ and DESCRIBE on it.",
    "GROUP_MAX_SIZE_REACHED": "The brokers' group.max.size (or group.consumer.max.size) is "
                              "smaller than the run's members: use fewer members.",
    "INVALID_GROUP_ID": "The group id was refused: check DELIVERYLAB_CLIENT_CONFIG for a "
                        "group.id.",
}
# Refused for now, not for good: under KIP-848 a static member's instance id stays owned by the
# member that had it until that one leaves (epoch -2) or its session expires. A SIGKILLed static
# member never left, so its restart is refused (UNRELEASED_INSTANCE_ID; librdkafka makes it a
# fatal error of the consumer) until the old session expires. The worker ends, and its
# supervisor starts it again after a pause: what a deployment's process supervisor does too.
REJOIN_LATER = ("UNRELEASED_INSTANCE_ID",)


def instance_id(topic: str, member: int) -> str:
    """Static membership: the same group.instance.id across a member's restarts."""
    return f"{topic}-member-{member}"


def group_settings(spec: dict[str, Any], member: int = 0) -> dict[str, Any]:
    """The librdkafka keys a spec's group fields stand for (verbatim keys, no aliases)."""
    # The protocol in force: a group.protocol in consumer_config wins, as every verbatim key does
    # (then the classic-only keys below must not be set, or librdkafka refuses the consumer).
    conf: dict[str, Any] = {"group.protocol": (spec.get("consumer_config") or {}).get(
        "group.protocol", spec.get("group_protocol") or "classic")}
    if conf["group.protocol"] == "classic":
        # A member learns of a rebalance from its next heartbeat's answer: every 0.5 s here
        # instead of librdkafka's 3 s, so a lab group forms and re-forms in about a second.
        conf["heartbeat.interval.ms"] = 500
        conf["session.timeout.ms"] = session_timeout_ms(spec)
    if spec.get("assignor"):
        conf["partition.assignment.strategy"] = spec["assignor"]
    if spec.get("session_timeout_ms") is not None and conf["group.protocol"] != "classic":
        conf["session.timeout.ms"] = int(spec["session_timeout_ms"])  # refused: see check_group
    if spec.get("max_poll_interval_ms") is not None:
        conf["max.poll.interval.ms"] = int(spec["max_poll_interval_ms"])
    if spec.get("static"):
        conf["group.instance.id"] = instance_id(spec.get("topic", "topic"), member)
    return conf


def session_timeout_ms(spec: dict[str, Any]) -> int:
    """A classic member's session.timeout.ms: the spec's, else the lab's (a librdkafka key in the
    spec's consumer_config wins over both, as every verbatim key does)."""
    given = (spec.get("consumer_config") or {}).get("session.timeout.ms", spec.get("session_timeout_ms"))
    return LAB_SESSION_TIMEOUT_MS if given is None else int(given)


def cooperative(conf: dict[str, Any]) -> bool:
    """Incremental rebalancing: KIP-848, or the classic cooperative-sticky assignor."""
    return conf.get("group.protocol") == "consumer" or \
        conf.get("partition.assignment.strategy") == "cooperative-sticky"


class Membership:
    """One member's view of the group: what it owns, and the hooks its loop registers."""

    def __init__(self, ctx: Any, consumer: Consumer, conf: dict[str, Any]) -> None:
        self.ctx, self.consumer = ctx, consumer
        self.member = member_of(ctx.worker)
        self.owned: set[int] = set()
        self.cooperative = cooperative(conf)
        # The loop's answer to "these partitions are going away": commit its tail for them
        # (commit-on-revoke) or forget it. Set by loops that hold an uncommitted tail.
        self.on_revoke: Callable[[list[int]], None] | None = None
        # … and to "these partitions are already gone": nothing may be committed for them.
        self.on_lost: Callable[[list[int]], None] | None = None
        # Where an assigned partition starts, when the loop keeps its own offsets (idempotent).
        self.start_offsets: Callable[[], dict[int, int]] | None = None
        self.rebalanced = False  # a revocation or loss happened since the loop last looked

    def subscribe(self) -> None:
        self.consumer.subscribe([self.ctx.spec["topic"]], on_assign=self._assigned,
                                on_revoke=self._revoked, on_lost=self._lost)

    def _record(self, kind: str, parts: list[TopicPartition]) -> None:
        self.ctx.ledger.event(kind, self.ctx.worker, os.getpid(), json.dumps(
            {"member": self.member, "partitions": sorted(p.partition for p in parts)}))

    def _assigned(self, consumer: Consumer, parts: list[TopicPartition]) -> None:
        self.owned |= {p.partition for p in parts}
        self._record(ASSIGNED, parts)
        if self.start_offsets is not None:
            stored = self.start_offsets()
            for tp in parts:
                if tp.partition in stored:
                    tp.offset = stored[tp.partition]
            # Assign here, with these offsets: when the callback does not, the client assigns
            # the list it was given, and offsets changed in it are not used.
            if self.cooperative:
                consumer.incremental_assign(parts)
            else:
                consumer.assign(parts)
        # Otherwise the client assigns `parts` from the committed offsets when this returns.

    def _revoked(self, consumer: Consumer, parts: list[TopicPartition]) -> None:
        self._give_up(REVOKED, parts, self.on_revoke)

    def _lost(self, consumer: Consumer, parts: list[TopicPartition]) -> None:
        # Lost, not revoked: the group already gave them to someone else (session timeout,
        # max.poll.interval.ms exceeded). A commit for them now would be refused or stale.
        self._give_up(PARTITIONS_LOST, parts, self.on_lost)

    def _give_up(self, kind: str, parts: list[TopicPartition], callback) -> None:
        going = [p.partition for p in parts]
        if callback is not None and going:
            callback(going)
        self.owned -= set(going)
        self.rebalanced = True
        self._record(kind, parts)


class GroupEnd:
    """When a member stops: every input record was processed (the learner's store), or every
    partition's committed offset reached the input's end (a model that can lose, or whose
    effects may belong to an aborted transaction); or this member's clean leave is due."""

    def __init__(self, ctx: Any, consumer: Consumer, ends: dict[int, int | None]) -> None:
        self.ctx, self.consumer, self.ends = ctx, consumer, ends
        self.messages = int(ctx.spec["messages"])
        self.by_effects = ctx.spec["model"] != EXACTLY_ONCE
        self._store = None
        self._next_count = self._next_committed = 0.0
        self._done = False
        self._input_known = False
        member = member_of(ctx.worker)
        self.leave_after = ctx.spec.get("leave_after") if member == ctx.spec.get("leaving_member") \
            else None
        self.left = False

    def saw(self, msg: Message) -> bool:
        err = msg.error()
        return err is not None and err.code() == KafkaError._PARTITION_EOF

    def _processed(self) -> int:
        if self._store is None:
            self._store = self.ctx.store()
        return self._store.conn.execute("SELECT COUNT(DISTINCT msg_id) FROM effects").fetchone()[0]

    def _input_written(self) -> bool:
        """The input is written once the group stands (members.wait_for_group), after this
        member started: until its producer recorded every delivery, the ends are unknown (the
        watermarks at the member's start say 0). Then the ends are where the acks put them."""
        if self._input_known:
            return True
        topic = self.ctx.spec["topic"]
        rows = self.ctx.ledger.conn.execute(
            'SELECT partition, MAX("offset") + 1, COUNT(*) FROM acks WHERE topic = ? AND "offset" >= 0 '
            "GROUP BY partition", (topic,)).fetchall()
        if sum(n for _, _, n in rows) < self.messages:
            return False
        acked = {p: e for p, e, _ in rows}
        self.ends = {p: max(e or 0, acked.get(p, 0)) for p, e in self.ends.items()}
        self._input_known = True
        return True

    def _committed_at_end(self) -> bool:
        if not self._input_written():
            return False
        topic = self.ctx.spec["topic"]
        if self.ctx.spec["model"] == IDEMPOTENT_CONSUMER:
            if self._store is None:
                self._store = self.ctx.store()
            offsets = dict(self._store.conn.execute(
                "SELECT partition, next_offset FROM offsets WHERE topic = ?", (topic,)).fetchall())
        else:
            try:
                got = self.consumer.committed([TopicPartition(topic, p) for p in self.ends], timeout=2)
            except Exception:
                return False
            offsets = {t.partition: t.offset for t in got if not t.error}
        # An empty partition (end 0) has nothing to commit: its offset stays 'none' (-1001).
        return all(not e or offsets.get(p, -1) >= e for p, e in self.ends.items())

    @property
    def done(self) -> bool:
        if self._done:
            return True
        now = time.monotonic()
        if self.by_effects and now >= self._next_count:
            self._next_count = now + 0.2
            self._done = self._processed() >= self.messages
        if not self._done and now >= self._next_committed:
            self._next_committed = now + 1.0
            self._done = self._committed_at_end()
        return self._done

    def leave_due(self, has_tail: bool = True) -> bool:
        """Scale-in: this member leaves once the group processed `leave_after` records, at a
        moment it holds an uncommitted tail (so the lesson always has something at stake)."""
        if self.leave_after is None or self.left or not has_tail:
            return False
        if self._processed() >= self.leave_after:
            self.left = True
        return self.left


# consumer id -> its Membership / GroupEnd (one process, one consumer).
MEMBERSHIPS: dict[int, Membership] = {}
GROUP_ENDS: dict[int, GroupEnd] = {}


def membership(consumer: Consumer) -> Membership | None:
    return MEMBERSHIPS.get(id(consumer))


def join(ctx: Any, consumer: Consumer, conf: dict[str, Any], ends: dict[int, int | None]) -> None:
    """subscribe() instead of assign(): the group decides which partitions this member gets."""
    m = Membership(ctx, consumer, conf)
    MEMBERSHIPS[id(consumer)] = m
    GROUP_ENDS[id(consumer)] = GroupEnd(ctx, consumer, ends)
    m.subscribe()


def commit_or_forget(consumer: Consumer, ctx: Any, pending: dict[int, int],
                     commit: Callable[[Consumer, Any, dict[int, int]], bool]) -> Callable[[list[int]], None]:
    """The on_revoke hook of a loop with an uncommitted tail: commit-on-revoke commits the tail
    of the partitions that are going (the last moment this member may); without it the tail is
    forgotten — committing it later would overwrite the new owner's progress — and the new owner
    processes it again."""
    def hook(going: list[int]) -> None:
        tail = {p: o for p, o in pending.items() if p in going}
        if tail and ctx.spec.get("commit_on_revoke"):
            commit(consumer, ctx, tail)
        for p in going:
            pending.pop(p, None)
    return hook


def stall_if_due(ctx: Any, index: int | list[int]) -> None:
    """Too slow for max.poll.interval.ms: the processing of input record `stall_at` takes
    `stall_ms` more, once in the run (the ledger remembers), so no poll() happens meanwhile.
    `index` may be a whole batch (at-most-once): then the slow work comes before any record of
    the batch is processed, wherever `stall_at` falls in it."""
    indices = index if isinstance(index, list) else [index]
    if ctx.spec.get("stall_at") not in indices or not ctx.spec.get("stall_ms"):
        return
    index = ctx.spec["stall_at"]
    if ctx.ledger.conn.execute("SELECT 1 FROM events WHERE kind = ?", (STALL,)).fetchone():
        return
    ctx.ledger.event(STALL, ctx.worker, os.getpid(), json.dumps(
        {"member": member_of(ctx.worker), "index": index, "ms": ctx.spec["stall_ms"]}))
    time.sleep(ctx.spec["stall_ms"] / 1000)

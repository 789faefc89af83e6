"""Consumer experiments: a delivery model's worker under crashes and faults.

A run writes N input messages (a group run: once its members stand, see members.py), runs the model's worker (restarting it after every crash; or N
members of a group, each its own process), strikes the nemeses meanwhile (a broker fault, a
coordinator fault, Scenario 2), reads the topics back, and counts every message's outcome from
the ledger, the learner's store and the read-back (counts.consumer_result).
"""
from __future__ import annotations

import json
import time
from contextlib import closing
from dataclasses import asdict, dataclass, field
from typing import Any

from ..clients import RELIABLE_PRODUCER
from ..cluster import Cluster, connect
from ..config_check import check_consumer_config
from ..crash import CrashSpec
from ..counts import consumer_result
from ..errors import LabError, require_seconds, require_whole
from ..fields import check_fields
from ..nemesis import (COORDINATOR_FAULTS, BrokerNemesis, CoordinatorFault, FaultSpec, Scenario2,
                       find_coordinator)
from ..ids import check_messages
from ..kafka_tool import log_start_offsets
from ..group_result import group_stands
from ..ledger import Ledger, Store
from ..members import MAX_MEMBERS, MEMBERS_FIX, check_group, check_group_on, member_linger_s
from ..results import Result
from ..runs import Progress, Run
from ..supervisor import Supervision
from ..topics import MAX_PARTITIONS, PARTITIONS_FIX, transactional_id
from ..vocabulary import AT_LEAST_ONCE, CONSUMER, EXACTLY_ONCE, IDEMPOTENT_CONSUMER, INPUT, MODELS, PRODUCER

HOUR_MS = 3_600_000
# The resending input producer's pace (messages per second): slow enough that each of its
# crashes finds records the broker stored whose delivery reports the process had not seen yet
# (at full speed they are all still in its queue at the kill), fast enough for a short run.
INPUT_RESEND_RATE = 500
RETENTION_MS = "retention.ms"  # a run whose input topic sets it asks Kafka's tool where the log starts
# A consumer fetch queue of about 1 KB (librdkafka's defaults: queued.min.messages 100000,
# queued.max.messages.kbytes 65536): a lab topic of a few dozen records would otherwise sit in the
# stalled consumer's memory, and retention could delete nothing it still needs. With it, what the
# consumer has not fetched stays on the broker, as a real backlog does (notebook 01, measured: a
# 5 s stall after 10 records lost 47-48 of 60 to retention.ms=2000 in 3 of 3 runs; with a queue
# backoff of 0 librdkafka fetched everything and lost none).
SMALL_FETCH_QUEUE = {"queued.min.messages": 1, "queued.max.messages.kbytes": 1,
                     "max.partition.fetch.bytes": 1024, "fetch.queue.backoff.ms": 300}
# A short retention for the lagging-consumer runs: segments roll every 100 ms, so retention can
# delete closed segments within seconds (the lab's brokers check every second)
SHORT_SEGMENTS = {"segment.ms": "100"}


def retention_config(retention_ms: int) -> dict[str, str]:
    """The input topic's config for a lagging-consumer run: its retention.ms, with the short
    segments that let retention act within seconds (CLI, panel and validate build it here)."""
    return {"retention.ms": str(retention_ms), **SHORT_SEGMENTS}
# The ranges of ConsumerExperiment's numbers (fields.check_fields; types come from the fields).
# librdkafka's own ranges (CONFIGURATION.md): session.timeout.ms 1..3600000,
# max.poll.interval.ms 1..86400000, auto.commit.interval.ms 0..86400000 (0 switches the timer
# off: the auto-commit models would never commit, so the lab starts at 1).
RANGES = {
    "commit_every": (1, None), "commit_interval_ms": (1, HOUR_MS),
    "auto_commit_interval_ms": (1, HOUR_MS, "Use e.g. auto_commit_interval_ms=1000 (librdkafka's "
                                "default is 5000; 0 would switch the commit timer off)."),
    "transaction_size": (1, None), "processing_ms": (0, 60_000, "Use 0 (no work) or a few ms "
                                                     "per message, e.g. processing_ms=5."),
    "partitions": (1, MAX_PARTITIONS, PARTITIONS_FIX), "keys": (1, 10_000),
    "in_flight_ms": (0, 10_000), "members": (1, MAX_MEMBERS, MEMBERS_FIX),
    "session_timeout_ms": (1, HOUR_MS, "Use e.g. session_timeout_ms=6000 (the brokers' floor), "
                           "or None."),
    "max_poll_interval_ms": (1, 24 * HOUR_MS, "Use e.g. max_poll_interval_ms=300000 "
                             "(librdkafka's default), or None."),
    "leave_after": (1, None), "join_after": (1, None), "stall_at": (0, None),
    "stall_ms": (0, 600_000), "coordinator_fault_at": (1, None),
    "coordinator_heal_after_s": (0, 60), "time_limit_s": (None, 3600),
    "input_rate": (0, 1_000_000, "Use e.g. input_rate=100 messages per second, or 0 for as fast "
                   "as the input producer can."),
}


@dataclass
class ConsumerExperiment:
    """A delivery model, a crash schedule and the knobs of its loop."""

    model: str = AT_LEAST_ONCE
    messages: int = 200
    crash: CrashSpec | None = None
    commit_every: int | None = 10  # at-least-once / idempotent-consumer: commit after K messages;
    # at-most-once: commit batches of K before processing them
    commit_interval_ms: int | None = None  # at-least-once: also commit every T ms
    auto_commit_interval_ms: int = 1000  # auto-commit models (auto.commit.interval.ms)
    transaction_size: int = 10  # exactly-once: input messages per transaction
    # exactly-once: processing these input records fails (once each); the loop aborts the
    # transaction and carries on, rewinding to the committed offsets if `rewind`
    abort_at: tuple[int, ...] = ()
    rewind: bool = True
    processing_ms: float = 0.0  # simulated work per message (every model), before its effect
    partitions: int = 1
    keys: int = 8
    fault: FaultSpec | None = None
    consumer_config: dict[str, Any] = field(default_factory=dict)
    in_flight_ms: float = 2.0  # commit-in-flight: how long the request travels before the kill
    # --- group membership (see workers/membership.py) ---
    membership: str = "assign"  # "assign": one worker owns every partition; "group": subscribe()
    members: int = 1  # group mode: this many members, each its own supervised OS process
    group_protocol: str = "classic"  # group.protocol: "classic" or "consumer" (KIP-848)
    assignor: str | None = None  # partition.assignment.strategy (classic only)
    static: bool = False  # group.instance.id per member: a restart keeps its partitions
    session_timeout_ms: int | None = None  # session.timeout.ms (classic only)
    max_poll_interval_ms: int | None = None  # max.poll.interval.ms
    commit_on_revoke: bool = False  # on_revoke commits the processed tail of what is going
    leaving_member: int | None = None  # scale-in: this member leaves cleanly mid-run …
    leave_after: int | None = None  # … once the group processed this many records
    joining_member: int | None = None  # scale-out: this member starts only …
    join_after: int | None = None  # … once the group processed this many records
    stall_at: int | None = None  # too slow: processing this input record takes stall_ms more
    stall_ms: float = 0.0
    # The payment each input message carries: input message i carries payment number
    # input_payments[i] of data/payments.jsonl (None: payment i). The story's charging stage sets
    # it to what the checkout's read-back found, so a payment lost at checkout is never charged.
    input_payments: tuple[int, ...] | None = None
    # The input's producer is an application that resends (workers/producer.py, resend): it dies
    # before flush on this schedule (point "before-flush") and, restarted, sends again what it
    # had not seen confirmed — the same message ids, at new offsets, from a new producer id.
    input_resend: CrashSpec | None = None
    dedupe: bool = False  # idempotent-consumer: skip a message id the store already holds
    # the input topic's configs, e.g. {"retention.ms": "2000", "segment.ms": "200"}: retention
    # overtaking a consumer that lags (stall_at, stall_ms)
    topic_config: dict[str, str] = field(default_factory=dict)
    input_rate: float = 0.0  # the input's pace (messages per second; 0: as fast as it can),
    # so a small segment.ms rolls segments while it is written; paced, it goes one record per batch
    scenario: str | None = None  # "scenario-2-applied" / "scenario-2-lost" (coordinator nemesis)
    coordinator_fault: str | None = None  # kill-/pause-/restart-coordinator mid-run …
    coordinator_fault_at: int | None = None  # … once this many records were processed (default: half)
    coordinator_heal_after_s: float = 3.0
    time_limit_s: float = 90.0
    seed: int = 1
    label: str | None = None

    def check(self) -> "ConsumerExperiment":
        check_fields(self, RANGES)
        if self.model not in MODELS:
            close = [m for m in MODELS if m.replace("-", "") == str(self.model).replace("-", "").replace("_", "")]
            raise LabError(f"Unknown delivery model {self.model!r}.",
                           (f"Did you mean {close[0]!r}? " if close else "") +
                           f"Use one of {', '.join(MODELS)}.")
        check_messages(self.messages, "Use e.g. messages=200.")
        if self.input_payments is not None and len(self.input_payments) != self.messages:
            raise LabError(f"input_payments holds {len(self.input_payments)} payments for "
                           f"messages={self.messages}.", "Give one payment number per message.")
        require_whole("partitions", self.partitions, "Use 1 (ordering is per partition) or a few.")
        require_whole("keys", self.keys, "Use e.g. keys=8.")
        if self.commit_every is not None:
            require_whole("commit_every", self.commit_every, "Use e.g. commit_every=10, or None.")
        require_whole("transaction_size", self.transaction_size, "Use e.g. transaction_size=10.")
        if self.crash is not None:
            self.crash.check(self.model)
        if self.fault is not None:
            self.fault.check()
        require_seconds("time_limit_s", self.time_limit_s, "Use e.g. time_limit_s=60.")
        check_consumer_config(self.consumer_config)
        check_group(self)
        self.abort_at = tuple(self.abort_at or ())
        if self.abort_at and self.model != EXACTLY_ONCE:
            raise LabError(f"abort_at={self.abort_at!r} makes the exactly-once loop abort a "
                           f"transaction; {self.model} has no transaction to abort.",
                           "Run the exactly-once model, or leave abort_at out.")
        if not self.rewind and not self.abort_at:
            raise LabError("rewind=False changes only what the exactly-once loop does after an "
                           "abort, and abort_at names no input whose processing fails.",
                           "Give abort_at too, e.g. abort_at=(15,) with model='exactly-once', "
                           "or leave rewind=True.")
        bad = [i for i in self.abort_at if isinstance(i, bool) or not isinstance(i, int)
               or not 0 <= i < self.messages]
        if bad:
            raise LabError(f"abort_at={self.abort_at!r}: {bad[0]!r} is not an input record of the "
                           f"run (messages={self.messages} are numbered 0 to {self.messages - 1}).",
                           f"Use input numbers from 0 to {self.messages - 1}, e.g. abort_at=(15,).")
        if self.commit_interval_ms is not None and self.model != AT_LEAST_ONCE:
            raise LabError(f"commit_interval_ms={self.commit_interval_ms} is a knob of the "
                           f"at-least-once worker; {self.model} would ignore it.",
                           "Use model='at-least-once', or commit_interval_ms=None.")
        if (self.stall_at is None) != (not self.stall_ms):
            raise LabError(f"stall_at={self.stall_at!r}, stall_ms={self.stall_ms!r}: a stall needs "
                           "both (the input index, and how long its processing takes more).",
                           "E.g. stall_at=50, stall_ms=8000; or neither.")
        for name in ("stall_at", "leave_after", "join_after", "coordinator_fault_at"):
            value = getattr(self, name)
            if value is not None and value >= self.messages:
                raise LabError(f"{name}={value} is past the run's last message "
                               f"(messages={self.messages}): it would never happen.",
                               f"Use a number below {self.messages}.")
        if self.input_resend is not None:
            self.input_resend.check(PRODUCER)
            if self.membership != "assign":
                raise LabError(f"input_resend with membership={self.membership!r}: the resending "
                               "input producer is only offered to a run of one worker.",
                               "Use membership='assign', or input_resend=None.")
        if not isinstance(self.dedupe, bool):
            raise LabError(f"dedupe={self.dedupe!r} is not True or False.",
                           "Use dedupe=True (skip a message id already stored) or False.")
        if self.dedupe and self.model != IDEMPOTENT_CONSUMER:
            raise LabError(f"dedupe=True is a knob of the {IDEMPOTENT_CONSUMER} worker (its store "
                           f"looks the message id up in the same transaction); {self.model} would "
                           "ignore it.", f"Use model={IDEMPOTENT_CONSUMER!r}, or dedupe=False.")
        if self.coordinator_fault is not None and self.coordinator_fault not in COORDINATOR_FAULTS:
            raise LabError(f"Unknown coordinator fault {self.coordinator_fault!r}.",
                           f"Use one of {', '.join(COORDINATOR_FAULTS)}.")
        if self.coordinator_fault and self.scenario:
            raise LabError(f"{self.scenario} already places its own coordinator fault.",
                           "Leave coordinator_fault=None, or drop the scenario.")
        if self.scenario is not None and self.crash is None:
            # In the middle of a commit batch past the run's middle: earlier commits have set
            # up the connection to the coordinator (REFERENCE: a cold one never sends).
            every = self.commit_every or 10
            self.crash = CrashSpec("commit-in-flight", at=((self.messages // 2 // every) * every + every // 2,))
        return self


def run_consumer(spec: ConsumerExperiment, cluster: Cluster | None = None,
                 progress: Progress | None = None, keep: bool = False) -> Result:
    spec.check()
    cluster = cluster or connect(min_brokers=3 if spec.fault else 1)
    if spec.fault:
        spec.fault.check(cluster)
    check_group_on(spec, cluster)  # what the brokers would refuse, before anything starts
    if spec.coordinator_fault and (cluster.kind == "external" or cluster.size < 3):
        raise LabError(f"Fault {spec.coordinator_fault!r} needs a lab cluster of 3 brokers; "
                       f"{cluster.bootstrap_servers} is {cluster.kind}, {cluster.size} broker(s).",
                       "Run `deliverylab cluster up --brokers 3`.")
    with Run(cluster, spec.model, keep) as run:
        topic = run.topic(f"lab-{spec.model}", spec.partitions, config=spec.topic_config)
        group = run.group(topic)
        run.group_linger_s = max(run.group_linger_s, member_linger_s(asdict(spec)))
        output = run.topic(f"lab-{spec.model}-out", spec.partitions) if spec.model == EXACTLY_ONCE else None
        if output:  # one per member in a group (workers/exactly_once.py)
            for m in range(spec.members) if spec.membership == "group" else (None,):
                run.transactional_id(topic, m)
        deadline = time.time() + spec.time_limit_s
        resending = {"role_crash": {PRODUCER: asdict(spec.input_resend)}, "resend": True,
                     "producer_config": RELIABLE_PRODUCER, "rate": INPUT_RESEND_RATE,
                     "flush_timeout_s": 30} if spec.input_resend else {}
        run.write_spec({**asdict(spec), "topic": topic, "output_topic": output,
                        "group_id": group, "transactional_id": transactional_id(topic),
                        "deadline": deadline, "crash": asdict(spec.crash) if spec.crash else None,
                        **resending})
        run.ledger.set_meta(kind=CONSUMER, model=spec.model, topic=topic, t0=run.t0)
        grouped = spec.membership == "group"
        if not grouped:
            run.supervise(PRODUCER if spec.input_resend else INPUT, deadline)

        def write_input() -> None:
            # A group's input is written only once the group stands (members.wait_for_group):
            # crashes, faults and leaves then strike a stable group whose every member holds
            # partitions, never the start-up rebalances (issue 20).
            ledger = Ledger(run.ledger.path)  # this thread's own connection
            try:
                run.supervise(INPUT, deadline, ledger=ledger)
            finally:
                ledger.close()

        with closing(Store(run.dir / "store.sqlite")) as store:
            def processed() -> int:
                return store.conn.execute("SELECT COUNT(*) FROM effects").fetchone()[0]
            tick = run.ticker(processed, spec.messages, progress)

            starting = [m for m in range(spec.members) if m != spec.joining_member]

            def stands(events):  # every starting member holds partitions, each partition one
                return group_stands(events, starting, spec.partitions)

            def work() -> Supervision:
                if spec.membership == "group":
                    return run.supervise_members(spec.model, deadline, spec.members, tick,
                                                 processed, spec.joining_member, spec.join_after,
                                                 once_standing=write_input,
                                                 stands=stands)
                return run.supervise(spec.model, deadline, tick=tick)
            nemeses: list = []
            if spec.scenario:
                nemeses.append(Scenario2(cluster, spec.scenario, group, topic, spec.partitions,
                                         run.ledger.path))
            if spec.coordinator_fault:
                nemeses.append(CoordinatorFault(cluster, spec.coordinator_fault, group,
                                                run.ledger.path, processed,
                                                spec.coordinator_fault_at or spec.messages // 2,
                                                spec.coordinator_heal_after_s))
            if spec.fault and spec.fault.kind != "none":
                nemeses.append(BrokerNemesis(cluster, spec.fault, topic, run.ledger.path, processed))
            report = run.with_nemeses(nemeses, work)
            tick.finish()
            if spec.membership == "group" or spec.coordinator_fault:
                try:
                    run.ledger.set_meta(coordinator=find_coordinator(cluster, group, 5))
                except LabError:
                    pass  # the summary says None: no coordinator answered
        if spec.fault:
            cluster.wait_for_full_isr(topic, spec.partitions)
        if RETENTION_MS in spec.topic_config:  # where the log starts now, by Kafka's own tool
            run.ledger.set_meta(log_start_by_tool=json.dumps(
                log_start_offsets(cluster.bootstrap_servers, topic)))
        faulted = bool(spec.fault and spec.fault.kind != "none") or bool(spec.scenario or spec.coordinator_fault)  # a leader may have moved
        views = {"input": (topic, "read_committed")}
        if output:
            views.update({"output-committed": (output, "read_committed"),
                          "output-uncommitted": (output, "read_uncommitted")})
        run.read_backs(views, spec.partitions, after_fault=faulted)
        result = consumer_result(run.dir, spec, cluster.bootstrap_servers, report.timed_out)
        result.summary.update(run.kept())
        return result

"""Spec → run → Result: the only API a notebook needs.

A consumer experiment writes N input messages, runs the delivery model's worker (restarting it
after every crash), optionally fails a broker meanwhile, reads the topics back, and counts every
message's outcome from the ledger and the read-back. A producer experiment does the same for the
producer settings under a broker fault.
"""
from __future__ import annotations

import time
from contextlib import closing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from . import checker, diagnose
from .cluster import Cluster, connect
from .config_check import check_consumer_config, check_producer_config
from .crash import CrashSpec
from .errors import LabError, require_whole
from .nemesis import (COORDINATOR_FAULTS, READ_WHILE_HEALING, BrokerNemesis, CoordinatorFault,
                      FaultSpec, Scenario2, find_coordinator, seeded_fault)
from .ids import check_messages, index_of
from .ledger import Ledger, Store, read_tables
from .members import check_group
from . import group_result
from .results import Result
from .runs import Progress, Run
from .supervisor import Supervision
from .topics import transactional_id
from .vocabulary import (CONSUMER, CRASH, CRASH_POINTS, EXACTLY_ONCE, INPUT, MODELS, PRODUCER,
                         RESTART, AT_LEAST_ONCE)

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
    scenario: str | None = None  # "scenario-2-applied" / "scenario-2-lost" (coordinator nemesis)
    coordinator_fault: str | None = None  # kill-/pause-/restart-coordinator mid-run …
    coordinator_fault_at: int | None = None  # … once this many records were processed (default: half)
    coordinator_heal_after_s: float = 3.0
    time_limit_s: float = 90.0
    seed: int = 1
    label: str | None = None

    def check(self) -> "ConsumerExperiment":
        if self.model not in MODELS:
            close = [m for m in MODELS if m.replace("-", "") == str(self.model).replace("-", "").replace("_", "")]
            raise LabError(f"Unknown delivery model {self.model!r}.",
                           (f"Did you mean {close[0]!r}? " if close else "") +
                           f"Use one of {', '.join(MODELS)}.")
        check_messages(self.messages, "Use e.g. messages=200.")
        require_whole("partitions", self.partitions, "Use 1 (ordering is per partition) or a few.")
        require_whole("keys", self.keys, "Use e.g. keys=8.")
        if self.commit_every is not None:
            require_whole("commit_every", self.commit_every, "Use e.g. commit_every=10, or None.")
        require_whole("transaction_size", self.transaction_size, "Use e.g. transaction_size=10.")
        if self.crash is not None:
            self.crash.check(self.model)
        if self.fault is not None:
            self.fault.check()
        if not (isinstance(self.time_limit_s, (int, float)) and self.time_limit_s > 0):
            raise LabError(f"time_limit_s={self.time_limit_s!r} must be a positive number of seconds.",
                           "Use e.g. time_limit_s=60.")
        check_consumer_config(self.consumer_config)
        check_group(self)
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


@dataclass
class ProducerExperiment:
    """Producer settings (librdkafka keys, verbatim) under a broker fault."""

    messages: int = 1000
    config: dict[str, Any] = field(default_factory=lambda: {"acks": "all"})
    fault: FaultSpec | None = None
    crash: CrashSpec | None = None  # before-flush
    rate: float = 1000.0  # messages per second; 0 = as fast as the producer can
    partitions: int = 1
    replication_factor: int | None = None  # default: 3 on three brokers
    topic_config: dict[str, str] = field(default_factory=dict)  # e.g. {"min.insync.replicas": "2"}
    keys: int = 8
    time_limit_s: float = 90.0
    seed: int = 1
    label: str | None = None

    def check(self) -> "ProducerExperiment":
        check_messages(self.messages, "Use e.g. messages=1000.")
        require_whole("partitions", self.partitions, "Use 1 (ordering is per partition) or a few.")
        require_whole("keys", self.keys, "Use e.g. keys=8.")
        if not isinstance(self.rate, (int, float)) or self.rate < 0:
            raise LabError(f"rate={self.rate!r} must be ≥ 0 messages per second.",
                           "Use e.g. rate=1000, or 0 for as fast as possible.")
        if self.crash is not None:
            self.crash.check(PRODUCER)
        if self.fault is not None:
            self.fault.check()
        check_producer_config(self.config)
        return self


def _run_meta(run_dir: Path) -> dict[str, str]:
    with closing(Ledger(run_dir / "ledger.sqlite")) as led:
        return led.meta()


def _recorded(run_dir: Path, store: Path | None = None) -> tuple[dict[str, str], float,
                                                                 dict[str, pd.DataFrame], pd.DataFrame]:
    """A finished run as the checker reads it: its meta, t0, every table, and what was sent.
    With a store, tables["effects"] is there even when no worker wrote one (nothing processed)."""
    meta = _run_meta(run_dir)
    tables = read_tables(run_dir / "ledger.sqlite", store)
    if store is not None:
        tables.setdefault("effects", pd.DataFrame(columns=["msg_id", "key", "seq", "t"]))
    return meta, float(meta["t0"]), tables, _sent_frame(tables["sends"])


def _events(tables: dict[str, pd.DataFrame], t0: float) -> pd.DataFrame:
    ev = tables["events"].copy()
    ev["t"] = ev["t"] - t0
    return ev[["t", "kind", "worker", "pid", "detail"]]


def _worker_course(events: pd.DataFrame, timed_out: bool, crash: CrashSpec | None) -> dict[str, Any]:
    """How a consumer-side run's workers fared, from its events: crashes, restarts, elapsed_s
    (the last event), timed_out and the crash point asked for."""
    return {"crashes": int((events.kind == CRASH).sum()),
            "restarts": int((events.kind == RESTART).sum()),
            "elapsed_s": round(float(events.t.max()) if len(events) else 0.0, 3),
            "timed_out": bool(timed_out), "crash_point": crash.point if crash else None}


def _sent_frame(sends: pd.DataFrame) -> pd.DataFrame:
    sent = sends.drop_duplicates("msg_id").copy()
    sent["index"] = sent["msg_id"].map(index_of).astype(int)
    return sent.sort_values("index").reset_index(drop=True)


def _copies_timeline(rows: pd.DataFrame, t0: float) -> pd.DataFrame:
    tl = rows.sort_values("t").copy() if len(rows) else rows.copy()
    tl["t"] = tl["t"] - t0
    tl["index"] = tl["msg_id"].map(index_of).astype(int) if len(tl) else pd.Series(dtype=int)
    tl["copy"] = tl.groupby("msg_id").cumcount() + 1 if len(tl) else pd.Series(dtype=int)
    return tl


# --- consumer experiments ----------------------------------------------------------------------
def run_consumer(spec: ConsumerExperiment, cluster: Cluster | None = None,
                 progress: Progress | None = None, keep: bool = False) -> Result:
    spec.check()
    cluster = cluster or connect(min_brokers=3 if spec.fault else 1)
    if spec.fault:
        spec.fault.check(cluster)
    if spec.coordinator_fault and (cluster.kind == "external" or cluster.size < 3):
        raise LabError(f"Fault {spec.coordinator_fault!r} needs a lab cluster of 3 brokers; "
                       f"{cluster.bootstrap_servers} is {cluster.kind}, {cluster.size} broker(s).",
                       "Run `deliverylab cluster up --brokers 3`.")
    with Run(cluster, spec.model, keep) as run:
        topic = run.topic(f"lab-{spec.model}", spec.partitions)
        group = run.group(topic)
        output = run.topic(f"lab-{spec.model}-out", spec.partitions) if spec.model == EXACTLY_ONCE else None
        if output:  # one per member in a group (workers/exactly_once.py)
            for m in range(spec.members) if spec.membership == "group" else (None,):
                run.transactional_id(topic, m)
        deadline = time.time() + spec.time_limit_s
        run.write_spec({**asdict(spec), "topic": topic, "output_topic": output,
                        "group_id": group, "transactional_id": transactional_id(topic),
                        "deadline": deadline, "crash": asdict(spec.crash) if spec.crash else None})
        run.ledger.set_meta(kind=CONSUMER, model=spec.model, topic=topic, t0=run.t0)
        run.supervise(INPUT, deadline)

        with closing(Store(run.dir / "store.sqlite")) as store:
            def processed() -> int:
                return store.conn.execute("SELECT COUNT(*) FROM effects").fetchone()[0]
            tick = run.ticker(processed, spec.messages, progress)

            def work() -> Supervision:
                if spec.membership == "group":
                    return run.supervise_members(spec.model, deadline, spec.members, tick,
                                                 processed, spec.joining_member, spec.join_after)
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
        faulted = bool(spec.fault and spec.fault.kind != "none") or bool(spec.scenario or spec.coordinator_fault)  # a leader may have moved
        views = {"input": (topic, "read_committed")}
        if output:
            views.update({"output-committed": (output, "read_committed"),
                          "output-uncommitted": (output, "read_uncommitted")})
        run.read_backs(views, spec.partitions, after_fault=faulted)
        result = consumer_result(run.dir, spec, cluster.bootstrap_servers, report.timed_out)
        result.summary.update(run.kept())
        return result


def consumer_result(run_dir: Path, spec: ConsumerExperiment, bootstrap: str,
                    timed_out: bool = False) -> Result:
    """Count a consumer run from its ledger, its store and its read-backs (no Kafka I/O)."""
    meta, t0, tables, sent = _recorded(run_dir, run_dir / "store.sqlite")
    effects = tables["effects"]
    rb = tables["readback"]
    if spec.model == EXACTLY_ONCE:
        committed = rb[rb.reader == "output-committed"].sort_values(["partition", "offset"])
        uncommitted = rb[rb.reader == "output-uncommitted"]
        observed = committed
    else:
        observed = effects
    messages = checker.consumer_outcomes(sent, observed)
    summary = checker.consumer_summary(messages, observed)
    events = _events(tables, t0)
    summary.update({
        "model": spec.model, "topic": meta["topic"], "bootstrap": bootstrap,
        "output_topic": None, **_worker_course(events, timed_out, spec.crash),
        "label": spec.label or spec.model, "commit_every": spec.commit_every,
    })
    summary.update(checker.commit_counts(tables["commits"]))  # the ledger's commits table
    extra = {}
    if spec.membership == "group" or spec.scenario or spec.coordinator_fault:
        group = group_result.summarise(asdict(spec), tables, effects, t0, meta.get("coordinator"))
        summary.update(group.pop("summary"))
        extra.update(group)
    input_rb = rb[rb.reader == "input"]
    summary["input_records"] = int(len(input_rb))
    if spec.model == EXACTLY_ONCE:
        store_outcomes = checker.consumer_outcomes(sent, effects)
        summary.update({
            "output_topic": _output_topic(rb),
            "aborted_reads": checker.aborted_reads(committed, uncommitted),
            "uncommitted_duplicated": int(checker.consumer_summary(
                checker.consumer_outcomes(sent, uncommitted), uncommitted)["duplicated"]),
            "store_duplicated": int(checker.consumer_summary(store_outcomes, effects)["duplicated"]),
        })
    timeline = _copies_timeline(effects, t0)
    return Result(CONSUMER, asdict(spec), messages, timeline, events, summary, run_dir,
                  extra=extra,
                  warnings=diagnose.consumer_warnings(asdict(spec), summary, timeline, events))


def _output_topic(rb: pd.DataFrame) -> str | None:
    out = rb[rb.reader == "output-committed"]["topic"]
    return str(out.iloc[0]) if len(out) else None


# --- producer experiments ----------------------------------------------------------------------
def run_producer(spec: ProducerExperiment, cluster: Cluster | None = None,
                 progress: Progress | None = None, keep: bool = False) -> Result:
    spec.check()
    cluster = cluster or connect(min_brokers=3 if spec.fault and spec.fault.kind != "none" else 1)
    if spec.fault:
        spec.fault.check(cluster)
    with Run(cluster, PRODUCER, keep) as run:
        topic = run.topic("lab-producer", spec.partitions, spec.replication_factor, spec.topic_config)
        cluster.wait_for_leader(topic)
        deadline = time.time() + spec.time_limit_s
        run.write_spec({**asdict(spec), "topic": topic, "deadline": deadline,
                        "producer_config": spec.config,
                        "crash": asdict(spec.crash) if spec.crash else None,
                        "flush_timeout_s": max(5.0, spec.time_limit_s - 5)})
        run.ledger.set_meta(kind=PRODUCER, topic=topic, t0=run.t0)

        def sent() -> int:
            return run.ledger.conn.execute("SELECT COUNT(*) FROM sends").fetchone()[0]

        def reported() -> int:  # the fault is armed by delivery reports: the log is really growing
            return run.ledger.conn.execute("SELECT COUNT(*) FROM acks").fetchone()[0]
        faulted = bool(spec.fault and spec.fault.kind != "none")

        def read_back() -> None:
            cluster.wait_for_leader(topic)
            run.read_back(topic, spec.partitions, reader="topic", after_fault=faulted)
        early = spec.fault is not None and spec.fault.kind in READ_WHILE_HEALING
        tick = run.ticker(sent, spec.messages, progress)
        nemeses = [BrokerNemesis(cluster, spec.fault, topic, run.ledger.path, reported)] if faulted else []
        report = run.with_nemeses(nemeses, lambda: run.supervise(PRODUCER, deadline, tick=tick),
                                  meanwhile=read_back if early else None)
        tick.finish()
        cluster.wait_for_full_isr(topic, spec.partitions)  # the next run starts on a whole cluster
        if not early:
            read_back()  # the old leader is back in the ISR: it has truncated to the new one's log
        result = producer_result(run.dir, spec, cluster.bootstrap_servers, report.timed_out)
        result.summary.update(run.kept())
        return result


def producer_result(run_dir: Path, spec: ProducerExperiment, bootstrap: str,
                    timed_out: bool = False) -> Result:
    meta, t0, tables, sent = _recorded(run_dir)
    readback = tables["readback"].sort_values(["partition", "offset"])
    messages = checker.producer_outcomes(sent, tables["acks"], readback)
    summary = checker.producer_summary(messages, readback)
    events = _events(tables, t0)
    acks = tables["acks"].copy()
    acks["t"] = acks["t"] - t0
    acks["index"] = acks["msg_id"].map(index_of).astype(int)
    acks["outcome"] = acks["error"].fillna("ok")
    summary.update({
        "topic": meta["topic"], "bootstrap": bootstrap,
        "crashes": int((events.kind == CRASH).sum()),
        "elapsed_s": round(float(events.t.max()) if len(events) else 0.0, 3),
        "timed_out": bool(timed_out), "label": spec.label or _producer_label(spec.config),
        "fault": spec.fault.kind if spec.fault else "none",
        **{k: str(v) for k, v in spec.config.items()},
    })
    timeline = acks[["t", "index", "msg_id", "outcome"]]
    return Result(PRODUCER, asdict(spec), messages, timeline, events, summary, run_dir,
                  warnings=diagnose.producer_warnings(asdict(spec), summary, timeline, events))


def _producer_label(config: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in config.items()) or "defaults"


def run(spec: ConsumerExperiment | ProducerExperiment, **kwargs: Any) -> Result:
    """Run either kind of experiment."""
    if isinstance(spec, ConsumerExperiment):
        return run_consumer(spec, **kwargs)
    if isinstance(spec, ProducerExperiment):
        return run_producer(spec, **kwargs)
    raise LabError(f"{spec!r} is not an experiment spec.",
                   "Pass a ConsumerExperiment(...) or a ProducerExperiment(...).")


__all__ = ["ConsumerExperiment", "CrashSpec", "FaultSpec", "MODELS", "ProducerExperiment",
           "CRASH_POINTS", "run", "run_consumer", "run_producer", "seeded_fault"]

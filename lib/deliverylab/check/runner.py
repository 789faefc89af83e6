"""Runs a check: the input written, the code under check supervised and restarted, crashes and
faults applied, the group's lag waited out, the output read back, every id counted, the verdict.

The one module of check/ that builds a run (folder, ledger, topics, group, supervision,
read-back, cleanup); `deliverylab check` and `check.consumer(...)` differ only in what they start.
"""
from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import pandas as pd

from .. import checker, history
from ..cluster import Cluster, connect
from ..config_check import check_consumer_config, check_producer_config
from ..errors import LabError, require_seconds, require_whole
from ..fields import check_fields
from ..topics import MAX_PARTITIONS, PARTITIONS_FIX
from ..nemesis import BrokerNemesis, FaultSpec, seeded_fault
from ..ids import check_messages, index_of
from ..ledger import Ledger
from ..results import Result
from ..runs import Run
from ..supervisor import Supervision, supervise
from . import mistakes
from .guarantees import Guarantee
from .lag import GroupLag
from .contract import command_line, environment, last_line
from .watcher import Watcher
from .schedule import CrashPlan
from .report import Report
from .verdict import judge
from ..vocabulary import FAULT, INPUT, RESTART, START, WORKER_ERROR

@dataclass
class Plan:
    """What a check runs, checked: the same fields for a function and for a program."""

    mode: str  # consumer | transactional | producer | program
    subject: str
    guarantee: Guarantee
    messages: int = 200
    partitions: int = 1
    crashes: int = 5
    seed: int = 1
    fault: str | None = None
    processing_ms: float = 0.0
    consumer_config: dict[str, Any] = field(default_factory=dict)
    producer_config: dict[str, Any] = field(default_factory=dict)
    rate: float = 0.0
    keys: int = 8
    time_limit_s: float = 120.0
    stall_s: float = 15.0
    keep: bool = False
    function: bytes | None = None  # the pickled function (function modes)
    function_name: str = ""
    argv: list[str] = field(default_factory=list)  # the program's command line (program mode)

    def check(self) -> "Plan":
        check_fields(self, {"partitions": (1, MAX_PARTITIONS, PARTITIONS_FIX), "keys": (1, 10_000),
                            "processing_ms": (0, 60_000), "rate": (0, 1_000_000),
                            "time_limit_s": (None, 3600), "stall_s": (None, 3600)})
        check_messages(self.messages, "Use e.g. messages=200.")
        require_whole("partitions", self.partitions, "Use 1 (ordering is per partition) or a few.")
        require_whole("keys", self.keys, "Use e.g. keys=8.")
        for name in ("processing_ms", "rate"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise LabError(f"{name}={value!r} must be a number ≥ 0.",
                               f"Use e.g. {name}=0 (none) or {name}=5.")
        for name in ("time_limit_s", "stall_s"):
            require_seconds(name, getattr(self, name), f"Use e.g. {name}=60.")
        check_consumer_config(self.consumer_config)
        check_producer_config(self.producer_config)
        return self

    @property
    def role(self) -> str:
        return "program" if self.mode == "program" else "function"

    @property
    def has_output(self) -> bool:
        return self.mode in ("transactional", "program")


def run(plan: Plan, cluster: Cluster | None = None) -> Report:
    plan.check()
    fault = seeded_fault(plan.fault, plan.messages, plan.seed) if plan.fault else None
    if fault is not None:
        fault.check()
    cluster = cluster or connect(min_brokers=3 if fault else 1)
    if fault is not None:
        fault.check(cluster)
    with Run(cluster, f"check-{plan.mode}", keep=plan.keep) as run_:
        return _run(plan, cluster, run_, fault)


def _run(plan: Plan, cluster: Cluster, run_: Run, fault: FaultSpec | None) -> Report:
    producer = plan.mode == "producer"
    topic = run_.topic(f"check-{plan.mode}", plan.partitions)
    output = run_.topic(f"check-{plan.mode}-out", plan.partitions) if plan.has_output else None
    group = run_.group(topic)
    deadline = time.time() + plan.time_limit_s
    spec: dict[str, Any] = {
        "mode": plan.mode, "topic": topic, "output_topic": output, "group_id": group,
        "instance_id": f"{topic}-member", "transactional_id": run_.transactional_id(topic),
        "messages": plan.messages, "partitions": plan.partitions, "keys": plan.keys,
        "crashes": plan.crashes, "seed": plan.seed, "processing_ms": plan.processing_ms,
        "consumer_config": plan.consumer_config, "producer_config": plan.producer_config,
        "rate": plan.rate, "deadline": deadline, "function_name": plan.function_name, "ends": {}}
    run_.ledger.set_meta(kind="check", mode=plan.mode, topic=topic, t0=run_.t0)
    if not producer:
        run_.write_spec(spec)
        run_.supervise(INPUT, deadline)
        spec["ends"] = dict(run_.ledger.conn.execute(
            'SELECT partition, MAX("offset") + 1 FROM acks WHERE "offset" >= 0 GROUP BY partition'))
    run_.write_spec(spec)
    ends = {int(p): int(e) for p, e in spec["ends"].items()}
    lag = GroupLag(cluster.client_config(), group, topic, ends) if not producer else None
    watcher = None
    try:
        if plan.mode == "program":
            watcher = _watcher(plan, cluster, run_, output, ends, lag)
        course = _supervise(plan, run_, spec, deadline, fault, lag, watcher,
                            fault_topic=output or topic)
        if lag is not None:
            committed = lag.committed()
            left = lag.left(committed) if committed is not None else None
        else:
            left = 0
    finally:
        if watcher is not None:
            watcher.stop()
        if lag is not None:
            lag.close()
    if course.timed_out:
        raise LabError(f"The check of {plan.subject} reached its time limit of "
                       f"{plan.time_limit_s:.0f} s"
                       + (f" with {left} input records not yet committed" if left else "") + ".",
                       "Give it longer (time_limit_s= / --time-limit), or fewer records.")
    faulted = fault is not None
    if faulted:
        cluster.wait_for_full_isr(output or topic, plan.partitions)
    _read_back(plan, run_, topic, output, faulted)
    notes = []
    if left:
        notes.append(f"At the end the group still had {left} input records uncommitted: the "
                     "code stopped (or was stopped) without committing them, so a restart "
                     "would process them again.")
    return _report(plan, run_, watcher, notes)


def _watcher(plan: Plan, cluster: Cluster, run_: Run, output: str | None,
             ends: dict[int, int], lag: GroupLag | None) -> Watcher:
    positions = {m: (int(p), int(o)) for m, p, o in run_.ledger.conn.execute(
        'SELECT msg_id, partition, "offset" FROM acks WHERE "offset" >= 0')}
    w = Watcher(cluster.client_config(), run_.ledger.path, output or "", plan.partitions,
                positions, lag, CrashPlan(plan.crashes, plan.messages, plan.seed), plan.stall_s,
                plan.subject, lambda worker: run_.dir / f"program-{worker}.stderr")
    w.start()
    w.ready.wait(10)
    return w


def _supervise(plan: Plan, run_: Run, spec: dict[str, Any], deadline: float,
               fault: FaultSpec | None, lag: GroupLag | None, watcher: Watcher | None,
               fault_topic: str) -> Supervision:
    env = dict(run_.worker_env)
    if plan.mode == "program":
        values = {"bootstrap": run_.cluster.bootstrap_servers, "input_topic": spec["topic"],
                  "output_topic": spec["output_topic"], "group": spec["group_id"],
                  "transactional_id": spec["transactional_id"]}
        env.update(environment(run_.cluster.client_config(), values))
        argv = command_line(plan.argv, values)

        def command(worker: int) -> list[str]:
            return argv
        standby = False
    else:
        (run_.dir / "function.pkl").write_bytes(plan.function or b"")

        def command(worker: int) -> list[str]:
            return [sys.executable, "-m", "deliverylab.check.worker", str(run_.dir), str(worker)]
        standby = bool(plan.crashes)
    nemeses = [] if fault is None else [
        BrokerNemesis(run_.cluster, fault, fault_topic, run_.ledger.path,
                _progress_clock(plan, run_, watcher))]
    stop = watcher.abort if watcher is not None else None

    def work() -> Supervision:
        return supervise(plan.role, run_.dir, run_.ledger, deadline, env=env, command=command,
                         standby=standby, stop=stop, tick=_stall_watch(plan, run_),
                         again=_again(plan, run_, lag, watcher) if lag is not None else None)
    try:
        return run_.with_nemeses(nemeses, work)
    except KeyboardInterrupt:
        if watcher is not None and watcher.error is not None:
            raise watcher.error from None
        raise
    except LabError as exc:
        raise _worker_error(plan, run_) or exc from None


def _stall_watch(plan: Plan, run_: Run) -> Callable[[], None] | None:
    """A function that hangs (no call the lab sees: no record handed out, no commit, no send,
    no report) for stall_s is a LabError; a program's hang is the watcher's to find."""
    if plan.mode == "program":
        return None
    ledger = run_.ledger
    sql = ("SELECT (SELECT COUNT(*) FROM deliveries) + (SELECT COUNT(*) FROM commits) + "
           "(SELECT COUNT(*) FROM sends) + (SELECT COUNT(*) FROM acks) + "
           "(SELECT COUNT(*) FROM events)")
    state = {"seen": -1, "at": time.monotonic(), "next": 0.0}

    def tick() -> None:
        now = time.monotonic()
        if now < state["next"]:
            return
        state["next"] = now + 0.5
        seen = ledger.conn.execute(sql).fetchone()[0]
        if seen != state["seen"]:
            state["seen"], state["at"] = seen, now
        elif now - state["at"] > plan.stall_s:
            raise LabError(f"{plan.function_name} made no call the lab could see for "
                           f"{plan.stall_s:.0f} s (no record polled, no commit, no send).",
                           "It must keep calling its client: poll (or consume) in a loop, with "
                           "a timeout, e.g. consumer.poll(1.0); stall_s= gives slow work longer.")
    return tick


def _progress_clock(plan: Plan, run_: Run, watcher: Watcher | None) -> Callable[[], int]:
    """What arms the broker fault: records worked on (handed out, seen in the output, acked)."""
    ledger = Ledger(run_.ledger.path)
    sql = {"producer": "SELECT COUNT(*) FROM acks",
           "program": None}.get(plan.mode, "SELECT COUNT(DISTINCT msg_id) FROM deliveries")
    if sql is None:
        return lambda: len(watcher.seen) if watcher is not None else 0
    return lambda: ledger.conn.execute(sql).fetchone()[0]


def _started_by(ledger: Ledger) -> int:
    row = ledger.conn.execute("SELECT worker FROM events WHERE kind IN (?, ?) "
                              "ORDER BY rowid DESC LIMIT 1", (START, RESTART)).fetchone()
    return int(row[0]) if row else 0


def _again(plan: Plan, run_: Run, lag: GroupLag, watcher: Watcher | None) -> Callable[[], bool]:
    """After a clean exit: start the code again while the group has lag and the last start made
    progress; a start that did nothing at all is a LabError (it exits at once, or never reads)."""
    state: dict[str, Any] = {"left": None}

    def again() -> bool:
        committed = None
        for _ in range(10):  # a coordinator that moved answers again within seconds
            committed = lag.committed()
            if committed is not None:
                break
            time.sleep(0.5)
        left = lag.left(committed) if committed is not None else lag.left()
        if left == 0:
            return False
        worker = _started_by(run_.ledger)
        if plan.mode == "program":
            did = (watcher is not None and bool(watcher.seen)) or left < sum(lag.ends.values())
        else:
            did = run_.ledger.conn.execute("SELECT 1 FROM deliveries WHERE worker = ? LIMIT 1",
                                           (worker,)).fetchone() is not None
        if not did:
            raise LabError(*_did_nothing(plan, run_, worker))
        if state["left"] is not None and left >= state["left"]:
            return False  # no commit since its last clean exit: it will not commit the rest
        state["left"] = left
        return True
    return again


def _did_nothing(plan: Plan, run_: Run, worker: int) -> tuple[str, str]:
    row = run_.ledger.conn.execute("SELECT MAX(t) - MIN(t) FROM events WHERE worker = ?",
                                   (worker,)).fetchone()
    took = f" after {row[0]:.1f} s" if row and row[0] is not None else ""
    if plan.mode == "program":
        return (f"{plan.subject} exited (code 0){took} without committing an offset or writing "
                f"an output record{last_line(run_.dir / f'program-{worker}.stderr')}.",
                "A checked program consumes INPUT_TOPIC as member of GROUP_ID until it has caught "
                "up, writing one output record per input record (docs/CHECK.md); check that it "
                "reads the topic and group the lab gives it.")
    return (f"{plan.function_name} returned{took} without polling a single record.",
            "Loop until the lab stops you: `while True: msg = consumer.poll(1.0)` … — once the "
            "input is done, the lab ends the loop by raising InputDone at your next poll.")


def _worker_error(plan: Plan, run_: Run) -> LabError | None:
    """The paragraph for a worker that stopped with an error: the mistake it reported, or, for a
    program, its exit code and last line of output."""
    worker = _started_by(run_.ledger)
    log = run_.dir / f"{plan.role}-{worker}.stderr"
    found = mistakes.read(log)
    row = run_.ledger.conn.execute("SELECT detail FROM events WHERE kind = ? "
                                   "ORDER BY rowid DESC LIMIT 1", (WORKER_ERROR,)).fetchone()
    if found is not None or plan.mode != "program" or row is None:
        return found  # None: the error was not the worker's (it is raised as it came)
    code = json.loads(row[0]).get("code")
    return LabError(f"{plan.subject} stopped with exit code {code}{last_line(log)}.",
                    "Run it by hand with the same environment (KAFKA_BOOTSTRAP_SERVERS, "
                    "INPUT_TOPIC, OUTPUT_TOPIC, GROUP_ID) to see why; keep=True keeps "
                    "its whole output in the run folder.")


def _output_row(positions: dict[str, tuple[str, int]]) -> Callable[[Any, dict[str, Any]], tuple]:
    def row(msg: Any, rec: dict[str, Any]) -> tuple:
        ident = rec.get("id") if isinstance(rec, dict) else None
        key, seq = positions.get(ident, (None, None))
        return (msg.topic(), msg.partition(), msg.offset(), ident, key, seq)
    return row


def _read_back(plan: Plan, run_: Run, topic: str, output: str | None, faulted: bool) -> None:
    if plan.mode == "producer":
        run_.read_back(topic, plan.partitions, reader="topic", after_fault=faulted)
        return
    if output is None:
        return
    keys = {m: (k, s) for m, k, s in run_.ledger.conn.execute("SELECT msg_id, key, seq FROM sends")}
    for reader, isolation in (("output-committed", "read_committed"),
                              ("output-uncommitted", "read_uncommitted")):
        try:
            run_.read_back(output, plan.partitions, reader=reader, isolation=isolation,
                           after_fault=faulted, row=_output_row(keys))
        except (ValueError, KeyError, TypeError):
            raise LabError(f"{plan.subject} wrote output records that are not JSON with an "
                           "input record's id.",
                           "Copy the input record's value into each output record, or write "
                           "JSON with its \"id\" field (docs/CHECK.md).") from None


def _report(plan: Plan, run_: Run, watcher: Watcher | None, notes: list[str]) -> Report:
    store = run_.dir / "store.sqlite"
    _, t0, tables, sent = history.recorded(run_.dir, store if store.exists() else None)
    events = history.events_frame(tables["events"], t0)
    rb = tables["readback"]
    effects = tables.get("effects", pd.DataFrame(columns=["msg_id", "t"]))
    if plan.mode == "producer":
        readback = rb.sort_values(["partition", "offset"])
        outcomes = checker.producer_outcomes(sent, tables["acks"], readback)
        summary = checker.producer_summary(outcomes, readback)
        acks = tables["acks"].copy()
        acks["t"] = acks["t"] - t0
        acks["index"] = acks["msg_id"].map(index_of).astype(int)
        acks["outcome"] = acks["error"].fillna("ok")
        timeline = acks[["t", "index", "msg_id", "outcome"]]
        kind = "producer"
    else:
        if plan.has_output:
            observed = rb[rb.reader == "output-committed"].sort_values(["partition", "offset"])
        else:
            observed = effects
        outcomes = checker.consumer_outcomes(sent, observed)
        summary = checker.consumer_summary(outcomes, observed)
        if plan.has_output:
            summary["aborted_reads"] = checker.aborted_reads(
                observed, rb[rb.reader == "output-uncommitted"])
        seen = pd.DataFrame(watcher.observed, columns=["msg_id", "t"]) if watcher is not None \
            else effects[["msg_id", "t"]]
        timeline = history.copies_timeline(seen, t0)
        kind = "consumer"
    summary.update({**history.worker_course(events, False, None), "label": plan.subject})
    faults = int((events.kind == FAULT).sum())
    verdict = judge(plan.guarantee, outcomes, events, plan.mode, plan.crashes, faults, notes)
    settings = {"claim": plan.guarantee.name, "messages": plan.messages,
                "partitions": plan.partitions, "crashes": plan.crashes, "seed": plan.seed,
                "fault": plan.fault, "processing_ms": plan.processing_ms,
                "consumer_config": plan.consumer_config, "producer_config": plan.producer_config}
    if plan.argv:
        settings["command"] = plan.argv
    summary.update(run_.kept())  # keep=True: the names to inspect it with Kafka's tools
    result = Result(kind, settings, outcomes, timeline, events, summary,
                    run_.dir if plan.keep else None, warnings=verdict.warnings)
    return Report(plan.subject, plan.mode, verdict, result, settings)


__all__ = ["Plan", "run"]

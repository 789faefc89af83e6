"""Retrying failed *processing*: retry topics with growing delays and a dead-letter topic (as in
Uber's "reliable reprocessing"), against blocking retries, on the real cluster.

    spec = RetryPipeline(messages=200, transient_rate=0.1, poison_rate=0.02, delays_ms=(300, 800))
    result = run_retry_pipeline(spec)            # mode="retry-topics" (default) or "blocking"
    result.summary, result.place_counts(), result.messages, result.errors

The pipeline (mode "retry-topics"):

    input ─▶ main ─ok─▶ processed
               └fail─▶ retry-1 (wait d1) ─ok─▶ processed
                           └fail─▶ retry-2 (wait d2) ─ok─▶ processed
                                       └fail─▶ dlt

Mode "blocking": one consumer on the input retries a failing message in place, sleeping d1, d2, …
between attempts, and sends it to the DLT after the last attempt; everything behind it waits.

Which messages fail is seeded per message: a *transient* message fails its first 1..k attempts
and then succeeds; a *poison* message always fails. Every stage is a worker process of its own
(deliverylab.workers.retry_stage: a consumer in its own group plus an idempotent producer),
started and restarted by the supervisor; it forwards a record, waits for the delivery report,
and only then commits its input offset (at-least-once between topics). `crash_at=K` SIGKILLs the
main stage after the batch holding input message K was forwarded and acknowledged, before its
offset commit; the supervisor restarts it from its last commit, so that batch is forwarded twice. Afterwards every topic is read back, and each input message's
final place is counted from what the topics hold — never from what the workers believe they did.
"""
from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd
from confluent_kafka import Producer

from ..clients import RELIABLE_PRODUCER, produce
from ..cluster import Cluster, connect
from ..crash import CrashSpec
from ..errors import LabError, require_seconds, require_whole
from ..fields import check_fields
from ..history import events_frame
from ..ids import check_messages, key_for, msg_id, record, seq_for, value_of
from ..ledger import Ledger, read_tables
from ..readback import Watermarks
from ..results import RetryResult
from ..retry_counts import count_places, retry_summary, topic_counts
from ..runs import Progress, Run
from ..topics import MAX_PARTITIONS, PARTITIONS_FIX, unique_topic
from ..vocabulary import CRASH_POINTS, RETRY, RETRY_BLOCKING, retry_stage
from ..workers.retry_stage import MAX_STAGES, failing_attempts

MODES = ("retry-topics", "blocking")
KINDS = ("ok", "transient", "poison")
CRASH_POINT = CRASH_POINTS[RETRY][0]  # the main stage: its batch forwarded, its commit not yet made

__all__ = ["RetryPipeline", "run_retry_pipeline", "failure_plan", "MODES", "KINDS"]

# The ranges of RetryPipeline's numbers (fields.check_fields)
RANGES = {"max_transient_failures": (1, 10), "processing_ms": (0, 60_000), "commit_every": (1, None),
          "partitions": (1, MAX_PARTITIONS, PARTITIONS_FIX), "keys": (1, 10_000),
          "time_limit_s": (None, 3600)}


@dataclass
class RetryPipeline:
    """What to run: input size, the seeded failure mix, the retry delays and an optional crash."""

    messages: int = 200
    mode: str = "retry-topics"  # or "blocking"
    transient_rate: float = 0.10  # share of messages whose processing fails a few times, then works
    poison_rate: float = 0.02  # share of messages whose processing always fails
    max_transient_failures: int = 2  # a transient message fails 1..this many attempts
    delays_ms: tuple[int, ...] = (300, 800)  # one retry topic per delay (blocking: sleeps)
    processing_ms: float = 0.0  # simulated work per attempt
    commit_every: int = 10  # a stage forwards up to this many records, then commits their offsets
    crash_at: int | None = None  # SIGKILL the main stage after forwarding K's batch, before commit
    partitions: int = 1
    keys: int = 8
    time_limit_s: float = 60.0
    seed: int = 1
    label: str | None = None

    def check(self) -> "RetryPipeline":
        check_fields(self, RANGES)
        if self.mode not in MODES:
            raise LabError(f"Unknown retry mode {self.mode!r}.", f"Use one of {', '.join(MODES)}.")
        check_messages(self.messages, "E.g. messages=200.")
        for name in ("partitions", "keys", "max_transient_failures", "commit_every"):
            require_whole(name, getattr(self, name), "E.g. keys=8.")
        for name in ("transient_rate", "poison_rate"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise LabError(f"{name}={value!r} must be a share between 0 and 1.", "E.g. 0.05.")
        if self.transient_rate + self.poison_rate > 1:
            raise LabError("transient_rate + poison_rate is more than 1.", "Lower one of them.")
        if not self.delays_ms or any(isinstance(d, bool) or not isinstance(d, (int, float))
                                     or not 0 <= d <= 60_000 for d in self.delays_ms):
            raise LabError(f"delays_ms={self.delays_ms!r} needs one delay ≥ 0 per retry topic.",
                           "E.g. delays_ms=(300, 800): retry-1 waits 0.3 s, retry-2 waits 0.8 s (at most "
                           "60000 ms each).")
        if len(self.delays_ms) >= MAX_STAGES:
            raise LabError(f"delays_ms has {len(self.delays_ms)} delays; the lab runs at most "
                           f"{MAX_STAGES - 1} retry topics.", "Use fewer, longer delays.")
        if self.crash_at is not None and (isinstance(self.crash_at, bool) or not isinstance(
                self.crash_at, int) or not 0 <= self.crash_at < self.messages):
            raise LabError(f"crash_at={self.crash_at!r} is not an input message index "
                           f"(0 … {self.messages - 1}).", "E.g. crash_at=messages // 2, or None.")
        require_seconds("time_limit_s", self.time_limit_s, "Use e.g. time_limit_s=60.")
        return self

    @property
    def attempts(self) -> int:
        """Attempts a message gets before the DLT: the first one plus one per retry delay."""
        return 1 + len(self.delays_ms)


def failure_plan(spec: RetryPipeline) -> pd.DataFrame:
    """The seeded schedule: per message its kind and how many attempts fail (poison: inf).
    The stage workers follow the same function (workers.retry_stage.failing_attempts)."""
    rows = []
    for i in range(spec.messages):
        kind, fails = failing_attempts(spec.seed, i, spec.transient_rate, spec.poison_rate,
                                       spec.max_transient_failures)
        rows.append({"msg_id": msg_id(i), "index": i, "key": key_for(i, spec.keys),
                     "seq": seq_for(i, spec.keys), "kind": kind, "fails": fails})
    return pd.DataFrame(rows)


# --- running -------------------------------------------------------------------------------------
class _Pipeline:
    """The pipeline's topics and groups in its run, and what it does with them."""

    def __init__(self, run: Run, spec: RetryPipeline) -> None:
        self.run, self.spec = run, spec
        self.plan = failure_plan(spec).set_index("msg_id")
        base = unique_topic("lab-retry")
        self.input = f"{base}-input"
        self.retries = [f"{base}-retry-{n + 1}" for n in range(len(spec.delays_ms))] \
            if spec.mode == "retry-topics" else []
        self.processed = f"{base}-processed"
        self.dlt = f"{base}-dlt"
        self.stage_of = {self.input: "input", self.processed: "processed", self.dlt: "dlt",
                         **{t: f"retry-{n + 1}" for n, t in enumerate(self.retries)}}
        self.topics = run.create_topics([self.input, *self.retries, self.processed, self.dlt],
                                        spec.partitions)
        for t in (self.input, *self.retries):  # each stage reads its topic in a group of its own
            run.group(t)
        self.errors: list[str] = []

    def write_spec(self, deadline: float) -> None:
        spec = self.spec
        crash = asdict(CrashSpec(CRASH_POINT, at=(spec.crash_at,))) if spec.crash_at is not None \
            else None
        self.run.write_spec({
            **_spec(spec), "stage_topics": [self.input, *self.retries],
            "processed_topic": self.processed, "dlt_topic": self.dlt, "deadline": deadline,
            "crash": crash})

    def write_input(self) -> float:
        """The input, with an idempotent producer; returns when every record is acknowledged."""
        producer = Producer(self.run.client_config(**RELIABLE_PRODUCER))
        failed: list[str] = []

        def on_delivery(err, msg) -> None:
            if err is not None:
                failed.append(err.name())
        for i in range(self.spec.messages):
            rec = {**record(i, self.spec.keys), "created": time.time()}
            produce(producer, self.input, rec["key"].encode(), value_of(rec), on_delivery)
            producer.poll(0)
        left = producer.flush(30)
        if left or failed:
            raise LabError(f"Writing the input failed ({left} undelivered; {failed[:1]}).",
                           "Check `deliverylab cluster status`.")
        return time.time()

    def run_stages(self, deadline: float, progress: Progress | None) -> None:
        """One supervised worker per stage, all at once; stage n is told when stage n-1 is done."""
        roles = [RETRY_BLOCKING] if self.spec.mode == "blocking" else \
            [retry_stage(n) for n in range(1 + len(self.retries))]

        stop = threading.Event()

        def stopping() -> None:  # supervise's tick: kills its worker when the run is stopped
            if stop.is_set():
                raise _Stopped()

        def stage(n: int, role: str) -> None:
            ledger = Ledger(self.run.ledger.path)  # one SQLite connection per thread
            try:
                self.run.supervise(role, deadline, tick=stopping, ledger=ledger)
            except _Stopped:
                self.errors.append(f"{role}: stopped before the end of the run")
            except LabError as exc:
                self.errors.append(f"{role}: {exc.problem}")
            except Exception as exc:  # surfaced in the result, never swallowed
                self.errors.append(f"{role}: {exc!r}")
            finally:
                ledger.close()
                (self.run.dir / f"upstream-done-{n}").touch()  # the next stage may finish now
        threads = [threading.Thread(target=stage, args=(n, r), daemon=True, name=r)
                   for n, r in enumerate(roles)]
        for th in threads:
            th.start()
        # The progress bar: records in the processed topic and the DLT (their high watermarks).
        watch = Watermarks(self.run.client_config(), [self.processed, self.dlt], self.spec.partitions)
        try:
            while any(th.is_alive() for th in threads):
                if progress:
                    progress(min(_finished(watch), self.spec.messages), self.spec.messages)
                for th in threads:
                    th.join(0.3)
        finally:
            # An interrupt (or any error) here must not leave a stage's worker running: each
            # supervisor kills its worker on its next tick.
            stop.set()
            for th in threads:
                th.join(15)
            watch.close()

    def read_back(self) -> pd.DataFrame:
        """Every record of every topic, read to its end (a topic not read to its end raises)."""
        rows: list[dict[str, Any]] = []
        for topic in self.topics:
            stage = self.stage_of[topic]

            def row(msg, rec, stage=stage) -> dict[str, Any]:
                # the topic names the stage (a record's own "stage" field names the one that
                # forwarded it)
                return {**rec, "msg_id": rec["id"], "stage": stage, "partition": msg.partition(),
                        "offset": msg.offset(), "log_time": msg.timestamp()[1] / 1000}
            rows += self.run.read_back(topic, self.spec.partitions, row=row)
        records = pd.DataFrame(rows)
        if len(records):
            records["attempt"] = pd.to_numeric(records.get("attempt"), errors="coerce").astype("Int64")
            t_col = records["at"] if "at" in records else records["created"]
            records["t"] = t_col.fillna(records["created"]) - self.run.t0
        return records


class _Stopped(Exception):
    """The run was stopped (a kernel interrupt): the stage supervisors kill their workers."""


def _finished(watch: Watermarks) -> int:
    try:
        return watch.total(timeout=1)
    except Exception:
        return 0  # a leader moving: the bar waits for the next look


def run_retry_pipeline(spec: RetryPipeline, cluster: Cluster | None = None,
                       progress: Progress | None = None, keep: bool = False) -> RetryResult:
    """Run the pipeline (or the blocking variant) on real topics and count where everything went."""
    spec.check()
    cluster = cluster or connect()
    with Run(cluster, "retry", keep) as run:
        pipe = _Pipeline(run, spec)
        for t in pipe.topics:
            cluster.wait_for_leader(t)
        input_written = pipe.write_input()
        deadline = time.time() + spec.time_limit_s
        pipe.write_spec(deadline)
        pipe.run_stages(deadline, progress)
        elapsed = time.time() - input_written
        timed_out = time.time() > deadline
        if progress:
            progress(spec.messages, spec.messages)
        records = pipe.read_back()
        events = events_frame(read_tables(run.ledger.path)["events"], run.t0)
        messages = count_places(pipe.plan, records)
        summary = retry_summary(spec, messages, records, events, elapsed, timed_out, input_written,
                                len(pipe.errors))
        summary.update(run.kept())
        cols = [c for c in ("stage", "partition", "offset", "msg_id", "key", "seq", "attempt", "t",
                            "error") if c in records]
        return RetryResult(_spec(spec), messages, records[cols] if len(records) else records,
                           topic_counts(records, pipe.topics, pipe.stage_of), summary,
                           {"errors": list(pipe.errors)}, events)


def _spec(spec: RetryPipeline) -> dict[str, Any]:
    d = asdict(spec)
    d["delays_ms"] = list(spec.delays_ms)
    return d



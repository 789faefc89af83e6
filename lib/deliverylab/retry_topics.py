"""Retrying failed *processing*: retry topics with growing delays and a dead-letter topic (as in
Uber's "reliable reprocessing"), against blocking retries, on the real cluster.

    spec = RetryPipeline(messages=200, transient_rate=0.1, poison_rate=0.02, delays_ms=(300, 800))
    result = run_retry_pipeline(spec)            # mode="retry-topics" (default) or "blocking"
    result.summary, result.place_counts(), result.messages

The pipeline (mode "retry-topics"):

    input ─▶ main ─ok─▶ processed
               └fail─▶ retry-1 (wait d1) ─ok─▶ processed
                           └fail─▶ retry-2 (wait d2) ─ok─▶ processed
                                       └fail─▶ dlt

Mode "blocking": one consumer on the input retries a failing message in place, sleeping d1, d2, …
between attempts, and sends it to the DLT after the last attempt; everything behind it waits.

Which messages fail is seeded per message: a *transient* message fails its first 1..k attempts
and then succeeds; a *poison* message always fails. Every stage is a real consumer in its own
group plus an idempotent producer (threads in this process); each stage forwards a record, waits
for the delivery report, and only then commits its input offset (at-least-once between topics).
Afterwards every topic is read back, and each input message's final place is counted from what
the topics hold — never from what the workers believe they did.
"""
from __future__ import annotations

import json
import random
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import pandas as pd
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition

from .checker import reordered_keys
from .cluster import Cluster, connect
from .cluster.base import quiet
from .errors import LabError
from .topics import unique_topic

MODES = ("retry-topics", "blocking")
PROCESSED, DEAD_LETTERED, LOST, DUPLICATED = "processed", "dead-lettered", "lost", "duplicated"
KINDS = ("ok", "transient", "poison")

__all__ = ["RetryPipeline", "RetryResult", "run_retry_pipeline", "failure_plan", "MODES",
           "plot_places", "plot_latency", "retry_panel", "reordered_example", "count_places"]


@dataclass
class RetryPipeline:
    """What to run: input size, the seeded failure mix and the retry delays."""

    messages: int = 200
    mode: str = "retry-topics"  # or "blocking"
    transient_rate: float = 0.10  # share of messages whose processing fails a few times, then works
    poison_rate: float = 0.02  # share of messages whose processing always fails
    max_transient_failures: int = 2  # a transient message fails 1..this many attempts
    delays_ms: tuple[int, ...] = (300, 800)  # one retry topic per delay (blocking: sleeps)
    processing_ms: float = 0.0  # simulated work per attempt
    partitions: int = 1
    keys: int = 8
    time_limit_s: float = 60.0
    seed: int = 1
    label: str | None = None

    def check(self) -> "RetryPipeline":
        if self.mode not in MODES:
            raise LabError(f"Unknown retry mode {self.mode!r}.", f"Use one of {', '.join(MODES)}.")
        for name in ("messages", "partitions", "keys", "max_transient_failures"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise LabError(f"{name}={value!r} must be a whole number ≥ 1.", "E.g. messages=200.")
        for name in ("transient_rate", "poison_rate"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise LabError(f"{name}={value!r} must be a share between 0 and 1.", "E.g. 0.05.")
        if self.transient_rate + self.poison_rate > 1:
            raise LabError("transient_rate + poison_rate is more than 1.", "Lower one of them.")
        if not self.delays_ms or any(not isinstance(d, (int, float)) or d < 0 for d in self.delays_ms):
            raise LabError(f"delays_ms={self.delays_ms!r} needs one delay ≥ 0 per retry topic.",
                           "E.g. delays_ms=(300, 800): retry-1 waits 0.3 s, retry-2 waits 0.8 s.")
        if not (isinstance(self.time_limit_s, (int, float)) and self.time_limit_s > 0):
            raise LabError(f"time_limit_s={self.time_limit_s!r} must be positive.", "E.g. 60.")
        return self

    @property
    def attempts(self) -> int:
        """Attempts a message gets before the DLT: the first one plus one per retry delay."""
        return 1 + len(self.delays_ms)


def failure_plan(spec: RetryPipeline) -> pd.DataFrame:
    """The seeded schedule: per message its kind and how many attempts fail (poison: inf)."""
    rows = []
    for i in range(spec.messages):
        rng = random.Random(f"{spec.seed}:{i}")
        u = rng.random()
        if u < spec.poison_rate:
            kind, fails = "poison", float("inf")
        elif u < spec.poison_rate + spec.transient_rate:
            kind, fails = "transient", 1 + rng.randrange(spec.max_transient_failures)
        else:
            kind, fails = "ok", 0
        rows.append({"msg_id": f"m{i:06d}", "index": i, "key": f"customer-{i % spec.keys:03d}",
                     "seq": i // spec.keys, "kind": kind, "fails": fails})
    return pd.DataFrame(rows)


@dataclass
class RetryResult:
    """One pipeline run, counted from a read-back of every topic.

    messages: one row per input message — msg_id, index, key, seq, kind (ok/transient/poison),
              final (processed/dead-lettered/lost/duplicated), attempts (of the processed copy),
              place ('processed (attempt n)' / 'dead-lettered' / 'lost' / 'duplicated'),
              retry_hops (records of it in retry topics), latency_s (input → final topic).
    records:  every record read back — stage (input/retry-n/processed/dlt), partition, offset,
              msg_id, key, seq, attempt, t (s since the run started).
    topics:   records per topic, in pipeline order.
    summary:  sent, processed, processed_attempt_n, dead_lettered, lost, duplicated,
              reordered_keys, elapsed_s, latency p50/p99/max.
    """

    spec: dict[str, Any]
    messages: pd.DataFrame
    records: pd.DataFrame
    topics: pd.DataFrame
    summary: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return str(self.spec.get("label") or self.spec.get("mode"))

    def place_counts(self) -> pd.DataFrame:
        """How many messages ended where, by kind of message (rows) and place (columns)."""
        table = pd.crosstab(self.messages["kind"], self.messages["place"], margins=True,
                            margins_name="total")
        return table

    def summary_frame(self) -> pd.DataFrame:
        return pd.DataFrame([self.summary])

    def _repr_html_(self) -> str:
        return self.summary_frame().to_html(index=False)


# --- the workers -------------------------------------------------------------------------------
class _Pipeline:
    """Topics, clients and the shared bookkeeping of one run."""

    def __init__(self, cluster: Cluster, spec: RetryPipeline, progress: Callable[[int, int], None] | None):
        self.cluster, self.spec, self.progress = cluster, spec, progress
        self.plan = failure_plan(spec).set_index("msg_id")
        run_id = uuid.uuid4().hex[:8]
        base = f"lab-retry-{run_id}"
        self.input = f"{base}-input"
        self.retries = [f"{base}-retry-{n + 1}" for n in range(len(spec.delays_ms))] \
            if spec.mode == "retry-topics" else []
        self.processed = f"{base}-processed"
        self.dlt = f"{base}-dlt"
        self.stage_of = {self.input: "input", self.processed: "processed", self.dlt: "dlt",
                         **{t: f"retry-{n + 1}" for n, t in enumerate(self.retries)}}
        self.topics = [self.input, *self.retries, self.processed, self.dlt]
        self.lock = threading.Lock()
        self.delivered: dict[str, int] = {t: 0 for t in self.topics}
        self.finished = 0  # messages that reached processed or the DLT
        self.stop = threading.Event()
        self.errors: list[str] = []
        self.deadline = time.monotonic() + spec.time_limit_s
        self.t0 = time.time()

    # clients
    def producer(self) -> Producer:
        return Producer(quiet({**self.cluster.client_config(), "enable.idempotence": True,
                               "acks": "all", "linger.ms": 5}))

    def consumer(self, topic: str) -> Consumer:
        c = Consumer(quiet({**self.cluster.client_config(), "group.id": f"{topic}-group",
                            "auto.offset.reset": "earliest", "enable.auto.commit": False,
                            "enable.partition.eof": True}))
        c.assign([TopicPartition(topic, p) for p in range(self.spec.partitions)])
        return c

    def on_delivery(self, err, msg) -> None:
        if err is not None:
            with self.lock:
                self.errors.append(f"delivery to {msg.topic()} failed: {err.name()}")
            return
        with self.lock:
            self.delivered[msg.topic()] += 1
            if msg.topic() in (self.processed, self.dlt):
                self.finished += 1

    def send(self, producer: Producer, topic: str, record: dict[str, Any]) -> None:
        while True:
            try:
                producer.produce(topic, key=record["key"].encode(), value=json.dumps(record).encode(),
                                 on_delivery=self.on_delivery)
                return
            except BufferError:
                producer.poll(0.05)

    def fails(self, record: dict[str, Any], attempt: int) -> bool:
        if self.spec.processing_ms:
            time.sleep(self.spec.processing_ms / 1000)
        return attempt <= self.plan.at[record["id"], "fails"]

    def outcome(self, producer: Producer, record: dict[str, Any], attempt: int, stage: str,
                next_topic: str | None, error: str | None) -> None:
        """Forward a record after an attempt: to processed, the next retry topic, or the DLT."""
        now = time.time()
        out = {**record, "attempt": attempt, "stage": stage, "at": now}
        if error is None:
            self.send(producer, self.processed, out)
        elif next_topic is not None:
            self.send(producer, next_topic, {**out, "error": error})
        else:
            self.send(producer, self.dlt, {**out, "error": error, "dead_lettered_at": now})

    def write_input(self) -> None:
        producer = self.producer()
        for _, row in self.plan.reset_index().iterrows():
            rec = {"id": row["msg_id"], "index": int(row["index"]), "key": row["key"],
                   "seq": int(row["seq"]), "created": time.time()}
            self.send(producer, self.input, rec)
            producer.poll(0)
        left = producer.flush(30)
        if left or self.errors:
            raise LabError(f"Writing the input failed ({left} undelivered; {self.errors[:1]}).",
                           "Check `deliverylab cluster status`.")

    def timed_out(self) -> bool:
        return time.monotonic() > self.deadline or self.stop.is_set()

    def tick(self) -> None:
        if self.progress:
            self.progress(min(self.finished, self.spec.messages), self.spec.messages)


def _batches(consumer: Consumer, pipe: _Pipeline, topic: str, upstream_done: Callable[[], bool],
             expected: Callable[[], int]):
    """Yield lists of records until the upstream is done and every record sent here was handled."""
    handled = 0
    while not pipe.timed_out():
        msgs = consumer.consume(100, timeout=0.1)
        batch = []
        for m in msgs:
            err = m.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF and err.fatal():
                    pipe.errors.append(f"{topic}: {err.str()}")
                    return
                continue
            batch.append(m)
        if batch:
            yield batch
            handled += len(batch)
        elif upstream_done() and handled >= expected():
            return
        pipe.tick()


def _commit(consumer: Consumer, producer: Producer, batch: list) -> None:
    """Forwarded records are acknowledged first; only then is the input offset committed."""
    producer.flush(30)
    last: dict[tuple[str, int], int] = {}
    for m in batch:
        last[(m.topic(), m.partition())] = m.offset() + 1
    consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in last.items()],
                    asynchronous=False)


def _stage(pipe: _Pipeline, n: int, done: list[threading.Event]) -> None:
    """Stage 0 reads the input; stage n ≥ 1 reads retry-n after its delay. Sets done[n] at the end."""
    spec = pipe.spec
    topic = pipe.input if n == 0 else pipe.retries[n - 1]
    next_topic = pipe.retries[n] if n < len(pipe.retries) else None
    stage = "main" if n == 0 else f"retry-{n}"
    delay_s = 0.0 if n == 0 else spec.delays_ms[n - 1] / 1000
    consumer, producer = pipe.consumer(topic), pipe.producer()
    upstream = (lambda: True) if n == 0 else done[n - 1].is_set
    expected = (lambda: spec.messages) if n == 0 else (lambda: pipe.delivered[topic])
    try:
        for batch in _batches(consumer, pipe, topic, upstream, expected):
            for m in batch:
                record = json.loads(m.value())
                if delay_s:  # not before its time: records come in due order, so wait for this one
                    due = m.timestamp()[1] / 1000 + delay_s
                    while time.time() < due and not pipe.timed_out():
                        producer.poll(min(0.05, max(0.0, due - time.time())))
                attempt = n + 1
                failed = pipe.fails(record, attempt)
                pipe.outcome(producer, record, attempt, stage, next_topic,
                             f"attempt {attempt} failed" if failed else None)
                producer.poll(0)
            _commit(consumer, producer, batch)
    except Exception as exc:  # surfaced after the run
        pipe.errors.append(f"{stage}: {exc!r}")
    finally:
        producer.flush(30)
        consumer.close()
        done[n].set()


def _blocking(pipe: _Pipeline, done: list[threading.Event]) -> None:
    """One consumer: retry in place with sleeps; the partition waits behind a failing message."""
    spec = pipe.spec
    consumer, producer = pipe.consumer(pipe.input), pipe.producer()
    try:
        for batch in _batches(consumer, pipe, pipe.input, lambda: True, lambda: spec.messages):
            for m in batch:
                record = json.loads(m.value())
                for attempt in range(1, spec.attempts + 1):
                    failed = pipe.fails(record, attempt)
                    if not failed:
                        pipe.outcome(producer, record, attempt, "main", None, None)
                        break
                    if attempt == spec.attempts:
                        pipe.outcome(producer, record, attempt, "main", None, f"attempt {attempt} failed")
                        break
                    end = time.time() + spec.delays_ms[attempt - 1] / 1000  # the blocking back-off
                    while time.time() < end and not pipe.timed_out():
                        producer.poll(min(0.05, max(0.0, end - time.time())))
                producer.poll(0)
            _commit(consumer, producer, batch)
    except Exception as exc:
        pipe.errors.append(f"blocking: {exc!r}")
    finally:
        producer.flush(30)
        consumer.close()
        done[0].set()


# --- read-back and counting ----------------------------------------------------------------------
def _read_back(cluster: Cluster, topics: list[str], partitions: int,
               timeout: float = 30.0) -> list[dict]:
    """Every record of every topic, from the beginning, with one fresh consumer."""
    consumer = Consumer(quiet({**cluster.client_config(),
                               "group.id": f"deliverylab-readback-{uuid.uuid4().hex[:8]}",
                               "enable.auto.commit": False, "enable.partition.eof": True}))
    consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t in topics for p in range(partitions)])
    rows, at_eof = [], set()
    deadline = time.monotonic() + timeout
    try:
        while len(at_eof) < partitions * len(topics) and time.monotonic() < deadline:
            for m in consumer.consume(500, timeout=0.2):
                err = m.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        at_eof.add((m.topic(), m.partition()))
                    continue
                at_eof.discard((m.topic(), m.partition()))
                rec = json.loads(m.value())
                rows.append({"topic": m.topic(), "partition": m.partition(), "offset": m.offset(),
                             "log_time": m.timestamp()[1] / 1000, "msg_id": rec.pop("id"), **rec})
    finally:
        consumer.close()
    return rows


def count_places(plan: pd.DataFrame, records: pd.DataFrame) -> pd.DataFrame:
    """Final place of every planned message from the read-back records (pure, no Kafka)."""
    out = plan.reset_index()[["msg_id", "index", "key", "seq", "kind"]].copy()
    recs = records if len(records) else pd.DataFrame(columns=["stage", "msg_id", "attempt", "t", "created"])
    done = recs[recs["stage"].isin(["processed", "dlt"])]
    n_proc = done[done.stage == "processed"].groupby("msg_id").size()
    n_dlt = done[done.stage == "dlt"].groupby("msg_id").size()
    hops = recs[recs["stage"].astype(str).str.startswith("retry-")].groupby("msg_id").size()
    first = done.sort_values("t").drop_duplicates("msg_id").set_index("msg_id")
    out["processed_copies"] = out["msg_id"].map(n_proc).fillna(0).astype(int)
    out["dlt_copies"] = out["msg_id"].map(n_dlt).fillna(0).astype(int)
    out["retry_hops"] = out["msg_id"].map(hops).fillna(0).astype(int)
    total = out["processed_copies"] + out["dlt_copies"]
    out["final"] = [LOST if t == 0 else DUPLICATED if t > 1 else PROCESSED if p else DEAD_LETTERED
                    for t, p in zip(total, out["processed_copies"])]
    out["attempts"] = out["msg_id"].map(first["attempt"]) if len(first) else None
    out["attempts"] = pd.to_numeric(out["attempts"]).astype("Int64")
    out["place"] = [f"processed (attempt {a})" if f == PROCESSED else f
                    for f, a in zip(out["final"], out["attempts"])]
    if len(first):
        out["latency_s"] = out["msg_id"].map(first["t"] - (first["created"] - first["t0"]))
    else:
        out["latency_s"] = float("nan")
    return out


def _percentile(values: pd.Series, q: float) -> float:
    values = values.dropna()
    return round(float(values.quantile(q)), 3) if len(values) else float("nan")


def run_retry_pipeline(spec: RetryPipeline, cluster: Cluster | None = None,
                       progress: Callable[[int, int], None] | None = None,
                       keep: bool = False) -> RetryResult:
    """Run the pipeline (or the blocking variant) on real topics and count where everything went."""
    spec.check()
    cluster = cluster or connect()
    pipe = _Pipeline(cluster, spec, progress)
    created: list[str] = []
    try:
        _create_topics(cluster, pipe.topics, spec.partitions)
        created.extend(pipe.topics)
        for t in pipe.topics:
            cluster.wait_for_leader(t)
        pipe.write_input()
        t_start = time.time()
        if spec.mode == "blocking":
            done = [threading.Event()]
            threads = [threading.Thread(target=_blocking, args=(pipe, done), daemon=True)]
        else:
            done = [threading.Event() for _ in range(1 + len(pipe.retries))]
            threads = [threading.Thread(target=_stage, args=(pipe, n, done), daemon=True,
                                        name=f"retry-stage-{n}") for n in range(len(done))]
        for th in threads:
            th.start()
        for th in threads:
            th.join(max(0.1, pipe.deadline - time.monotonic() + 35))
        elapsed = time.time() - t_start
        timed_out = time.monotonic() > pipe.deadline
        pipe.stop.set()
        if progress:
            progress(spec.messages, spec.messages)
        rows = _read_back(cluster, pipe.topics, spec.partitions)
        for r in rows:
            r["stage"] = pipe.stage_of[r["topic"]]
        records = pd.DataFrame(rows)
        if len(records):
            records["attempt"] = pd.to_numeric(records.get("attempt"), errors="coerce").astype("Int64")
            t_col = records["at"] if "at" in records else records["created"]
            records["t"] = t_col.fillna(records["created"]) - pipe.t0
            records["t0"] = pipe.t0
        messages = count_places(pipe.plan, records)
        summary = _summary(spec, pipe, messages, records, elapsed, timed_out)
        cols = [c for c in ("stage", "partition", "offset", "msg_id", "key", "seq", "attempt", "t",
                            "error") if c in records]
        topics = pd.DataFrame({"stage": [pipe.stage_of[t] for t in pipe.topics], "topic": pipe.topics,
                               "records": [int((records.get("stage") == pipe.stage_of[t]).sum())
                                           if len(records) else 0 for t in pipe.topics]})
        return RetryResult(_spec(spec), messages, records[cols] if len(records) else records,
                           topics, summary, {"errors": list(pipe.errors)})
    finally:
        pipe.stop.set()
        if not keep and created:
            try:
                cluster.delete_topics(created)
            except Exception:
                pass


def _create_topics(cluster: Cluster, names: list[str], partitions: int) -> None:
    """All of a run's topics in one request (replication factor 3 on three brokers)."""
    from confluent_kafka.admin import NewTopic
    admin = cluster.admin()
    rf = min(3, cluster.size)
    futures = admin.create_topics([NewTopic(n, num_partitions=partitions, replication_factor=rf)
                                   for n in names], operation_timeout=15, request_timeout=15)
    for name, fut in futures.items():
        try:
            fut.result(timeout=20)
        except Exception as exc:
            raise LabError(f"Creating topic {name!r} failed: {exc}.",
                           "Check `deliverylab cluster status`.") from None


def _spec(spec: RetryPipeline) -> dict[str, Any]:
    d = asdict(spec)
    d["delays_ms"] = list(spec.delays_ms)
    return d


def _summary(spec: RetryPipeline, pipe: _Pipeline, messages: pd.DataFrame, records: pd.DataFrame,
             elapsed: float, timed_out: bool) -> dict[str, Any]:
    final = messages["final"].value_counts()
    processed = messages[messages["final"] == PROCESSED]
    out_order = records[records["stage"] == "processed"].sort_values(["partition", "offset"]) \
        if len(records) else records
    s: dict[str, Any] = {
        "mode": spec.mode, "label": spec.label or spec.mode, "sent": spec.messages,
        "ok": int((messages["kind"] == "ok").sum()),
        "transient": int((messages["kind"] == "transient").sum()),
        "poison": int((messages["kind"] == "poison").sum()),
        "processed": int(final.get(PROCESSED, 0)),
    }
    for a in range(1, spec.attempts + 1):
        s[f"processed_attempt_{a}"] = int((processed["attempts"] == a).sum())
    s.update({
        "dead_lettered": int(final.get(DEAD_LETTERED, 0)),
        "lost": int(final.get(LOST, 0)),
        "duplicated": int(final.get(DUPLICATED, 0)),
        "reordered_keys": len(reordered_keys(out_order)) if len(out_order) else 0,
        "elapsed_s": round(elapsed, 3),
        "latency_p50_s": _percentile(messages["latency_s"], 0.5),
        "latency_p99_s": _percentile(messages["latency_s"], 0.99),
        "latency_max_s": _percentile(messages["latency_s"], 1.0),
        "timed_out": bool(timed_out),
        "errors": len(pipe.errors),
    })
    return s


def reordered_example(result: RetryResult, before: int = 2, after: int = 4) -> pd.DataFrame:
    """The processed records of the first key whose seqs came out of order, around the first
    place where a seq is lower than one processed before it (empty if no key was reordered)."""
    recs = result.records
    if not len(recs):
        return recs
    out = recs[recs["stage"] == "processed"].sort_values(["partition", "offset"])
    for _, rows in out.groupby("key", sort=False):
        seqs = rows["seq"].tolist()
        for i in range(1, len(seqs)):
            if seqs[i] < max(seqs[:i]):
                first = next(j for j in range(i) if seqs[j] > seqs[i])
                cols = [c for c in ("msg_id", "key", "seq", "attempt", "t") if c in rows]
                return rows.iloc[max(0, first - before):i + after][cols]
    return out.iloc[0:0]


# --- pictures ------------------------------------------------------------------------------------
def plot_places(result: RetryResult, ax=None):
    """Bars: how many messages ended in each place, stacked by kind (ok / transient / poison)."""
    from matplotlib.figure import Figure
    if ax is None:
        fig = Figure(figsize=(8, 3.8), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    table = pd.crosstab(result.messages["place"], result.messages["kind"])
    order = sorted(table.index, key=lambda p: (p.startswith("dead"), p.startswith("lost"),
                                               p.startswith("dup"), p))
    table = table.reindex(order).reindex(columns=[k for k in KINDS if k in table.columns])
    colors = {"ok": "#2ca02c", "transient": "#ff7f0e", "poison": "#8b0000"}
    bottom = None
    for kind in table.columns:
        bars = ax.bar(table.index, table[kind], bottom=bottom, label=kind, color=colors[kind])
        bottom = table[kind] if bottom is None else bottom + table[kind]
    if bottom is not None:
        for x, total in enumerate(bottom):
            ax.text(x, total, str(int(total)), ha="center", va="bottom")
    ax.set_ylabel("messages")
    ax.tick_params(axis="x", labelrotation=15)
    ax.set_title(f"where every message ended — {result.label}")
    ax.legend(title="message kind", fontsize="small")
    ax.margins(y=0.15)
    return fig


def plot_latency(results: list[RetryResult], ax=None):
    """Per message: time from input to its final topic, by input index, one colour per run."""
    from matplotlib.figure import Figure
    if ax is None:
        fig = Figure(figsize=(8, 3.6), layout="constrained")
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    for r in results:
        m = r.messages.dropna(subset=["latency_s"])
        ax.scatter(m["index"], m["latency_s"], s=8, label=r.label)
    ax.set_xlabel("input message index")
    ax.set_ylabel("input → processed / DLT (s)")
    ax.legend(fontsize="small")
    return fig


# --- a panel -------------------------------------------------------------------------------------
def retry_panel(messages: int = 200, delays_ms: tuple[int, ...] = (200, 500),
                cluster: Cluster | None = None, **spec_kwargs: Any):
    """An ipywidgets panel: mode, transient and poison shares, Run; shows where messages ended.
    Every run's RetryResult is appended to `panel.results`."""
    import ipywidgets as w
    from IPython.display import display

    style = {"description_width": "140px"}
    mode = w.Dropdown(options=MODES, value="retry-topics", description="mode", style=style)
    transient = w.FloatSlider(value=0.10, min=0, max=0.5, step=0.01, description="transient share",
                              style=style, continuous_update=False)
    poison = w.FloatSlider(value=0.02, min=0, max=0.2, step=0.01, description="poison share",
                           style=style, continuous_update=False)
    button = w.Button(description="Run", button_style="primary", icon="play")
    bar = w.IntProgress(value=0, min=0, max=messages, description="progress", style=style)
    out = w.Output()
    panel = w.VBox([mode, transient, poison, w.HBox([button, bar]), out])
    panel.results = []

    def progress(done: int, total: int) -> None:
        bar.max, bar.value = max(total, 1), min(done, max(total, 1))

    def run(_=None) -> None:
        button.disabled = True
        out.clear_output()
        try:
            spec = RetryPipeline(messages=messages, mode=mode.value, transient_rate=transient.value,
                                 poison_rate=poison.value, delays_ms=tuple(delays_ms), **spec_kwargs)
            result = run_retry_pipeline(spec, cluster, progress=progress)
            panel.results.append(result)
            with out:
                display(plot_places(result))
                display(result.summary_frame()[["mode", "sent", "processed", "dead_lettered", "lost",
                                                "duplicated", "reordered_keys", "elapsed_s",
                                                "latency_max_s"]])
        except LabError as exc:
            with out:
                print(exc.paragraph())
        finally:
            button.disabled = False

    button.on_click(run)
    panel.run = run
    return panel

"""The cost of reliability, measured: a small producer benchmark on the real cluster.

    spec = Benchmark(messages=5000, config={"acks": "all", "linger.ms": 5})
    result = run_benchmark(spec)          # result.summary: msgs_per_s, p50_ms, p99_ms, ...
    frame = run_benchmarks([spec_a, spec_b, ...])   # one summary row per spec

Each run sends N messages (as fast as the producer takes them, or at `rate` per second) to a
fresh topic with the learner's librdkafka settings (keys verbatim), and times every message from
produce() to its delivery report (librdkafka's own ``Message.latency()``). With
``transactional=True`` it commits a transaction every ``commit_every`` messages and also times
each message until its transaction committed, which is when a ``read_committed`` consumer can
first see it. Afterwards the topic is read back, so "delivered" is counted, not believed.

This is a teaching benchmark on a laptop cluster that shares its CPUs with everything else:
compare settings against each other in one sitting, never against numbers from elsewhere.
"""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
from confluent_kafka import Producer

from .clients import produce
from .cluster import Cluster, connect
from .cluster.base import quiet
from .config_check import check_producer_config
from .errors import LabError, require_whole
from .ids import check_messages, key_for, msg_id, seq_for
from .readback import read_topic
from .results import Progress
from .topics import unique_topic

__all__ = ["Benchmark", "BenchmarkResult", "run_benchmark", "run_benchmarks", "plot_benchmarks"]


@dataclass
class Benchmark:
    """N messages with one producer configuration (librdkafka keys, verbatim)."""

    messages: int = 5000
    config: dict[str, Any] = field(default_factory=lambda: {"acks": "all"})
    value_bytes: int = 200  # size of each message value (JSON with padding)
    rate: float = 0.0  # messages per second; 0 = as fast as the producer accepts them
    transactional: bool = False
    commit_every: int = 100  # transactional: messages per transaction
    partitions: int = 1
    keys: int = 8
    verify: bool = True  # read the topic back and count what is stored
    time_limit_s: float = 60.0
    label: str | None = None

    def check(self) -> "Benchmark":
        check_messages(self.messages, "E.g. messages=5000.")
        for name in ("partitions", "keys", "commit_every"):
            require_whole(name, getattr(self, name), "E.g. keys=8.")
        if not isinstance(self.value_bytes, int) or self.value_bytes < 60:
            raise LabError(f"value_bytes={self.value_bytes!r} is too small.",
                           "Use 60 bytes or more (the value carries an id, key and sequence).")
        if not isinstance(self.rate, (int, float)) or self.rate < 0:
            raise LabError(f"rate={self.rate!r} must be ≥ 0.", "0 means as fast as possible.")
        if "transactional.id" in self.config:
            raise LabError("Set transactional=True instead of a transactional.id.",
                           "The benchmark gives every run its own transactional.id.")
        check_producer_config(self.config)
        return self

    @property
    def name(self) -> str:
        if self.label:
            return self.label
        text = ", ".join(f"{k}={v}" for k, v in self.config.items()) or "defaults"
        return f"{text}, txn every {self.commit_every}" if self.transactional else text


@dataclass
class BenchmarkResult:
    """summary: msgs_per_s, MB_per_s, p50_ms / p99_ms / max_ms (produce → delivery report),
    for transactions also visible_p50_ms / visible_p99_ms (produce → commit); delivered, failed,
    stored. latencies: one row per message — index, latency_ms, error (and visible_ms)."""

    spec: dict[str, Any]
    summary: dict[str, Any]
    latencies: pd.DataFrame
    extra: dict[str, Any] = field(default_factory=dict)

    def summary_frame(self) -> pd.DataFrame:
        return pd.DataFrame([self.summary])

    def _repr_html_(self) -> str:
        return self.summary_frame().to_html(index=False)


def _value(index: int, keys: int, size: int) -> tuple[bytes, bytes]:
    key = key_for(index, keys)
    body = {"id": msg_id(index), "key": key, "seq": seq_for(index, keys), "pad": ""}
    raw = json.dumps(body)
    body["pad"] = "x" * max(0, size - len(raw))
    return key.encode(), json.dumps(body).encode()


def _ms(values: np.ndarray, q: float) -> float:
    return round(float(np.percentile(values, q)), 2) if len(values) else float("nan")


def run_benchmark(spec: Benchmark, cluster: Cluster | None = None,
                  progress: Progress | None = None,
                  keep: bool = False) -> BenchmarkResult:
    """Send spec.messages with spec.config, time every delivery report, count what is stored."""
    spec.check()
    cluster = cluster or connect()
    topic = unique_topic("lab-bench")
    cluster.create_topic(topic, spec.partitions)
    cluster.wait_for_leader(topic)
    conf = {**cluster.client_config(), **spec.config}
    if spec.transactional:
        conf["transactional.id"] = f"{topic}-txn"
    producer = Producer(quiet(conf))
    n = spec.messages
    latency = np.full(n, np.nan)
    errors: list[str | None] = [None] * n
    sent_at = np.zeros(n)
    visible = np.full(n, np.nan)
    delivered = [0]

    def report(index: int) -> Callable:
        def on_delivery(err, msg) -> None:
            latency[index] = (msg.latency() or 0.0) * 1000
            if err is None:
                delivered[0] += 1
            else:
                errors[index] = err.name()
        return on_delivery

    values = [_value(i, spec.keys, spec.value_bytes) for i in range(n)]
    deadline = time.monotonic() + spec.time_limit_s
    transactions = 0
    try:
        if spec.transactional:
            producer.init_transactions(15)
        t0 = time.perf_counter()
        open_from = sent = 0
        for i in range(n):
            if time.monotonic() > deadline:
                break
            sent = i + 1
            if spec.rate:
                wait = t0 + i / spec.rate - time.perf_counter()
                if wait > 0:
                    producer.poll(wait)
            if spec.transactional and i == open_from:
                producer.begin_transaction()
            key, value = values[i]
            sent_at[i] = time.perf_counter()
            produce(producer, topic, key, value, report(i), wait_s=0.01)
            producer.poll(0)
            if spec.transactional and (i + 1 - open_from == spec.commit_every or i == n - 1):
                producer.commit_transaction(30)
                done = time.perf_counter()
                visible[open_from:i + 1] = (done - sent_at[open_from:i + 1]) * 1000
                transactions += 1
                open_from = i + 1
            if progress and i % 500 == 0:
                progress(i, n)
        if spec.transactional and open_from < sent:  # stopped by the time limit mid-transaction
            producer.commit_transaction(30)
            transactions += 1
        left = producer.flush(max(1.0, deadline - time.monotonic()))
        elapsed = time.perf_counter() - t0
        if progress:
            progress(n, n)
        stored = len(read_topic(cluster.client_config(), topic, spec.partitions)) if spec.verify else None
    finally:
        if not keep:
            try:
                cluster.delete_topics([topic])
            except Exception:
                pass
    lat = pd.DataFrame({"index": range(n), "latency_ms": latency, "error": errors})
    if spec.transactional:
        lat["visible_ms"] = visible
    ok = lat.loc[lat["error"].isna(), "latency_ms"].dropna().to_numpy()
    failed = int(lat["error"].notna().sum())
    summary: dict[str, Any] = {
        "label": spec.name, "messages": n, "delivered": delivered[0], "failed": failed,
        "undelivered": int(left), "stored": stored,
        "elapsed_s": round(elapsed, 3),
        "msgs_per_s": round(delivered[0] / elapsed, 1) if elapsed > 0 else float("nan"),
        "MB_per_s": round(delivered[0] * spec.value_bytes / elapsed / 1e6, 3) if elapsed > 0 else float("nan"),
        "p50_ms": _ms(ok, 50), "p99_ms": _ms(ok, 99), "max_ms": _ms(ok, 100),
        "transactional": spec.transactional,
        "commit_every": spec.commit_every if spec.transactional else None,
        "transactions": transactions,
    }
    if spec.transactional:
        vis = lat["visible_ms"].dropna().to_numpy()
        summary.update({"visible_p50_ms": _ms(vis, 50), "visible_p99_ms": _ms(vis, 99)})
    summary.update({k: str(v) for k, v in spec.config.items() if k not in summary})
    spec_dict = asdict(spec)
    return BenchmarkResult(spec_dict, summary, lat, {"topic": topic})


def run_benchmarks(specs: Sequence[Benchmark], cluster: Cluster | None = None, repeat: int = 1,
                   progress: Progress | None = None) -> pd.DataFrame:
    """One summary row per spec and repetition (column `run`), in the order given."""
    cluster = cluster or connect()
    rows = []
    total = len(specs) * repeat
    for r in range(repeat):
        for j, spec in enumerate(specs):
            result = run_benchmark(spec, cluster)
            rows.append({**result.summary, "run": r + 1})
            if progress:
                progress(r * len(specs) + j + 1, total)
    return pd.DataFrame(rows)


def plot_benchmarks(frame: pd.DataFrame, by: str = "label", title: str | None = None,
                    throughput: bool = True):
    """Throughput (msgs/s) and p50/p99 delivery latency (ms) per setting, mean over runs, with
    the min–max spread of throughput when a setting ran several times. throughput=False draws the
    latency panel only (for runs at a fixed rate, whose throughput is just the rate)."""
    from matplotlib.figure import Figure
    agg = frame.groupby(by, sort=False)[["msgs_per_s", "p50_ms", "p99_ms"]].mean()
    fig = Figure(figsize=(11 if throughput else 7, 1.4 + 0.5 * len(agg)), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True) if throughput else [fig.subplots()]
    y = np.arange(len(agg))
    if throughput:
        ax1 = axes[0]
        spread = frame.groupby(by, sort=False)["msgs_per_s"].agg(["min", "max"])
        repeated = frame.groupby(by, sort=False).size().max() > 1
        xerr = np.vstack([agg["msgs_per_s"] - spread["min"], spread["max"] - agg["msgs_per_s"]]) \
            if repeated else None
        bars = ax1.barh(y, agg["msgs_per_s"], xerr=xerr, color="#1f77b4", capsize=3)
        ax1.bar_label(bars, labels=[f"{v:,.0f}" for v in agg["msgs_per_s"]], padding=3,
                      fontsize="small")
        ax1.set_xlabel("throughput (messages/s, higher is better)")
        ax1.margins(x=0.25)
    ax2 = axes[-1]
    h = 0.38
    b50 = ax2.barh(y - h / 2, agg["p50_ms"], h, label="p50", color="#2ca02c")
    b99 = ax2.barh(y + h / 2, agg["p99_ms"], h, label="p99", color="#d62728")
    ax2.bar_label(b50, labels=[f"{v:.1f}" for v in agg["p50_ms"]], padding=3, fontsize="small")
    ax2.bar_label(b99, labels=[f"{v:.1f}" for v in agg["p99_ms"]], padding=3, fontsize="small")
    ax2.set_xlabel("delivery latency (ms, lower is better)")
    ax2.legend(fontsize="small")
    ax2.margins(x=0.25)
    axes[0].set_yticks(y, [str(i) for i in agg.index])
    axes[0].invert_yaxis()
    if title:
        fig.suptitle(title)
    return fig

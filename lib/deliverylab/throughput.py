"""The cost of reliability, measured soundly: a producer benchmark on the real cluster.

    spec = Benchmark(duration_s=3, config={"acks": "all", "enable.idempotence": True})
    result = run_benchmark(spec)                 # result.summary: msgs_per_s, p50_ms, p99_ms, ...
    specs = with_control([spec_a, spec_b])       # spec_a twice: the control pair shows the noise
    frame = run_benchmarks(specs, repeat=3)      # warm-up, interleaved order, one row per run
    table = summarize(frame)                     # median, min, max and spread per setting
    verdict = compare(frame, "acks=1", "acks=all")   # is the difference larger than the noise?

Each run sends messages to a fresh topic with the learner's librdkafka settings (keys verbatim),
as fast as the producer takes them or at `rate` per second, for `duration_s` seconds (or
`messages` messages, whichever comes first), and times every message from produce() to its
delivery report (librdkafka's own ``Message.latency()``). With ``transactional=True`` it commits
a transaction every ``commit_every`` messages and also times each message until its transaction
committed, which is when a ``read_committed`` consumer can first see it. Afterwards the topic is
read back, so "delivered" is counted, not believed.

What makes the numbers worth comparing (issue 12): a warm-up run that is thrown away (the first
run after start pays for connections, metadata and JIT in the brokers); runs of seconds, not
milliseconds; settings run in interleaved order, so a slow minute of the machine hits all of them;
≥ 3 repeats, reported as median and min–max; and a *control*: one setting run twice under two
names. Two settings differ only when their ranges do not overlap and their medians differ by more
than the two halves of the control pair do.

This is a teaching benchmark on a laptop cluster that shares its CPUs with everything else:
compare settings against each other in one sitting, never against numbers from elsewhere.

A recording for notebook 11 is made with ``python -m deliverylab.throughput --out FILE`` (see
data/README.md); ``read_recording(FILE)`` reads it back.
"""
from __future__ import annotations

import argparse
import random
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
from confluent_kafka import Producer

from .clients import poll_until, produce, quiet
from .cluster import Cluster, connect
from .config_check import check_producer_config
from .errors import LabError, require_whole
from .ids import MAX_MESSAGES, check_messages, key_for, value_for, value_of
from .recording import read_recording, write_recording  # read_recording: notebook 11 imports it here
from .runs import Progress, Run

__all__ = ["Benchmark", "BenchmarkResult", "CONTROL", "QUEUE", "SAFE", "compare", "read_recording",
           "record", "run_benchmark", "run_benchmarks", "summarize", "verdict_text", "verdicts",
           "with_control"]

CONTROL = " (control)"  # suffix of the second copy of a setting: the control pair
MIN_SAMPLES = 20  # fewer samples than this make a percentile a guess (diagnose.py warns)
MIN_RUN_S = 1.0  # a throughput run shorter than this measures start-up, not the setting
MIN_VALUE_BYTES = 80  # the longest record without padding (ids.value_for at the messages cap)


@dataclass
class Benchmark:
    """A producer configuration (librdkafka keys, verbatim) and how long to send with it."""

    messages: int | None = None  # how many to send; None: 5,000, or with duration_s at most
    # 1,000,000 (the clock stops the run first)
    config: dict[str, Any] = field(default_factory=lambda: {"acks": "all"})
    duration_s: float | None = None  # send for this long (then flush); None = send all messages
    value_bytes: int = 200  # size of each message value (JSON with padding)
    rate: float = 0.0  # messages per second; 0 = as fast as the producer accepts them
    transactional: bool = False
    commit_every: int = 100  # transactional: messages per transaction
    partitions: int = 1
    keys: int = 8
    verify: bool = True  # read the topic back and count what is stored
    time_limit_s: float = 60.0
    label: str | None = None

    def __post_init__(self) -> None:
        if self.messages is None:
            self.messages = MAX_MESSAGES if self.duration_s else 5000

    def check(self) -> "Benchmark":
        check_messages(self.messages, "Use duration_s to measure for longer instead.")
        for name in ("partitions", "keys", "commit_every"):
            require_whole(name, getattr(self, name), "E.g. keys=8.")
        if not isinstance(self.value_bytes, int) or self.value_bytes < MIN_VALUE_BYTES:
            raise LabError(f"value_bytes={self.value_bytes!r} is too small.",
                           f"Use {MIN_VALUE_BYTES} bytes or more (the value carries an id, index, "
                           "key and sequence).")
        if not isinstance(self.rate, (int, float)) or self.rate < 0:
            raise LabError(f"rate={self.rate!r} must be ≥ 0.", "0 means as fast as possible.")
        if self.duration_s is not None and not (isinstance(self.duration_s, (int, float))
                                                and 0 < self.duration_s <= self.time_limit_s):
            raise LabError(f"duration_s={self.duration_s!r} must be a positive number of seconds "
                           f"within time_limit_s={self.time_limit_s}.", "E.g. duration_s=3.")
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
    for transactions also visible_p50_ms / visible_p99_ms (produce → commit) and commit_p50_ms;
    delivered, failed, stored. latencies: one row per message — index, latency_ms, error (and
    visible_ms). warnings: why this run cannot support what it was meant to (diagnose.py)."""

    spec: dict[str, Any]
    summary: dict[str, Any]
    latencies: pd.DataFrame
    extra: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def summary_frame(self) -> pd.DataFrame:
        return pd.DataFrame([self.summary])

    def _repr_html_(self) -> str:
        import html
        notes = "".join(f"<li>⚠ {html.escape(w)}</li>" for w in self.warnings)
        return self.summary_frame().to_html(index=False) + (f"<ul>{notes}</ul>" if notes else "")


def _ms(values: np.ndarray, q: float) -> float:
    return round(float(np.percentile(values, q)), 2) if len(values) else float("nan")


def _wait_for_high_watermark(cluster: Cluster, topic: str, partitions: int, records: int,
                             timeout: float = 15.0) -> None:
    """Until the partitions' high watermarks add up to `records` (or the timeout: the read-back
    then counts what is readable, and a shortfall shows as stored < delivered)."""
    from confluent_kafka import Consumer, TopicPartition

    probe = Consumer(quiet({**cluster.client_config(), "group.id": f"{topic}-probe"}))
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            high = sum(probe.get_watermark_offsets(TopicPartition(topic, p), timeout=5,
                                                   cached=False)[1] for p in range(partitions))
            if high >= records:
                return
            time.sleep(0.05)
    finally:
        probe.close()


def run_benchmark(spec: Benchmark, cluster: Cluster | None = None,
                  progress: Progress | None = None,
                  keep: bool = False) -> BenchmarkResult:
    """Send with spec.config, time every delivery report, count what is stored."""
    from .diagnose import benchmark_warnings

    spec.check()
    cluster = cluster or connect()
    run = Run(cluster, "bench", keep)
    topic = run.topic("lab-bench", spec.partitions)
    cluster.wait_for_leader(topic)
    conf = dict(spec.config)
    if spec.transactional:
        conf["transactional.id"] = run.transactional_id(topic)
    producer = Producer(run.client_config(**conf))
    n = spec.messages
    latency = np.full(n, np.nan)
    errors: list[str | None] = [None] * n
    sent_at = np.zeros(n)
    visible = np.full(n, np.nan)
    commits: list[float] = []
    delivered = [0]

    def report(index: int) -> Callable:
        def on_delivery(err, msg) -> None:
            latency[index] = (msg.latency() or 0.0) * 1000
            if err is None:
                delivered[0] += 1
            else:
                errors[index] = err.name()
        return on_delivery

    deadline = time.monotonic() + spec.time_limit_s
    transactions = sent = 0
    try:
        if spec.transactional:
            producer.init_transactions(15)
        else:
            # One record before the clock starts: connections, metadata and (with idempotence)
            # the producer id are ready, so the first measured messages do not wait for them.
            producer.produce(topic, key=b"warm-up",
                             value=value_of({"id": "warm-up", "key": "warm-up", "seq": 0}))
            producer.flush(15)
        t0 = time.perf_counter()
        stop_at = t0 + spec.duration_s if spec.duration_s else float("inf")
        open_from = 0
        for i in range(n):
            now = time.perf_counter()
            if now >= stop_at or time.monotonic() > deadline:
                break
            if spec.rate:
                poll_until(producer, t0 + i / spec.rate, time.perf_counter)
            if spec.transactional and i == open_from:
                producer.begin_transaction()
            key, val = key_for(i, spec.keys).encode(), value_for(i, spec.keys, pad_to=spec.value_bytes)
            sent_at[i] = time.perf_counter()
            produce(producer, topic, key, val, report(i), wait_s=0.01)
            sent = i + 1
            producer.poll(0)
            if spec.transactional and (i + 1 - open_from == spec.commit_every or i == n - 1):
                started = time.perf_counter()
                producer.commit_transaction(30)
                done = time.perf_counter()
                commits.append((done - started) * 1000)
                visible[open_from:i + 1] = (done - sent_at[open_from:i + 1]) * 1000
                transactions += 1
                open_from = i + 1
            if progress and i % 1000 == 0:
                progress(i, n)
        if spec.transactional and open_from < sent:  # stopped by the clock mid-transaction
            producer.commit_transaction(30)
            done = time.perf_counter()
            visible[open_from:sent] = (done - sent_at[open_from:sent]) * 1000
            transactions += 1
        left = producer.flush(max(1.0, deadline - time.monotonic()))
        elapsed = time.perf_counter() - t0
        if progress:
            progress(n, n)
        if spec.verify:
            # acks=0/1 report delivery before the followers have the records, and a reader sees
            # only up to the high watermark: wait until it covers what was delivered.
            _wait_for_high_watermark(cluster, topic, spec.partitions,
                                     delivered[0] + (0 if spec.transactional else 1))
        stored = len(run.read_back(topic, spec.partitions)) if spec.verify else None
        if stored is not None and not spec.transactional:
            stored -= 1  # the warm-up record
    finally:
        # wait: the next run of a sitting must not share the brokers with this one's cleanup
        run.close(wait=True)
    lat = pd.DataFrame({"index": range(sent), "latency_ms": latency[:sent], "error": errors[:sent]})
    if spec.transactional:
        lat["visible_ms"] = visible[:sent]
    ok = lat.loc[lat["error"].isna(), "latency_ms"].dropna().to_numpy()
    failed = int(lat["error"].notna().sum())
    summary: dict[str, Any] = {
        "label": spec.name, "messages": sent, "delivered": delivered[0], "failed": failed,
        "undelivered": int(left), "stored": stored,
        "elapsed_s": round(elapsed, 3),
        "msgs_per_s": round(delivered[0] / elapsed, 1) if elapsed > 0 else float("nan"),
        "MB_per_s": round(delivered[0] * spec.value_bytes / elapsed / 1e6, 3) if elapsed > 0 else float("nan"),
        "p50_ms": _ms(ok, 50), "p99_ms": _ms(ok, 99), "max_ms": _ms(ok, 100),
        "rate": spec.rate,
        "transactional": spec.transactional,
        "commit_every": spec.commit_every if spec.transactional else None,
        "transactions": transactions,
    }
    if spec.transactional:
        vis = lat["visible_ms"].dropna().to_numpy()
        summary.update({"visible_p50_ms": _ms(vis, 50), "visible_p99_ms": _ms(vis, 99),
                        "commit_p50_ms": _ms(np.array(commits), 50)})
    summary.update({k: str(v) for k, v in spec.config.items() if k not in summary})
    summary.update(run.kept())
    spec_dict = asdict(spec)
    return BenchmarkResult(spec_dict, summary, lat, {"topic": topic},
                           benchmark_warnings(spec_dict, summary))


def with_control(specs: Sequence[Benchmark], index: int = 0) -> list[Benchmark]:
    """The specs plus a second copy of specs[index] labelled '<label> (control)': the same
    setting twice, so the difference between the two is what noise alone does."""
    specs = list(specs)
    base = specs[index]
    return specs + [replace(base, label=base.name + CONTROL)]


def _warm_up(specs: Sequence[Benchmark], cluster: Cluster) -> None:
    """One short run that nobody counts: connections, metadata, the brokers' JIT and page
    cache, so the first measured setting does not pay for them."""
    first = specs[0]
    run_benchmark(replace(first, duration_s=min(1.0, first.duration_s or 1.0),
                          messages=min(first.messages, 20_000), verify=False, transactional=False,
                          label="warm-up"), cluster)


def run_benchmarks(specs: Sequence[Benchmark], cluster: Cluster | None = None, repeat: int = 3,
                   warmup: bool = True, interleave: bool = True, seed: int = 1,
                   progress: Progress | None = None) -> pd.DataFrame:
    """One summary row per spec and repetition (columns `run` and `order`, the position in the
    sitting). Each repetition runs every spec once; with interleave=True each repetition's order
    is shuffled (seeded), so a slow moment of the machine is spread over all settings."""
    require_whole("repeat", repeat, "Use repeat=3 or more.")
    for spec in specs:
        spec.check()
    names = [s.name for s in specs]
    if len(set(names)) < len(names):
        raise LabError(f"Two settings have the same label ({names}).",
                       "Give each Benchmark its own label=..., e.g. with_control() for the copy.")
    cluster = cluster or connect()
    if warmup and specs:
        _warm_up(specs, cluster)
    rng = random.Random(seed)
    rows, done, total = [], 0, len(specs) * repeat
    for r in range(repeat):
        order = list(range(len(specs)))
        if interleave:
            rng.shuffle(order)
        for j in order:
            result = run_benchmark(specs[j], cluster)
            done += 1
            rows.append({**result.summary, "run": r + 1, "order": done,
                         "warnings": " ".join(result.warnings)})
            if progress:
                progress(done, total)
    frame = pd.DataFrame(rows)
    # Back in the order given, so tables and plots list settings as the notebook named them.
    frame["_spec"] = frame["label"].map({n: i for i, n in enumerate(names)})
    return frame.sort_values(["_spec", "run"], kind="stable").drop(columns="_spec").reset_index(drop=True)


def summarize(frame: pd.DataFrame, by: str = "label",
              metrics: Sequence[str] = ("msgs_per_s", "p50_ms", "p99_ms")) -> pd.DataFrame:
    """Per setting: runs, and for each metric its median, min and max over the runs, and the
    spread (max − min) as a share of the median."""
    metrics = [m for m in metrics if m in frame.columns]
    groups = frame.groupby(by, sort=False)
    out = pd.DataFrame({"runs": groups.size()})
    for m in metrics:
        stats = groups[m].agg(["median", "min", "max"])
        out[f"{m}_median"] = stats["median"]
        out[f"{m}_min"] = stats["min"]
        out[f"{m}_max"] = stats["max"]
        out[f"{m}_spread"] = ((stats["max"] - stats["min"]) / stats["median"]).round(3)
    return out


def _control_pair(frame: pd.DataFrame, by: str) -> tuple[str, str] | None:
    for name in frame[by].unique():
        if str(name).endswith(CONTROL):
            return str(name)[: -len(CONTROL)], str(name)
    return None


def verdicts(frame: pd.DataFrame, pairs: Sequence[tuple[str, str]], metric: str = "msgs_per_s",
             by: str = "label") -> pd.DataFrame:
    """`compare` for several pairs, as a table a notebook can show."""
    rows = [compare(frame, a, b, metric, by) for a, b in pairs]
    return pd.DataFrame(rows)[["a", "b", "metric", "median_a", "median_b", "ratio", "difference",
                               "noise", "clear"]].round(3)


def verdict_text(v: dict[str, Any]) -> str:
    """One line for a `compare` result, as evidence under a claim."""
    def num(x: float) -> str:
        return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"
    return (f"{v['metric']}: {v['a']} {num(v['median_a'])} → {v['b']} {num(v['median_b'])} "
            f"(×{v['ratio']:.2f}); difference {v['difference']:.0%}, control gap {v['noise']:.0%}, "
            f"{'clear' if v['clear'] else 'not clear'} over {v['runs_a']} + {v['runs_b']} runs")


def compare(frame: pd.DataFrame, a: str, b: str, metric: str = "msgs_per_s",
            by: str = "label") -> dict[str, Any]:
    """Is the difference between settings a and b in `metric` larger than the noise?

    noise: the difference between the medians of the control pair (the same setting run under
    two names), as a share of their mean; 0 when the frame has no control pair (then `clear`
    rests on the ranges alone). clear: the min–max ranges of a and b do not overlap, and their
    medians differ by more than the control pair's do. ratio: median(b) / median(a)."""
    runs = {name: frame.loc[frame[by] == name, metric].dropna() for name in (a, b)}
    for name, values in runs.items():
        if values.empty:
            raise LabError(f"No runs of {name!r} with a {metric} in this frame.",
                           f"Use one of {', '.join(map(repr, frame[by].unique()))}.")
    ma, mb = float(runs[a].median()), float(runs[b].median())
    noise = 0.0
    pair = _control_pair(frame, by)
    if pair is not None:
        c1 = float(frame.loc[frame[by] == pair[0], metric].median())
        c2 = float(frame.loc[frame[by] == pair[1], metric].median())
        noise = abs(c1 - c2) / ((c1 + c2) / 2) if c1 + c2 else 0.0
    difference = abs(mb - ma) / ((ma + mb) / 2) if ma + mb else 0.0
    apart = runs[a].max() < runs[b].min() or runs[b].max() < runs[a].min()
    return {"a": a, "b": b, "metric": metric, "median_a": ma, "median_b": mb,
            "ratio": mb / ma if ma else float("nan"), "difference": round(difference, 3),
            "noise": round(noise, 3), "control": pair[0] if pair else None,
            "runs_a": int(len(runs[a])), "runs_b": int(len(runs[b])),
            "clear": bool(apart and difference > noise)}


# --- the recording shown by notebook 11 ----------------------------------------------------------
SAFE = {"acks": "all", "enable.idempotence": True}
QUEUE = {"queue.buffering.max.messages": 2000}


def recorded_experiments(duration_s: float = 3.0, rate: float = 2000.0,
                         txn_rate: float = 1000.0) -> dict[str, list[Benchmark]]:
    """The sitting notebook 11 shows: each experiment's settings, with a control pair each."""
    acks = [Benchmark(config={"acks": "0"}, label="acks=0"),
            Benchmark(config={"acks": "1"}, label="acks=1"),
            Benchmark(config={"acks": "all", "enable.idempotence": False}, label="acks=all"),
            Benchmark(config=dict(SAFE), label="acks=all + idempotence")]
    fast = [replace(b, duration_s=duration_s, messages=None) for b in acks]
    at_rate = [replace(b, duration_s=duration_s, rate=rate, messages=None) for b in acks]
    batching = [Benchmark(config={**SAFE, "linger.ms": ms}, rate=rate, duration_s=duration_s,
                          label=f"linger.ms={ms}") for ms in (5, 0, 50)]
    # A queue of at most 2,000 messages in the producer for both (QUEUE): otherwise the tiny
    # batches build a queue of 100,000 that takes half a minute to flush after the clock stops.
    queue = dict(QUEUE)
    tiny = [Benchmark(config={**SAFE, **queue}, duration_s=duration_s, label="batch.size default"),
            Benchmark(config={**SAFE, **queue, "batch.size": 1000}, duration_s=duration_s,
                      label="batch.size=1000")]
    # Transactions at a fixed input rate; ≥ 20 transactions per size, so visible_p99 rests on
    # enough transactions (a percentile of fewer is a guess).
    txn = [Benchmark(config=dict(SAFE), transactional=True, commit_every=k, rate=txn_rate,
                     messages=max(int(txn_rate * duration_s), 20 * k), label=f"commit every {k}")
           for k in (10, 100, 200)]
    return {"acks, as fast as possible": with_control(fast, 3),
            f"acks, at {rate:g} msg/s": with_control(at_rate, 3),
            f"linger.ms, at {rate:g} msg/s": with_control(batching, 0),
            "batch.size, as fast as possible": with_control(tiny, 0),
            f"transactions, at {txn_rate:g} msg/s": with_control(txn, 1)}


def record(out: str | Path, repeat: int = 3, duration_s: float = 3.0, command: str = "",
           cluster: Cluster | None = None, log: Callable[[str], None] = print) -> pd.DataFrame:
    """Run every experiment of `recorded_experiments` and write one CSV row per run, with the
    command that made it on the first line."""
    cluster = cluster or connect(min_brokers=3)
    frames = []
    for name, specs in recorded_experiments(duration_s).items():
        t = time.monotonic()
        frame = run_benchmarks(specs, cluster, repeat=repeat).assign(experiment=name)
        frames.append(frame)
        log(f"{name}: {len(frame)} runs in {time.monotonic() - t:.0f} s")
    frame = pd.concat(frames, ignore_index=True)
    write_recording(frame, out, command, note=f"{cluster.kind} cluster of {cluster.size} brokers")
    return frame


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deliverylab.throughput",
                                     description="Record notebook 11's benchmark sitting as CSV.")
    parser.add_argument("--out", required=True)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per run")
    args = parser.parse_args(argv)
    command = "python -m deliverylab.throughput " + " ".join(shlex.quote(a) for a in
                                                             (argv if argv is not None else sys.argv[1:]))
    record(args.out, args.repeat, args.duration, command)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The cost of reliability, measured soundly: a producer benchmark on the real cluster.

    spec = Benchmark(duration_s=3, config=SAFE)   # catalog.SAFE: acks=all, idempotence
    result = run_benchmark(spec)                 # result.summary: msgs_per_s, p50_ms, p99_ms, ...
    specs = with_control([spec_a, spec_b])       # spec_a twice: the control pair shows the noise
    frame = run_benchmarks(specs, repeat=3)      # warm-up, interleaved order, one row per run
    table = summarise(frame)                     # median, min, max and spread per setting
    v = verdict(frame, "acks=1", "acks=all")     # is the difference larger than the noise?
                                                 # (summarise, verdict: benchmark_stats, pure)

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

A recording for notebook 11 is made with ``deliverylab benchmark --out FILE`` (record_benchmarks;
see data/README.md); ``recording.read_recording(FILE)`` reads it back.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import pandas as pd
from confluent_kafka import Producer

from ..benchmark_stats import Measured, benchmark_result
from ..catalog import ACKS_ALL, PRODUCER_CONFIGS, SAFE, config_label
from ..clients import poll_until, produce
from ..cluster import Cluster, connect
from ..config_check import check_producer_config
from ..errors import LabError, require_seconds, require_whole
from ..fields import check_fields
from ..ids import MAX_MESSAGES, check_messages, key_for, value_for, value_of
from ..readback import Watermarks
from ..recording import write_recording
from ..results import BenchmarkResult
from ..runs import Progress, Run
from ..topics import MAX_PARTITIONS, PARTITIONS_FIX
from ..vocabulary import CONTROL

__all__ = ["Benchmark", "QUEUE", "record_benchmarks", "recorded_experiments", "run_benchmark",
           "run_benchmarks", "with_control"]

MIN_VALUE_BYTES = 80  # the longest record without padding (ids.value_for at the messages cap)
# The ranges of Benchmark's numbers (fields.check_fields)
RANGES = {"value_bytes": (MIN_VALUE_BYTES, 1_000_000, f"Use {MIN_VALUE_BYTES} bytes or more (the value "
                          "carries an id, index, key and sequence), up to 1 MB (the broker's "
                          "default message.max.bytes)."),
          "rate": (0, 10_000_000), "commit_every": (1, None),
          "partitions": (1, MAX_PARTITIONS, PARTITIONS_FIX), "keys": (1, 10_000),
          "time_limit_s": (None, 3600)}


@dataclass
class Benchmark:
    """A producer configuration (librdkafka keys, verbatim) and how long to send with it."""

    messages: int | None = None  # how many to send; None: 5,000, or with duration_s at most
    # 1,000,000 (the clock stops the run first)
    config: dict[str, Any] = field(default_factory=lambda: dict(ACKS_ALL))
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
        check_fields(self, RANGES)
        check_messages(self.messages, "Use duration_s to measure for longer instead.")
        for name in ("partitions", "keys", "commit_every"):
            require_whole(name, getattr(self, name), "E.g. keys=8.")
        if not isinstance(self.value_bytes, int) or self.value_bytes < MIN_VALUE_BYTES:
            raise LabError(f"value_bytes={self.value_bytes!r} is too small.",
                           f"Use {MIN_VALUE_BYTES} bytes or more (the value carries an id, index, "
                           "key and sequence).")
        if not isinstance(self.rate, (int, float)) or self.rate < 0:
            raise LabError(f"rate={self.rate!r} must be ≥ 0.", "0 means as fast as possible.")
        require_seconds("time_limit_s", self.time_limit_s, "Use e.g. time_limit_s=60.")
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
        text = config_label(self.config)
        return f"{text}, txn every {self.commit_every}" if self.transactional else text


def run_benchmark(spec: Benchmark, cluster: Cluster | None = None,
                  progress: Progress | None = None,
                  keep: bool = False) -> BenchmarkResult:
    """Send with spec.config, time every delivery report, count what is stored."""
    spec.check()
    cluster = cluster or connect()
    run = Run(cluster, "bench", keep)
    try:
        topic = run.topic("lab-bench", spec.partitions)
        cluster.wait_for_leader(topic)
        conf = dict(spec.config)
        if spec.transactional:
            conf["transactional.id"] = run.transactional_id(topic)
        m = Measured.of(spec.messages)
        _send(Producer(run.client_config(**conf)), topic, spec, m, progress)
        if spec.verify:
            warm_up = 0 if spec.transactional else 1
            # acks=0/1 report delivery before the followers have the records, and a reader sees
            # only up to the high watermark: wait until it covers what was delivered (or 15 s:
            # a shortfall then shows as stored < delivered).
            with Watermarks(run.client_config(), [topic], spec.partitions) as marks:
                marks.wait_for(m.delivered + warm_up, within_s=15)
            m.stored = len(run.read_back(topic, spec.partitions)) - warm_up
    finally:
        # wait: the next run of a sitting must not share the brokers with this one's cleanup
        run.close(wait=True)
    result = benchmark_result(spec, m, topic)
    result.summary.update(run.kept())
    return result


def _send(producer: Producer, topic: str, spec: Benchmark, m: Measured,
          progress: Progress | None) -> None:
    """The timed part: produce for spec.duration_s (or spec.messages), transactions of
    spec.commit_every, then flush; every delivery report's latency goes into `m`."""
    n = spec.messages

    def report(index: int) -> Callable:
        def on_delivery(err, msg) -> None:
            m.latency[index] = (msg.latency() or 0.0) * 1000
            if err is None:
                m.delivered += 1
            else:
                m.errors[index] = err.name()
        return on_delivery

    deadline = time.monotonic() + spec.time_limit_s
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
        m.sent_at[i] = time.perf_counter()
        produce(producer, topic, key, val, report(i), wait_s=0.01)
        m.sent = i + 1
        producer.poll(0)
        if spec.transactional and (i + 1 - open_from == spec.commit_every or i == n - 1):
            _commit(producer, m, open_from, i + 1)
            open_from = i + 1
        if progress and i % 1000 == 0:
            progress(i, n)
    if spec.transactional and open_from < m.sent:  # stopped by the clock mid-transaction
        _commit(producer, m, open_from, m.sent)
    m.undelivered = producer.flush(max(1.0, deadline - time.monotonic()))
    m.elapsed_s = time.perf_counter() - t0
    if progress:
        progress(n, n)


def _commit(producer: Producer, m: Measured, first: int, end: int) -> None:
    """Commit the open transaction (messages first…end-1): how long it took, and how long each of
    its messages waited to become visible to a read_committed consumer."""
    started = time.perf_counter()
    producer.commit_transaction(30)
    done = time.perf_counter()
    m.commits.append((done - started) * 1000)
    m.visible[first:end] = (done - m.sent_at[first:end]) * 1000
    m.transactions += 1


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


# --- the recording shown by notebook 11 ----------------------------------------------------------
QUEUE = {"queue.buffering.max.messages": 2000}  # at most 2,000 messages queued in the producer


def recorded_experiments(duration_s: float = 3.0, rate: float = 2000.0,
                         txn_rate: float = 1000.0) -> dict[str, list[Benchmark]]:
    """The sitting notebook 11 shows: each experiment's settings, with a control pair each."""
    acks = [Benchmark(config=dict(PRODUCER_CONFIGS[name]), label=name)
            for name in ("acks=0", "acks=1", "acks=all")] + \
        [Benchmark(config=dict(SAFE), label="acks=all + idempotence")]
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


def record_benchmarks(out: str | Path, repeat: int = 3, duration_s: float = 3.0, command: str = "",
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

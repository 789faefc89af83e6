"""One stage of the retry pipeline (experiments.retry), as a worker process of its own, so
a crash is a real SIGKILL and a restart resumes from the stage's committed offsets.

Stage 0 ("main") reads the input; stage n ≥ 1 reads retry-n and first waits until the record is
due (its timestamp + the n-th delay). Each attempt either succeeds (→ processed) or fails (→ the
next retry topic, or the DLT after the last one). A stage forwards a batch, waits for the
delivery reports (flush), and only then commits its input offsets: at-least-once between topics,
so a crash after a forward and before the commit forwards that record again after the restart.

"blocking" is the other design: one consumer on the input retries a failing record in place,
sleeping the delays between attempts, while everything behind it waits.

A stage is done when the stage before it has exited cleanly (the runner writes
``upstream-done-<n-1>`` into the run folder) and it has handled its topic up to the high
watermark. Crash point ``before-commit``: the worker dies after the batch holding input message K
was forwarded and acknowledged, before its input offsets are committed — so after the restart the
whole batch is read and forwarded again (duplicates downstream, nothing lost).
"""
from __future__ import annotations

import random
import time
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from ..clients import RELIABLE_PRODUCER, produce
from ..ids import record_of, value_of
from ..topics import group_for
from .common import WorkerContext, check_message, committed_offsets, prime_metadata


def failing_attempts(seed: int, index: int, transient_rate: float, poison_rate: float,
                     max_transient_failures: int) -> tuple[str, float]:
    """(kind, how many attempts fail) for input message `index`, seeded per message: ok → 0,
    transient → 1..max_transient_failures, poison → inf (it always fails)."""
    rng = random.Random(f"{seed}:{index}")
    u = rng.random()
    if u < poison_rate:
        return "poison", float("inf")
    if u < poison_rate + transient_rate:
        return "transient", 1 + rng.randrange(max_transient_failures)
    return "ok", 0


class Stage:
    """One stage of the pipeline: its consumer (its own group), its producer, and what it has
    forwarded since its last commit."""

    def __init__(self, ctx: WorkerContext, n: int) -> None:
        self.ctx, self.n, self.spec = ctx, n, ctx.spec
        spec = ctx.spec
        topics = spec["stage_topics"]
        self.topic = topics[n]
        self.next_topic = topics[n + 1] if n + 1 < len(topics) else None
        self.parts = [TopicPartition(self.topic, p) for p in range(spec["partitions"])]
        self.consumer = Consumer(ctx.client(**{
            "group.id": group_for(self.topic), "auto.offset.reset": "earliest",
            "enable.auto.commit": False, "enable.partition.eof": True}))
        prime_metadata(self.consumer, self.topic)
        # Start where the group's last commit left off (asked explicitly: a bare assign() can
        # stall on a fresh cluster, see common.committed_offsets), so a restarted stage resumes
        # after its last commit.
        self.start = {t.partition: max(t.offset, 0)
                      for t in committed_offsets(self.consumer, self.parts)}
        self.consumer.assign([TopicPartition(self.topic, p, o if o > 0 else OFFSET_BEGINNING)
                              for p, o in self.start.items()])
        self.producer = Producer(ctx.client(**RELIABLE_PRODUCER))
        self.next_offset: dict[int, int] = {}
        self.pending: list[int] = []  # input indices forwarded since the last commit
        self.errors: list[str] = []

    def fails(self, record: dict[str, Any], attempt: int) -> bool:
        spec = self.spec
        if spec.get("processing_ms"):
            time.sleep(spec["processing_ms"] / 1000)
        _, fails = failing_attempts(spec["seed"], record["index"], spec["transient_rate"],
                                    spec["poison_rate"], spec["max_transient_failures"])
        return attempt <= fails

    def on_delivery(self, err, msg) -> None:
        if err is not None:
            self.errors.append(f"delivery to {msg.topic()} failed: {err.name()}")

    def forward(self, record: dict[str, Any], attempt: int, stage: str, next_topic: str | None,
                failed: bool) -> None:
        """After an attempt: to processed, to the next retry topic, or to the DLT."""
        now = time.time()
        out = {**record, "attempt": attempt, "stage": stage, "at": now}
        if not failed:
            target = self.spec["processed_topic"]
        elif next_topic is not None:
            target, out["error"] = next_topic, f"attempt {attempt} failed"
        else:
            target, out["error"], out["dead_lettered_at"] = self.spec["dlt_topic"], \
                f"attempt {attempt} failed", now
        produce(self.producer, target, record["key"].encode(), value_of(out), self.on_delivery)
        self.producer.poll(0)
        self.pending.append(record["index"])

    def wait_until(self, due: float) -> None:
        while time.time() < due and not self.ctx.deadline_passed():
            self.producer.poll(min(0.05, max(0.0, due - time.time())))

    def commit(self) -> None:
        """Forwarded records are acknowledged first; only then is the input offset committed."""
        if self.producer.flush(30) or self.errors:
            raise RuntimeError(f"forwarding failed: {self.errors[:1] or 'not acknowledged in 30 s'}")
        if self.n == 0:  # the crash schedule is the main stage's (a retry stage started before
            # the crash does not know it already happened, and would fire again on a re-sent record)
            self.ctx.crash.hit("before-commit", self.pending)
        self.pending = []
        if self.next_offset:
            self.consumer.commit(offsets=[TopicPartition(self.topic, p, o)
                                          for p, o in self.next_offset.items()], asynchronous=False)

    def upstream_done(self) -> bool:
        return self.n == 0 or (self.ctx.run_dir / f"upstream-done-{self.n - 1}").exists()

    def caught_up(self) -> bool:
        """Every partition handled up to its high watermark, asked of the leader now."""
        for tp in self.parts:
            _, high = self.consumer.get_watermark_offsets(tp, timeout=5, cached=False)
            done = self.next_offset.get(tp.partition, self.start[tp.partition])
            if done < high:
                return False
        return True

    def batches(self):
        """Lists of records until the upstream is done and this topic is handled to its end."""
        while not self.ctx.deadline_passed():
            batch = []
            for m in self.consumer.consume(self.spec["commit_every"], timeout=0.1):
                m = check_message(m)
                if m is None or m.error() is not None:  # an EOF event or a transient error
                    continue
                batch.append(m)
            if batch:
                yield batch
                self.commit()
            elif self.upstream_done() and self.caught_up():
                return

    def close(self) -> None:
        self.producer.flush(30)
        self.consumer.close()


def run_stage(n: int, ctx: WorkerContext) -> None:
    """Retry-topics mode: stage n of the pipeline."""
    st = Stage(ctx, n)
    delays = ctx.spec["delays_ms"]
    stage = "main" if n == 0 else f"retry-{n}"
    delay_s = 0.0 if n == 0 else delays[n - 1] / 1000
    for batch in st.batches():
        for m in batch:
            record = record_of(m.value())
            if n == 0:
                record["consumed_at"] = time.time()  # latency starts here, not at worker start-up
            if delay_s:  # not before its time: records come in due order, so wait for this one
                st.wait_until(m.timestamp()[1] / 1000 + delay_s)
            attempt = n + 1
            st.forward(record, attempt, stage, st.next_topic, st.fails(record, attempt))
            st.next_offset[m.partition()] = m.offset() + 1
    st.close()


def run_blocking(ctx: WorkerContext) -> None:
    """Blocking mode: retry in place with sleeps; the partition waits behind a failing record."""
    st = Stage(ctx, 0)
    delays = ctx.spec["delays_ms"]
    attempts = 1 + len(delays)
    for batch in st.batches():
        for m in batch:
            record = {**record_of(m.value()), "consumed_at": time.time()}
            for attempt in range(1, attempts + 1):
                failed = st.fails(record, attempt)
                if not failed or attempt == attempts:
                    st.forward(record, attempt, "main", None, failed)
                    break
                st.wait_until(time.time() + delays[attempt - 1] / 1000)  # the blocking back-off
            st.next_offset[m.partition()] = m.offset() + 1
    st.close()


MAX_STAGES = 10  # roles retry-stage-0 … retry-stage-9: the main stage and up to nine retry topics

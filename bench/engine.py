"""Experiment engine benchmarks.

- a 10,000-message at-least-once run with 10 crashes (target ≤ 15 s)
- crash → resumed processing: from the crash event to the restarted worker's first effect (≤ 2 s)
  (0.19 s when this was first measured, 0.83–0.99 s later: the same definition, but workers had
  begun to fetch committed offsets explicitly before assign() (librdkafka #5586), and a client
  assigned a topic it has no metadata for finds its leader only on its next 1-second topic scan;
  workers now ask for the topic's metadata first: workers/common.py prime_metadata)
- the lab's producer throughput as a ratio to a bare confluent-kafka loop in the same run (≥ 0.8;
  the earlier 1.19–1.52 came from timing the bare loop first, cold, on a topic whose leader the
  client did not know yet, in-process against the lab's spawn-to-exit)
Uses the running cluster (deliverylab.connect()).
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

import deliverylab
from deliverylab.experiments import (ConsumerExperiment, CrashSpec, ProducerExperiment,
                                     run_consumer, run_producer)
from deliverylab.supervisor import _pythonpath
from deliverylab.topics import unique_topic


def at_least_once_10k(cluster) -> dict:
    spec = ConsumerExperiment(model="at-least-once", messages=10_000, commit_every=100,
                              crash=CrashSpec("after-process", every=1000), time_limit_s=120)
    t0 = time.monotonic()
    r = run_consumer(spec, cluster)
    wall = time.monotonic() - t0
    ev = r.events.reset_index(drop=True)
    crashes = ev[ev.kind == "crash"].t.tolist()
    resumes = []
    for t_crash in crashes:
        after = r.timeline[r.timeline.t > t_crash]
        if len(after):
            resumes.append(float(after.t.min() - t_crash))
    return {"bench": "at-least-once 10k, 10 crashes", "wall_s": round(wall, 2),
            "run_elapsed_s": r.summary["elapsed_s"], "crashes": r.summary["crashes"],
            "lost": r.summary["lost"], "duplicated": r.summary["duplicated"],
            "crash_to_resume_s_max": round(max(resumes), 3) if resumes else None,
            "crash_to_resume_s_mean": round(sum(resumes) / len(resumes), 3) if resumes else None}


BARE_PRODUCER = r"""
import sys, time
from confluent_kafka import Producer
from deliverylab.payloads import payment_for
from deliverylab.ids import record, value_for
bootstrap, topic, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True})
reports = []
for i in range(n):
    rec = record(i, 8)
    while True:
        try:
            p.produce(topic, key=rec["key"].encode(), value=value_for(i, 8, payment_for(i)),
                      on_delivery=lambda err, msg: reports.append(err))
            break
        except BufferError:
            p.poll(0.05)
    p.poll(0)
p.flush(60)
assert len(reports) == n and not any(reports)
"""


def bare_producer_s(cluster, n: int) -> float:
    """The same messages (same bytes, same settings) from a bare loop in its own Python process,
    timed like the lab's worker: from spawn to exit."""
    topic = unique_topic("bench-bare")
    cluster.create_topic(topic, 1, 3)
    cluster.wait_for_leader(topic)
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-c", BARE_PRODUCER, cluster.bootstrap_servers, topic, str(n)],
                   check=True, timeout=120, env={**os.environ, "PYTHONPATH": _pythonpath()})
    took = time.monotonic() - t0
    cluster.delete_topics([topic])
    return took


def lab_producer_s(cluster, n: int) -> float:
    """The lab's producer worker, from its start event to its exit event (spawn to exit)."""
    r = run_producer(ProducerExperiment(messages=n, rate=0, time_limit_s=120,
                                        config={"acks": "all", "enable.idempotence": True}), cluster)
    ev = r.events
    return float(ev[(ev.kind == "exit") & (ev.detail == "producer")].t.max()
                 - ev[(ev.kind == "start") & (ev.detail == "producer")].t.min())


def producer_ratio(cluster, n: int = 30_000, pairs: int = 3) -> dict:
    """Lab vs bare throughput, fair: both warmed up first, both spawn a process and send the same
    bytes with the same settings to a fresh topic whose leader is known, in ABBA order (so
    neither always runs first on a machine that is warming up or cooling down)."""
    bare_producer_s(cluster, 2000)  # warm-up of both paths: JIT, page cache, connections
    lab_producer_s(cluster, 2000)
    bare, lab = [], []
    for i in range(pairs):
        order = (bare_producer_s, lab_producer_s) if i % 2 == 0 else (lab_producer_s, bare_producer_s)
        for f in order:
            (bare if f is bare_producer_s else lab).append(f(cluster, n))
    ratios = sorted(b / a for a, b in zip(lab, bare))  # lab rate / bare rate = bare s / lab s
    return {"bench": "producer throughput, lab / bare", "messages": n,
            "bare_msgs_per_s": [round(n / s) for s in bare], "lab_msgs_per_s": [round(n / s) for s in lab],
            "ratio_median": round(statistics.median(ratios), 2),
            "ratio_min_max": [round(ratios[0], 2), round(ratios[-1], 2)]}


if __name__ == "__main__":
    c = deliverylab.connect()
    print(json.dumps(at_least_once_10k(c)))
    print(json.dumps(producer_ratio(c)))

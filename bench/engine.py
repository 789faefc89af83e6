"""Experiment engine benchmarks.

- a 10,000-message at-least-once run with 10 crashes (target ≤ 15 s)
- crash → resumed processing: from the crash event to the restarted worker's first effect (≤ 2 s)
- the lab's producer throughput as a ratio to a bare confluent-kafka loop in the same run (≥ 0.8)
Uses the running cluster (deliverylab.connect()).
"""
from __future__ import annotations

import json
import time

from confluent_kafka import Producer

import deliverylab
from deliverylab.cluster import quiet
from deliverylab.experiments import (ConsumerExperiment, CrashSpec, ProducerExperiment,
                                     run_consumer, run_producer)
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


def bare_producer_rate(cluster, n: int) -> float:
    topic = unique_topic("bench-bare")
    cluster.create_topic(topic, 1, 3)
    p = Producer(quiet({**cluster.client_config(), "acks": "all", "enable.idempotence": True}))
    value = b"x" * 300
    t0 = time.monotonic()
    for i in range(n):
        while True:
            try:
                p.produce(topic, key=f"customer-{i % 8:03d}".encode(), value=value,
                          on_delivery=lambda err, msg: None)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
    p.flush(60)
    rate = n / (time.monotonic() - t0)
    cluster.delete_topics([topic])
    return rate


def producer_ratio(cluster, n: int = 50_000) -> dict:
    bare = bare_producer_rate(cluster, n)
    r = run_producer(ProducerExperiment(messages=n, rate=0, time_limit_s=120,
                                        config={"acks": "all", "enable.idempotence": True}), cluster)
    ev = r.events
    start = ev[(ev.kind == "start") & (ev.detail == "producer")].t.min()
    end = ev[(ev.kind == "exit") & (ev.detail == "producer")].t.max()
    lab = n / (end - start)
    return {"bench": "producer throughput", "messages": n, "bare_msgs_per_s": round(bare),
            "lab_msgs_per_s": round(lab), "ratio": round(lab / bare, 2)}


if __name__ == "__main__":
    c = deliverylab.connect()
    print(json.dumps(at_least_once_10k(c)))
    print(json.dumps(producer_ratio(c)))

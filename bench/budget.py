"""The latency budget of one Run: where a learner's wait goes, phase by phase, against its floor.

The floor is a bare confluent-kafka loop doing the same work on the same cluster in the same
run: produce the input (in-process), consume it with commits in one short-lived Python process
per worker life (crashes included: the bare process exits where the lab's worker is killed),
read the topic back (to its known end), count, delete the topic. The ratio lab / floor per phase
is what the lab adds to what Kafka and a Python process cost anyway.

Also measured: restart → first record over 20 restarts (the max is the target), an exactly-once
run, a read-back with no fault, and a producer run with a leader fault beside its own floor (a
bare producer at the same rate, the leader killed at the same point and restarted as late, the
topic read back, the broker back in the ISR). That floor is mostly Kafka's: 3,000 messages at
1,000/s take 3 s to send, and the writes stall ~4 s (broker.session.timeout.ms) until a new
leader takes them, so the issue's ≤ 6 s is below the floor at this rate.

    python bench/budget.py [--repeat 3]      (uses the running cluster: deliverylab.connect())

Targets (issue 11): at-least-once 200 messages / 4 crashes ≤ 2.5 s wall and ≤ 3× its floor;
exactly-once 200 / 4 ≤ 5 s; read-back of 200 records ≤ 0.3 s with no fault; every restart →
first record ≤ 0.3 s (max over 20); producer 3,000 messages with a leader fault ≤ 6 s.
"""
from __future__ import annotations

import argparse
import functools
import json
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from typing import Any, Callable

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

import deliverylab
from deliverylab import runs
from deliverylab.experiments import consumer as consumer_kind, producer as producer_kind
from deliverylab.clients import poll_until
from deliverylab.cluster import quiet
from deliverylab.experiments import (ConsumerExperiment, CrashSpec, ProducerExperiment,
                                     run_consumer, run_producer, seeded_fault)
from deliverylab.ids import msg_id, record_of, value_of
from deliverylab.readback import read_topic
from deliverylab.workers.common import prime_metadata

PHASES = ("setup", "input", "worker", "read-back", "counting", "cleanup")


# --- the lab, phase by phase -----------------------------------------------------------------
def _timed_run(run: Callable[[], Any]) -> tuple[Any, dict[str, float], float]:
    """Run an experiment with its phases timed (wrappers around the engine's own steps)."""
    spent: dict[str, float] = {p: 0.0 for p in PHASES}
    calls = {"supervise": 0}
    originals = {}

    def wrap(owner: Any, name: str, phase: Callable[[], str]) -> None:
        f = getattr(owner, name)
        originals[(owner, name)] = f

        @functools.wraps(f)
        def timed(*a: Any, **k: Any) -> Any:
            label = phase()
            t = time.monotonic()
            try:
                return f(*a, **k)
            finally:
                spent[label] += time.monotonic() - t
        setattr(owner, name, timed)

    def supervise_phase() -> str:
        calls["supervise"] += 1
        return "input" if calls["supervise"] == 1 else "worker"

    wrap(runs.Run, "topic", lambda: "setup")
    wrap(runs, "supervise", supervise_phase)
    wrap(runs, "read_topic", lambda: "read-back")
    wrap(consumer_kind, "consumer_result", lambda: "counting")
    wrap(producer_kind, "producer_result", lambda: "counting")
    wrap(runs.Run, "close", lambda: "cleanup")
    t0 = time.monotonic()
    try:
        result = run()
    finally:
        for (owner, name), f in originals.items():
            setattr(owner, name, f)
    return result, spent, time.monotonic() - t0


# --- the floor: the same work with a bare client ---------------------------------------------
# Each life waits for its crash point on stdin after its imports, as the lab's standby worker
# does (supervisor.py): the next life is started while the current one runs, so neither side
# pays Python's start-up on the critical path.
BARE_WORKER = r"""
import sys
from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING
bootstrap, topic, group, end = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
crash_at = int(sys.stdin.readline())
c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
start = c.committed([TopicPartition(topic, 0)], timeout=10)[0].offset
c.list_topics(topic, timeout=5)
c.assign([TopicPartition(topic, 0, start if start >= 0 else OFFSET_BEGINNING)])
done = 0
while True:
    m = c.poll(1.0)
    if m is None or m.error():
        continue
    done += 1
    if m.offset() == crash_at:
        sys.exit(9)              # the lab's worker is killed here, before its commit
    if done % 10 == 0 or m.offset() == end - 1:
        c.commit(offsets=[TopicPartition(topic, 0, m.offset() + 1)], asynchronous=False)
    if m.offset() == end - 1:
        break
c.close()
"""


def floor_run(cluster, messages: int, crash_every: int, value_size: int) -> dict[str, float]:
    spent: dict[str, float] = {}
    conf = cluster.client_config()
    topic = f"bench-floor-{uuid.uuid4().hex[:8]}"

    t = time.monotonic()
    cluster.create_topic(topic, 1)
    spent["setup"] = time.monotonic() - t

    t = time.monotonic()
    p = Producer(quiet({**conf, "enable.idempotence": True, "acks": "all", "linger.ms": 5}))
    prime_metadata(p, topic)  # as the lab's input writer does
    for i in range(messages):
        p.produce(topic, key=f"customer-{i % 8:03d}".encode(),
                  value=value_of({"id": msg_id(i), "key": f"customer-{i % 8:03d}", "seq": i,
                                  "pad": "x" * value_size}))
    p.flush(30)
    spent["input"] = time.monotonic() - t

    group = f"{topic}-group"

    def life() -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", BARE_WORKER, conf["bootstrap.servers"],
                                 topic, group, str(messages)], stdin=subprocess.PIPE)
    t = time.monotonic()
    standby = life()  # the first life starts cold, as the lab's first worker does
    for crash_at in [o for o in range(crash_every - 1, messages, crash_every)] + [-1]:
        proc, standby = standby, life()
        proc.communicate(f"{crash_at}\n".encode(), timeout=60)
    standby.kill()
    standby.wait()
    spent["worker"] = time.monotonic() - t

    t = time.monotonic()
    c = Consumer(quiet({**conf, "group.id": f"{topic}-read", "enable.auto.commit": False}))
    end = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10, cached=False)[1]
    c.list_topics(topic, timeout=5)
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    ids = []
    while len(ids) < end:
        for m in c.consume(1000, timeout=0.05):
            if not m.error():
                ids.append(record_of(m.value())["id"])
    c.close()
    spent["read-back"] = time.monotonic() - t

    t = time.monotonic()
    copies = Counter(ids)
    assert len(copies) == messages
    spent["counting"] = time.monotonic() - t

    # Off the wait, as the lab's run deletes its topics: in a thread, joined after the clock.
    t = time.monotonic()
    cleanup = threading.Thread(target=cluster.delete_topics, args=([topic],))
    cleanup.start()
    spent["cleanup"] = time.monotonic() - t
    cleanup.join()
    return spent


# --- the measurements ------------------------------------------------------------------------
def at_least_once_budget(cluster, repeat: int) -> list[dict]:
    rows = []
    for _ in range(repeat):
        floor = floor_run(cluster, 200, 50, 300)
        r, lab, wall = _timed_run(lambda: run_consumer(
            ConsumerExperiment(model="at-least-once", messages=200, commit_every=10,
                               crash=CrashSpec("after-process", every=50)), cluster))
        assert r.summary["crashes"] == 4 and r.summary["lost"] == 0, r.summary
        rows.append({"lab": lab, "floor": floor, "wall": wall, "floor_wall": sum(floor.values())})
    return rows


def restarts_to_first_record(cluster, restarts: int = 20) -> dict:
    r = run_consumer(ConsumerExperiment(model="at-least-once", messages=10 * restarts + 10,
                                        commit_every=5, crash=CrashSpec("after-process", every=10)),
                     cluster)
    ev, tl = r.events, r.timeline
    gaps = []
    for t in ev[(ev.kind == "restart") & (ev.detail == "at-least-once")].t:
        after = tl[tl.t > t]
        if len(after):
            gaps.append(float(after.t.min() - t))
    return {"restarts": len(gaps), "max_s": max(gaps), "median_s": statistics.median(gaps)}


def exactly_once(cluster) -> dict:
    r, lab, wall = _timed_run(lambda: run_consumer(
        ConsumerExperiment(model="exactly-once", messages=200, transaction_size=10,
                           crash=CrashSpec("mid-transaction", every=50)), cluster))
    ev, tl = r.events, r.timeline
    starts = ev[ev.kind.isin(["start", "restart"]) & (ev.detail == "exactly-once")].t
    firsts = [float(tl[tl.t > t].t.min() - t) for t in starts if len(tl[tl.t > t])]
    return {"wall": wall, "phases": lab, "crashes": r.summary["crashes"],
            "lost": r.summary["lost"], "duplicated": r.summary["duplicated"],
            "start_to_first_record_s": firsts}


def read_back_200(cluster) -> float:
    topic = f"bench-read-{uuid.uuid4().hex[:8]}"
    cluster.create_topic(topic, 1)
    p = Producer(quiet(cluster.client_config()))
    for i in range(200):
        p.produce(topic, value_of({"id": msg_id(i), "key": "k", "seq": i}))
    p.flush(30)
    t = time.monotonic()
    rows = read_topic(cluster.client_config(), topic, 1)
    took = time.monotonic() - t
    assert len(rows) == 200
    cluster.delete_topics([topic])
    return took


def producer_floor(cluster, messages: int, rate: float, strike_at: int, heal_after_s: float) -> float:
    """The same producer run bare: an in-process idempotent producer at the same rate; the
    partition leader SIGKILLed once `strike_at` sends are acknowledged and started again
    `heal_after_s` later; the topic read back to its end; the run over once the broker is back
    in the ISR (the lab's run too returns with the cluster whole)."""
    topic = f"bench-pfloor-{uuid.uuid4().hex[:8]}"
    cluster.create_topic(topic, 1)
    cluster.wait_for_leader(topic)
    t = time.monotonic()
    acked = [0]

    def on_ack(err, _msg) -> None:
        if err is None:
            acked[0] += 1
    p = Producer(quiet({**cluster.client_config(), "enable.idempotence": True, "acks": "all",
                        "linger.ms": 5}))
    prime_metadata(p, topic)
    heal = None
    for i in range(messages):
        p.produce(topic, value_of({"id": msg_id(i), "key": "k", "seq": i}), on_delivery=on_ack)
        poll_until(p, t + (i + 1) / rate)  # the lab's producer keeps its rate the same way
        if heal is None and acked[0] >= strike_at:
            leader = cluster.partition_state(topic, 0).leader
            cluster.kill(leader)

            def restart(broker: int = leader) -> None:
                time.sleep(heal_after_s)
                cluster.restart(broker)
            heal = threading.Thread(target=restart)
            heal.start()
    p.flush(60)
    cluster.wait_for_leader(topic)
    rows = read_topic(cluster.client_config(), topic, 1, after_fault=True)
    assert len({r[3] for r in rows}) == messages
    if heal:
        heal.join()
    cluster.wait_for_full_isr(topic, 1)
    took = time.monotonic() - t
    threading.Thread(target=cluster.delete_topics, args=([topic],)).start()
    return took


def producer_with_leader_fault(cluster, rate: float = 1000.0) -> dict:
    fault = seeded_fault("kill-leader", 3000, 1)
    t = time.monotonic()
    r = run_producer(ProducerExperiment(messages=3000, rate=rate, fault=fault,
                                        config={"acks": "all", "enable.idempotence": True}),
                     cluster)
    wall = time.monotonic() - t
    floor = producer_floor(cluster, 3000, rate, fault.at_index, fault.heal_after_s)
    return {"wall": wall, "floor": floor, "acked_but_lost": r.summary["acked_but_lost"]}


def _span(values: list[float]) -> str:
    return f"{min(values):.2f}–{max(values):.2f}" if len(values) > 1 else f"{values[0]:.2f}"


def print_budget(rows: list[dict]) -> None:
    print("\nat-least-once, 200 messages, 4 crashes (after-process every 50), commit every 10")
    print(f"{'phase':<11}{'lab s':>14}{'floor s':>14}{'lab / floor':>14}")
    for phase in PHASES + ("total",):
        if phase == "total":
            lab = [sum(r["lab"].values()) for r in rows]
            floor = [r["floor_wall"] for r in rows]
        else:
            lab = [r["lab"][phase] for r in rows]
            floor = [r["floor"][phase] for r in rows]
        ratio = [a / b for a, b in zip(lab, floor) if b > 0.005]  # not of milliseconds
        print(f"{phase:<11}{_span(lab):>14}{_span(floor):>14}"
              f"{(_span(ratio) if ratio else '—'):>14}")
    print(f"{'wall':<11}{_span([r['wall'] for r in rows]):>14}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    cluster = deliverylab.connect(min_brokers=3)
    run_consumer(ConsumerExperiment(messages=20), cluster)  # warm-up: JIT, coordinators, caches
    rows = at_least_once_budget(cluster, args.repeat)
    print_budget(rows)
    rs = restarts_to_first_record(cluster)
    print(f"\nrestart → first record: max {rs['max_s']:.3f} s, median {rs['median_s']:.3f} s "
          f"over {rs['restarts']} restarts (target max ≤ 0.3 s)")
    reads = [read_back_200(cluster) for _ in range(args.repeat)]
    print(f"read-back of 200 records, no fault: {_span(reads)} s (target ≤ 0.3 s)")
    eos = [exactly_once(cluster) for _ in range(args.repeat)]
    print(f"exactly-once 200 messages / 4 crashes: wall {_span([e['wall'] for e in eos])} s "
          f"(target ≤ 5 s); worker {_span([e['phases']['worker'] for e in eos])} s; "
          f"restart → first record {_span([x for e in eos for x in e['start_to_first_record_s'][1:]])} s; "
          f"lost {max(e['lost'] for e in eos)}, duplicated {max(e['duplicated'] for e in eos)}")
    prod = [producer_with_leader_fault(cluster) for _ in range(args.repeat)]
    print(f"producer 3,000 messages (1,000/s), kill-leader: wall {_span([p['wall'] for p in prod])} s "
          f"(target ≤ 6 s); floor {_span([p['floor'] for p in prod])} s, ratio "
          f"{_span([p['wall'] / p['floor'] for p in prod])}; acked-but-lost "
          f"{max(p['acked_but_lost'] for p in prod)}")
    print(json.dumps({"at_least_once": rows, "restarts": rs, "read_back_s": reads,
                      "exactly_once": eos, "producer": prod}, default=str))


if __name__ == "__main__":
    main()

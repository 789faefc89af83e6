"""A workshop day on one cluster (issue 21, item 5): several hundred mixed runs in a row through
the public API — every delivery model at its crash points, every broker, controller and network
fault under a producer, consumer groups (classic and KIP-848, static, commit-on-revoke),
coordinator faults and Scenario 2, share groups, the retry pipeline, and runs interrupted by
Ctrl-C (SIGINT) to the `deliverylab run` process that started them — and what the day leaves:

- runs that failed (an error, a time limit, or a broken invariant of the run's model; goal 0)
- topics, groups, worker processes, nftables tables and empty cgroups of this cluster left
  behind (goal 0)
- the run folder's disk use (DELIVERYLAB_HOME, and its runs/) and the brokers' and
  controllers' memory (psutil RSS) at start, middle and end
- the wall time of one reference run at the start and at the end (drift)

    DELIVERYLAB_HOME=/tmp/day DELIVERYLAB_PORT_BASE=13092 python bench/workshop_day.py [--runs 150]

Uses the running local cluster of DELIVERYLAB_HOME or starts a 3-broker one (and stops it).
tests/test_workshop_day.py runs `short_day()` (about 25 fast runs) on the test session's cluster.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import psutil

from deliverylab.catalog import ACKS_ALL, PRODUCER_CONFIGS
from deliverylab.cluster import Cluster, find_or_start, network
from deliverylab.crash import CrashSpec
from deliverylab.errors import LabError
from deliverylab.experiments import (ConsumerExperiment, ProducerExperiment, RetryPipeline,
                                     ShareExperiment, run_consumer, run_producer,
                                     run_retry_pipeline, run_share)
from deliverylab.experiments.validate import (IDEMPOTENT_PRODUCER, NEITHER_LOST_NOR_DUPLICATED,
                                              NO_ACKED_LOSS, NO_DUPLICATES, NO_LOSS)
from deliverylab.nemesis import COORDINATOR_FAULTS, FAULTS, NETWORK_FAULTS, seeded_fault
from deliverylab.vocabulary import (AT_LEAST_ONCE, AT_MOST_ONCE, AUTO_COMMIT, AUTO_COMMIT_STORE,
                                    CRASH_POINTS, EXACTLY_ONCE, IDEMPOTENT_CONSUMER, MODELS, SHARE)

Check = Callable[[dict[str, Any]], bool]
ANY: Check = lambda s: True  # timing-dependent: counted, no invariant
INVARIANTS: dict[str, Check] = {AT_LEAST_ONCE: NO_LOSS, AT_MOST_ONCE: NO_DUPLICATES,
                                EXACTLY_ONCE: NEITHER_LOST_NOR_DUPLICATED,
                                IDEMPOTENT_CONSUMER: NEITHER_LOST_NOR_DUPLICATED,
                                AUTO_COMMIT: ANY, AUTO_COMMIT_STORE: NO_LOSS}
CLI = [sys.executable, "-m", "deliverylab.tools.cli"]


@dataclass
class Step:
    name: str
    run: Callable[[Cluster], dict[str, Any]]  # the run's summary
    holds: Check = ANY


def consumer(model: str, point: str | None, messages: int, seed: int, crashes: int = 2,
             **kw: Any) -> Step:
    crash = CrashSpec(point, every=max(1, messages // crashes), seed=seed) if point else None
    spec = ConsumerExperiment(model=model, messages=messages, crash=crash, seed=seed,
                              processing_ms=kw.pop("processing_ms", 1), **kw)
    extra = " ".join(f"{k}={v}" for k, v in kw.items())
    return Step(f"{model} / {point or 'no crash'} {extra}".strip(),
                lambda c: run_consumer(spec, c).summary, INVARIANTS[model])


def group(seed: int, messages: int = 150, **kw: Any) -> Step:
    spec = ConsumerExperiment(model=AT_LEAST_ONCE, messages=messages, partitions=3,
                              membership="group", members=3, seed=seed,
                              crash=CrashSpec("after-process", every=messages // 2, seed=seed), **kw)
    label = " ".join(f"{k}={v}" for k, v in kw.items())
    return Step(f"group of 3, 3 partitions, 2 crashes {label}".strip(),
                lambda c: run_consumer(spec, c).summary, NO_LOSS)


def producer(config: str, fault: str, seed: int, messages: int = 600) -> Step:
    conf = PRODUCER_CONFIGS[config] if config in PRODUCER_CONFIGS else ACKS_ALL
    # slow enough that the run outlasts the fault (a network fault holds 8 s; kill-leader-alone
    # waits ~5 s for the ISR to shrink, then for 20 acks from the leader alone, then the election;
    # a broker kill ~5 s); without a fault nothing is to be outlasted
    seconds = 20.0 if fault == "kill-leader-alone" else 14.0 if fault in NETWORK_FAULTS \
        else 1.0 if fault == "none" else 5.0
    # kill-leader-alone needs an ISR of one to acknowledge acks=all writes (unclean election
    # stays off: nothing acked may be lost)
    min_isr = "1" if fault == "kill-leader-alone" else "2"
    spec = ProducerExperiment(messages=messages, config=dict(conf), seed=seed,
                              rate=messages / seconds,
                              topic_config={"min.insync.replicas": min_isr},
                              fault=seeded_fault(fault, messages, seed))
    holds = IDEMPOTENT_PRODUCER if config == "idempotent" else NO_ACKED_LOSS
    return Step(f"producer {config} / {fault}", lambda c: run_producer(spec, c).summary, holds)


def share(seed: int, point: str | None, members: int = 2, **kw: Any) -> Step:
    crash = CrashSpec(point, every=40, seed=seed) if point else None
    spec = ShareExperiment(messages=120, members=members, crash=crash, input_batch=10, **kw)
    label = " ".join(f"{k}={v}" for k, v in kw.items())
    # a share group redelivers: nothing lost; a poison record is archived, not lost
    return Step(f"share group of {members} / {point or 'no crash'} {label}".strip(),
                lambda c: run_share(spec, c).summary, NO_LOSS)


def coordinator(fault: str, seed: int) -> Step:
    spec = ConsumerExperiment(model=AT_LEAST_ONCE, messages=200, membership="group", members=2,
                              partitions=2, coordinator_fault=fault, seed=seed, processing_ms=2)
    return Step(f"group / {fault}", lambda c: run_consumer(spec, c).summary, NO_LOSS)


def scenario(name: str, seed: int) -> Step:
    spec = ConsumerExperiment(model=AT_LEAST_ONCE, messages=100, scenario=name, seed=seed)
    return Step(f"at-least-once / {name}", lambda c: run_consumer(spec, c).summary, NO_LOSS)


def retry(seed: int, mode: str) -> Step:
    spec = RetryPipeline(messages=100, mode=mode, seed=seed, delays_ms=(200, 400))

    def go(c: Cluster) -> dict[str, Any]:
        r = run_retry_pipeline(spec, c)
        return {**r.summary, "lost": r.summary.get("lost", 0)}
    return Step(f"retry pipeline / {mode}", go, NO_LOSS)


def interrupted(seed: int, after_s: float) -> Step:
    """`deliverylab run` stopped by Ctrl-C (SIGINT) mid-run, as a learner stops it: exit 130,
    and the lab removes what the run made (checked at the day's end, with everything else)."""
    def go(c: Cluster) -> dict[str, Any]:
        runs = Path(os.environ.get("DELIVERYLAB_HOME") or cluster_home(c)) / "runs"
        before = set(runs.glob("*")) if runs.exists() else set()
        proc = subprocess.Popen([*CLI, "run", "at-least-once", "--messages", "3000",
                                 "--processing-ms", "3", "--seed", str(seed)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                # a shell's background job (`bench … &`) ignores SIGINT, and its
                                # children would inherit that: give the CLI Ctrl-C back
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.monotonic() + 30  # its run has begun: its folder is there
        while not (set(runs.glob("*")) - before) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        time.sleep(after_s)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        if proc.returncode != 130:
            raise RuntimeError(f"exit {proc.returncode} after SIGINT: {err[-300:]}")
        return {"interrupted_after_s": after_s}
    return Step(f"interrupted by Ctrl-C after {after_s:.1f} s", go)


def cluster_home(cluster: Cluster) -> Path:
    return Path(cluster.home)  # a local cluster's run folder


def reference() -> Step:
    """The same run at the start and at the end of the day: its wall time shows drift."""
    return consumer(AT_LEAST_ONCE, "after-process", 200, seed=7)


def full_day(runs: int = 150, faults_here: set[str] | None = None) -> list[Step]:
    """`runs` mixed steps, interleaved so every kind recurs through the day."""
    faults_here = faults_here if faults_here is not None else set(FAULTS)
    seeds = itertools.count(1)
    consumers = [consumer(m, p, 60, next(seeds)) for m in MODELS for p in CRASH_POINTS[m]]
    consumers += [consumer(m, None, 60, next(seeds)) for m in MODELS]
    groups = [group(next(seeds)), group(next(seeds), commit_on_revoke=True),
              group(next(seeds), static=True), group(next(seeds), group_protocol="consumer"),
              group(next(seeds), assignor="cooperative-sticky")]
    producers = [producer(cfg, f, next(seeds)) for f in FAULTS if f != "none" and f in faults_here
                 for cfg in (("idempotent", "acks=all") if f not in NETWORK_FAULTS else ("acks=all",))]
    shares = [share(next(seeds), p) for p in CRASH_POINTS[SHARE]] + \
        [share(next(seeds), None, poison=(7,)), share(next(seeds), None, members=3)]
    others = [coordinator(f, next(seeds)) for f in COORDINATOR_FAULTS] + \
        [scenario(s, next(seeds)) for s in ("scenario-2-applied", "scenario-2-lost")] + \
        [retry(next(seeds), m) for m in ("retry-topics", "blocking")] + \
        [interrupted(next(seeds), t) for t in (0.5, 2.0, 4.0)]
    # a round: three consumer runs (the fast ones, the day's bulk), then one of each other kind
    pools = [consumers, consumers, consumers, groups, producers, shares, others]
    day: list[Step] = []
    taken = {id(p): 0 for p in pools}
    for _ in itertools.count():
        for pool in pools:
            if len(day) < runs and pool:
                day.append(pool[taken[id(pool)] % len(pool)])
                taken[id(pool)] += 1
        if len(day) >= runs:
            return day


def short_day() -> list[Step]:
    """About 25 fast runs (a test in `make test`): every delivery model at two of its crash
    points (one crash each) and without one, producers without a fault, a share group, a group
    of two, one Ctrl-C. The full day (`--runs`) strikes every crash point."""
    seeds = itertools.count(1)
    steps = [consumer(m, CRASH_POINTS[m][i % len(CRASH_POINTS[m])], 20, next(seeds), crashes=1)
             for i in range(2) for m in MODELS]
    steps += [consumer(m, None, 20, next(seeds)) for m in MODELS]
    steps += [producer(cfg, "none", next(seeds), messages=100) for cfg in ("idempotent", "acks=all")]
    steps += [share(next(seeds), "after-process"), share(next(seeds), None),
              Step("group of 2, no crash", lambda c: run_consumer(ConsumerExperiment(
                  messages=60, partitions=2, membership="group", members=2), c).summary, NO_LOSS),
              interrupted(next(seeds), 1.0)]
    return steps


# --- what the day leaves ---------------------------------------------------------------------
def lab_names(cluster: Cluster) -> tuple[set[str], set[str]]:
    admin = cluster.admin()
    topics = {t for t in admin.list_topics(timeout=10).topics
              if not t.startswith("__") and t != "_deliverylab_ready"}
    groups = {g.group_id for g in admin.list_consumer_groups(request_timeout=10).result().valid}
    return topics, groups


def workers_of(home: Path) -> list[int]:
    return [p.pid for p in psutil.process_iter(["cmdline"])
            if "deliverylab.workers" in " ".join(p.info["cmdline"] or ()) and
            str(home) in " ".join(p.info["cmdline"] or ())]


def network_left(home: Path) -> list[str]:
    """This cluster's nftables table (a fault's, gone when it heals) and its empty cgroups."""
    table = network.table_name(home)
    return [line for line in network.leftovers() if table in line or
            (network.tag(home) in line and "empty" in line)]


def jvm_rss_mb(home: Path) -> float:
    rss = 0
    for p in psutil.process_iter(["cmdline", "memory_info"]):
        cmd = " ".join(p.info["cmdline"] or ())
        if "kafka.Kafka" in cmd and str(home) in cmd and p.info["memory_info"]:
            rss += p.info["memory_info"].rss
    return round(rss / 2**20, 1)


def disk_mb(folder: Path) -> float:
    total = 0
    for d, _, files in os.walk(folder):
        for f in files:
            try:
                total += os.lstat(os.path.join(d, f)).st_blocks * 512
            except OSError:
                pass  # a file removed while we walk
    return round(total / 2**20, 1)


def sample(cluster: Cluster, home: Path) -> dict[str, float]:
    return {"broker_rss_mb": jvm_rss_mb(home), "home_mb": disk_mb(home),
            "runs_folder_mb": disk_mb(home / "runs")}


def run_folders(home: Path) -> set[str]:
    return {p.name for p in (home / "runs").glob("*")} if (home / "runs").exists() else set()


def leftovers(cluster: Cluster, home: Path, before: tuple[set, set, set], within_s: float = 90.0
              ) -> dict[str, list]:
    """What the day made and did not remove, after `within_s` for the background cleanup (a
    killed member keeps its group for its session timeout, which cannot be deleted sooner).
    `before`: the topics, groups and run folders there before the day (someone else's)."""
    deadline = time.monotonic() + within_s
    while True:
        topics, groups = lab_names(cluster)
        left = {"topics": sorted(topics - before[0]), "groups": sorted(groups - before[1]),
                "workers": workers_of(home), "network": network_left(home),
                "run_folders": sorted(run_folders(home) - before[2])}
        if not any(left.values()) or time.monotonic() > deadline:
            return left
        time.sleep(1.0)


def day(cluster: Cluster, home: Path, steps: list[Step], log: Callable[[str], None] = print,
        leftovers_within_s: float = 90.0) -> dict[str, Any]:
    before = (*lab_names(cluster), run_folders(home))
    samples = {"start": sample(cluster, home)}
    ref = reference()
    t = time.monotonic()
    ref_ok, ref_summary = True, ref.run(cluster)
    ref_start = round(time.monotonic() - t, 2)
    failures: list[dict[str, Any]] = []
    walls: list[float] = []
    t_day = time.monotonic()
    for n, step in enumerate(steps, 1):
        t = time.monotonic()
        try:
            s = step.run(cluster)
            problem = ("timed out" if s.get("timed_out") else
                       None if step.holds(s) else f"invariant broken: {json.dumps(s, default=str)[:300]}")
        except (LabError, Exception) as exc:  # noqa: BLE001 - every failure is a row of the report
            problem = f"{type(exc).__name__}: {str(exc)[:300]}"
        walls.append(time.monotonic() - t)
        if problem:
            failures.append({"run": n, "name": step.name, "problem": problem})
        log(f"{n:>3}/{len(steps)} {walls[-1]:6.1f} s  {'FAIL ' + problem if problem else 'ok'}  {step.name}")
        if n == len(steps) // 2:
            samples["middle"] = sample(cluster, home)
    t = time.monotonic()
    ref_end_summary = ref.run(cluster)
    ref_end = round(time.monotonic() - t, 2)
    ref_ok = ref.holds(ref_summary) and ref.holds(ref_end_summary)
    left = leftovers(cluster, home, before, leftovers_within_s)
    samples["end"] = sample(cluster, home)
    return {"runs": len(steps), "failed": len(failures), "failures": failures,
            "day_s": round(time.monotonic() - t_day, 1),
            "run_wall_s": {"median": round(sorted(walls)[len(walls) // 2], 2),
                           "max": round(max(walls), 2)} if walls else {},
            "reference_wall_s": {"start": ref_start, "end": ref_end}, "reference_held": ref_ok,
            "leftovers": left, "samples": samples}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=150)
    p.add_argument("--out", help="the report as JSON to this file too")
    args = p.parse_args()
    cluster, started = find_or_start(brokers=3)
    try:
        home = cluster.home
        # network faults need nftables and root: without them the day runs the other faults
        faults = set(FAULTS) - (set() if network.missing() is None else set(NETWORK_FAULTS))
        report = day(cluster, home, full_day(args.runs, faults))
        report["machine"] = {"cpus": psutil.cpu_count(), "load_avg": os.getloadavg(),
                             "bootstrap": cluster.bootstrap_servers}
        text = json.dumps(report, indent=2, default=str)
        print(text)
        if args.out:
            Path(args.out).write_text(text)
        return 0 if report["failed"] == 0 and not any(report["leftovers"].values()) else 1
    finally:
        if started:
            cluster.stop()


if __name__ == "__main__":
    sys.exit(main())

"""Consumer-group benchmarks (issue 9). Uses the running cluster (deliverylab.connect()).

- 10,000 messages, 3 members on 6 partitions, 3 member crashes, at-least-once: wall time
  (target ≤ 20 s)
- the stop-the-world gap when a member joins: the longest pause in the group's processing
  after the joiner starts, eager (range) vs cooperative (cooperative-sticky) vs KIP-848
- resume time after a member crash, per protocol: from the crash to the next record processed
  on the partitions it held (classic dynamic waits for session.timeout.ms; static gets them back
  on restart; KIP-848)

- the issue-21 command (`python bench/groups.py stall`): 10 seeds, with and without
  --commit-on-revoke: exit status, wall and elapsed time, lost, unread_at_timeout, duplicated

Measured 2026-11-27 on the shared 2-core machine (lab cluster, 4.1.1, confluent-kafka 2.16.1):
10k/3 members/3 crashes 3.9–4.0 s, lost 0; join gap (a member's revocation → its next record)
eager 0.12 s, cooperative-sticky 0.09 s, KIP-848 0.11 s — no measurable difference at this
scale, but eager repeated 8 records at the join (tail forgotten) and the others 0; resume after a
crash: classic dynamic 6.0 s (= session.timeout.ms), classic static 0.11–0.12 s, KIP-848 dynamic
45.1 s and KIP-848 static 45.0–47.7 s (consumer.session.timeout.ms, 45 s: under KIP-848 the
restarted static member did not get its partitions back before the old one timed out).

Measured 2026-12-02 after issue 21 (Kafka 4.4.0, the lab's groups: session.timeout.ms 6000,
the brokers' group.consumer.session.timeout.ms 6000), load average 7–18 from other clusters:
the issue-21 command, seeds 101–110, exit 0 and lost 0 in 20 of 20 runs (4 crashes each,
23–34 duplicated); without --commit-on-revoke wall 24.9–34.8 s (median 28.5), elapsed
20.9–29.6 s; with it wall 23.5–34.1 s (median 27.6), elapsed 16.0–25.1 s; the time limit is
90 s (before: every run timed out, "lost" 56–243). Resume after a crash (600 messages, 3
members, 3 or 6 partitions): classic dynamic 6.0–6.3 s, KIP-848 dynamic 5.7–8.2 s, KIP-848
static 5.8–7.7 s (its restarts refused with UNRELEASED_INSTANCE_ID until the session
expired), classic static 0.1–0.8 s.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time

import deliverylab
from deliverylab.experiments import ConsumerExperiment, run_consumer
from deliverylab.crash import CrashSpec

GROUP = dict(membership="group", members=3, partitions=6)


def crashes_10k(cluster) -> dict:
    spec = ConsumerExperiment(model="at-least-once", messages=10_000, commit_every=100,
                              crash=CrashSpec("after-process", at=(2500, 5000, 7500)),
                              session_timeout_ms=6000, static=True, time_limit_s=120, **GROUP)
    t0 = time.monotonic()
    r = run_consumer(spec, cluster)
    s = r.summary
    return {"bench": "group 10k, 3 members, 6 partitions, 3 crashes", "wall_s": round(time.monotonic() - t0, 2),
            "lost": s["lost"], "duplicated": s["duplicated"], "crashes": s["crashes"],
            "resume_s_max": s["resume_s_max"], "timed_out": s["timed_out"]}


def join_gap(cluster, label: str, **group) -> dict:
    spec = ConsumerExperiment(model="at-least-once", messages=1500, processing_ms=4,
                              joining_member=2, join_after=300, time_limit_s=90, **GROUP, **group)
    r = run_consumer(spec, cluster)
    ev, tl = r.events, r.timeline.sort_values("t")
    joined = float(ev[(ev.kind == "start") & (ev.worker == 2000)].t.min())
    # The stop-the-world gap: for each member that gave partitions up after the joiner started,
    # the time from its revocation to its own next processed record (eager: it holds nothing
    # until the new assignment; cooperative: the partitions it keeps go on at once).
    gaps = []
    revs = ev[(ev.kind == "revoked") & (ev.t >= joined)]
    for worker, t in zip(revs.worker, revs.t):
        nxt = tl[(tl.worker == worker) & (tl.t > t)].t
        if len(nxt):
            gaps.append(float(nxt.min() - t))
    gap = round(max(gaps), 3) if gaps else None
    return {"bench": f"join gap, {label}", "gap_s": gap,
            "rebalances": r.summary["rebalances"], "duplicated": r.summary["duplicated"],
            "lost": r.summary["lost"]}


def resume(cluster, label: str, **group) -> dict:
    spec = ConsumerExperiment(model="at-least-once", messages=800, processing_ms=10,
                              crash=CrashSpec("after-process", at=(400,)), time_limit_s=120,
                              **GROUP, **group)
    r = run_consumer(spec, cluster)
    res = r.extra["resumes"]
    return {"bench": f"resume after a member crash, {label}",
            "resume_s": float(res.resume_s.iloc[0]) if len(res) else None,
            "rebalances": r.summary["rebalances"], "lost": r.summary["lost"]}


# Issue 21's group stall: this command ran into its 90 s time limit after its first crashes
# (a crashed member held its group for librdkafka's 45 s session timeout) and reported 56–243
# messages "lost". Run as a learner runs it, one process per seed; the wall time includes the
# CLI's start and its wait for the run's topic and group to be deleted.
STALL_COMMAND = ["run", "at-least-once", "--messages", "600", "--partitions", "3", "--membership",
                 "group", "--members", "3", "--crash", "after-process", "--crash-every", "150"]


def stall_command(seeds=range(101, 111), extra: tuple[str, ...] = ()) -> list[dict]:
    rows = []
    for seed in seeds:
        t0 = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "deliverylab.tools.cli", *STALL_COMMAND,
                               *extra, "--seed", str(seed), "--json"], capture_output=True, text=True)
        wall = round(time.monotonic() - t0, 2)
        try:
            s = json.loads(done.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            s = {"error": done.stderr.strip()[-300:]}
        rows.append({"bench": f"issue 21 command {' '.join(extra)}".strip(), "seed": seed,
                     "exit": done.returncode, "wall_s": wall, "elapsed_s": s.get("elapsed_s"),
                     **{k: s.get(k) for k in ("lost", "unread_at_timeout", "duplicated",
                                                "crashes", "timed_out", "error")}})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    if sys.argv[1:] == ["stall"]:  # only the issue-21 command, 10 seeds, with and without commit-on-revoke
        stall_command()
        stall_command(extra=("--commit-on-revoke",))
        return
    cluster = deliverylab.connect()
    rows = [crashes_10k(cluster)]
    print(json.dumps(rows[0]), flush=True)
    for label, g in (("eager (range)", {"assignor": "range"}),
                     ("cooperative-sticky", {"assignor": "cooperative-sticky"}),
                     ("KIP-848 (group.protocol=consumer)", {"group_protocol": "consumer"})):
        rows.append(join_gap(cluster, label, **g))
    for label, g in (("classic dynamic, session.timeout.ms=6000", {"session_timeout_ms": 6000}),
                     ("classic static, session.timeout.ms=10000", {"static": True, "session_timeout_ms": 10000}),
                     ("KIP-848 dynamic", {"group_protocol": "consumer"}),
                     ("KIP-848 static", {"group_protocol": "consumer", "static": True})):
        rows.append(resume(cluster, label, **g))
    for row in rows[1:]:
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    sys.exit(main())

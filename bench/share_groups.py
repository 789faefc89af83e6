"""Share-group benchmarks (issue 10). Uses the running cluster (deliverylab.connect()).

- redelivery delay vs lock duration: one member crashes after processing record 10 (before
  acknowledging); the gap between a record's first and second delivery, and the crash → first
  redelivery time, for share.record.lock.duration.ms 1, 2, 5, 10 s — with 1 member (the
  restarted process gets the records back) and with 2 (the other member may take them)
- throughput of 1, 2 and 4 share consumers on ONE partition: records per second from the first
  delivery to the last record processed, 5 ms of work per record (without work the run is a
  fraction of a second and measures SQLite), no crash, explicit acknowledgement; `small`: the
  same with the input in small producer batches and small polls

- the same with a member that is alive but stuck (it keeps its connection): only the lock's
  expiry gives its records back

    DELIVERYLAB_HOME=… .venv/bin/python bench/share_groups.py [redelivery|stalled|throughput|small] [runs]

Prints one JSON line per run. Measured 2026-11-27 on the shared 2-core machine (lab cluster of 3
brokers, Kafka 4.4.0, confluent-kafka 2.16.1), 3 runs each, min–max:
- crash (SIGKILL after processing, before acknowledging) → first redelivery: 1 member (the
  restarted process) 5.03–5.09 s for every lock of 1, 2, 5 and 10 s; 2 members 0.009–0.49 s.
  The lock does not bound a crash: the records came back as soon as a member could take them.
- stall (alive, connected, stuck for lock + 2 s) → redelivery to the other member: 1.001–1.004 s,
  2.002–2.005 s, 5.00–5.02 s, 10.00 s for locks of 1, 2, 5, 10 s: exactly the lock. The stalled
  member's late acknowledgements were not reported refused (refused_acks 0 in every run), though
  the records had been handed out again and were processed twice.
- 3000 records, 5 ms of work each, 1 / 2 / 4 members on one partition: 158–190, 166–242,
  139–181 records/s (with the group's record-lock cap at 100: 158–190, 179–187, 139–181). In 17 of
  18 runs one member processed all 3000 records, although Kafka's ShareGroupCommand showed every
  member assigned the partition: the input is written before the members start, in a few large
  producer batches, and a member acquired whole batches at once. No speed-up from more members
  was measured in this set-up.
- `small`: the same 3000 records written in producer batches of 10 (input_batch=10) and read with
  max.poll.records=20, lock 30 s, 2 runs each: 1 / 2 / 4 members 175–179, 296–354, 611–705
  records/s; every member got a share (1480–1520 each of 2, 720–800 each of 4), nothing lost or
  duplicated, and all 8 keys were processed out of order whenever 2 or 4 members ran.
"""
from __future__ import annotations

import json
import sys

import deliverylab
from deliverylab.crash import CrashSpec
from deliverylab.experiments import ShareExperiment, run_share

LOCKS_MS = (1000, 2000, 5000, 10000)
MEMBERS = (1, 2, 4)


def redelivery(cluster, lock_ms: int, members: int) -> dict:
    spec = ShareExperiment(messages=20, members=members, ack="explicit", lock_duration_ms=lock_ms,
                           crash=CrashSpec("after-process", at=(10,)), time_limit_s=120)
    r = run_share(spec, cluster)
    d = r.extra["deliveries"]
    crash_t = float(r.events.loc[r.events.kind == "crash", "t"].iloc[0])
    again = d[d.delivery_count == 2]
    return {"bench": "redelivery", "lock_ms": lock_ms, "members": members,
            "gap_median_s": r.summary["redelivery_gap_median_s"],
            "crash_to_redelivery_s": round(float(again.t.min()) - crash_t, 3) if len(again) else None,
            "lost": r.summary["lost"], "duplicated": r.summary["duplicated"],
            "reordered_keys": r.summary["reordered_keys"], "timed_out": r.summary["timed_out"]}


def stalled(cluster, lock_ms: int) -> dict:
    """A member alive but stuck (stall_ms = lock + 2 s) while holding its batch: the other
    member gets the records once their lock expires."""
    spec = ShareExperiment(messages=20, members=2, ack="explicit", lock_duration_ms=lock_ms,
                           stall_at=10, stall_ms=lock_ms + 2000, time_limit_s=120)
    r = run_share(spec, cluster)
    return {"bench": "stalled", "lock_ms": lock_ms, "members": 2,
            "gap_median_s": r.summary["redelivery_gap_median_s"],
            "refused_acks": r.summary["refused_acks"], "lost": r.summary["lost"],
            "duplicated": r.summary["duplicated"], "timed_out": r.summary["timed_out"]}


def throughput(cluster, members: int, max_record_locks: int | None, messages: int = 3000,
               processing_ms: float = 5.0, lock_ms: int = 30000, small: bool = False) -> dict:
    """lock_ms: Kafka's default lock. A member acquires a whole fetch at once (here every
    available record), so the batch's work must fit in one lock or it all comes back;
    max_record_locks caps what the partition hands out at once (all members together).
    small: the input in producer batches of 10 records, members polling at most 20."""
    extra = {"input_batch": 10, "consumer_config": {"max.poll.records": 20}} if small else {}
    spec = ShareExperiment(messages=messages, members=members, ack="explicit", lock_duration_ms=lock_ms,
                           processing_ms=processing_ms, max_record_locks=max_record_locks,
                           time_limit_s=180, **extra)
    r = run_share(spec, cluster)
    d = r.extra["deliveries"]
    span = float(r.timeline.t.max() - d.t.min())
    per_member = d.groupby("worker").size()
    # When the last member got its first record: before that, fewer members were working.
    all_in = float(d.groupby("worker").t.min().max() - d.t.min())
    return {"bench": "throughput", "members": members, "messages": messages, "small_batches": small,
            "processing_ms": processing_ms, "lock_ms": lock_ms, "max_record_locks": max_record_locks,
            "records_per_s": round(messages / span, 1), "span_s": round(span, 2),
            "members_that_got_records": int(len(per_member)),
            "records_per_member": sorted(per_member.tolist(), reverse=True),
            "last_member_first_record_s": round(all_in, 2),
            "lost": r.summary["lost"], "duplicated": r.summary["duplicated"],
            "reordered_keys": r.summary["reordered_keys"], "timed_out": r.summary["timed_out"]}


def main(argv: list[str]) -> None:
    which = argv[0] if argv else "both"
    runs = int(argv[1]) if len(argv) > 1 else 3
    cluster = deliverylab.connect()
    for _ in range(runs):
        if which in ("redelivery", "both"):
            for members in (1, 2):
                for lock in LOCKS_MS:
                    print(json.dumps(redelivery(cluster, lock, members)), flush=True)
        if which in ("stalled", "both"):
            for lock in LOCKS_MS:
                print(json.dumps(stalled(cluster, lock)), flush=True)
        if which in ("throughput", "both"):
            for locks in (None, 100):
                for members in MEMBERS:
                    print(json.dumps(throughput(cluster, members, locks)), flush=True)
        if which in ("small", "both"):
            for members in MEMBERS:
                print(json.dumps(throughput(cluster, members, None, small=True)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

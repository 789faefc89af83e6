"""Anomalies named by their cause, as Jepsen's queue checker names them.

The checker (checker.py) says what became of each message: delivered once, lost, duplicated.
This module says *why*, in the classes of Jepsen's Kafka workload
(jepsen/src/jepsen/tests/kafka.clj) and of Kafka's own system tests
(tests/kafkatest/utils/util.py::validate_delivery, which tells a record the consumer skipped
from one gone from the log):

- poll-skip: the consumer's successive reads of a partition jumped over records the log holds
  (Jepsen: "two successive operations by a single process skipped over one or more values");
- nonmonotonic-poll: a read began at or before where the previous one left off (Jepsen: "a
  process started polling at or before a previous operation last left off"); after a crash or a
  rebalance this is the rewind to the committed offset, and each case says so;
- lost-write: acknowledged to its producer, and not in the log; never-produced: never
  acknowledged and not in the log (nothing the consumer could have read);
- duplicate: processed more than once; G1a: a read_committed read of an aborted write;
- inconsistent-offsets: one (partition, offset) seen holding two different records.

Positions are compared in the log's own order (the read-back's offsets, sorted), not by offset
arithmetic: a transaction's commit marker takes an offset no reader sees, so a gap of offsets is
not a skip (Jepsen compares in its "version order" for the same reason).

A lab worker that crashes is started again as the same consumer (same group, same committed
offsets), so a partition's reads are compared across its restarts and across rebalances; that
is where at-most-once and auto-commit skip. (Jepsen numbers a restarted client as a new process
and compares only one process's polls.) Each case says whether a crash or a rebalance lies
between its two reads, so a scenario can allow what Jepsen allows under subscribe.

Producer runs: persistence_status names each delivery report as librdkafka's
rd_kafka_message_status() and Confluent.Kafka's DeliveryResult.Status would (PERSISTED_RULES).

Pure: frames in, frames and dicts out; no Kafka I/O.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from .vocabulary import (ABORT, ASSIGNED, CRASH, DOTNET_PERSISTENCE, DUPLICATE,
                         DUPLICATED, G1A, INCONSISTENT_OFFSETS, LOST, LOST_WRITE, NEVER_PRODUCED,
                         NONMONOTONIC_POLL, NOT_PERSISTED, PERSISTED, POLL_SKIP,
                         POSSIBLY_PERSISTED, REVOKED, UNCLASSIFIED_LOSS)

__all__ = ["poll_cases", "inconsistent_offsets", "g1a_reads", "consumer_anomalies",
           "consumer_anomaly_summary", "unread_input_anomalies", "persistence_status", "producer_statuses",
           "persistence_summary", "POSSIBLY_PERSISTED_ERRORS", "NOT_PERSISTED_ERRORS",
           "UNCERTAIN_ERRORS", "CASE_COLUMNS"]

CASE_COLUMNS = ["kind", "partition", "from_offset", "to_offset", "delta", "skipped",
                "skipped_ids", "worker_from", "worker_to", "after_crash", "across_rebalance",
                "after_abort", "cause"]


def _frame(frame: pd.DataFrame | None, names: tuple[str, ...]) -> pd.DataFrame:
    frame = pd.DataFrame() if frame is None else frame.reset_index(drop=True).copy()
    for n in names:
        if n not in frame:
            frame[n] = pd.Series([None] * len(frame), dtype=object)
    return frame


def _log_order(log: pd.DataFrame | None) -> dict[int, list[tuple[int, str]]]:
    """Per partition, the log's (offset, msg_id) in offset order: its version order."""
    log = _frame(log, ("msg_id", "partition", "offset")).dropna(subset=["partition", "offset"])
    log = log.drop_duplicates(["partition", "offset"]).sort_values(["partition", "offset"])
    return {int(p): [(int(o), str(m)) for o, m in zip(g["offset"], g["msg_id"])]
            for p, g in log.groupby("partition")}


def _between(times: list[float], t1: float | None, t2: float) -> bool:
    lo = float("-inf") if t1 is None else t1
    return any(lo <= t <= t2 for t in times)


def poll_cases(polls: pd.DataFrame, log: pd.DataFrame, events: pd.DataFrame | None = None,
               commits: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every poll-skip and nonmonotonic-poll of a consumer run, one row per case (CASE_COLUMNS).

    polls: what the consumer read, in the order it read it (partition, offset, worker, t; the
    learner's effects table: one row per processing). log: the topic read back (msg_id,
    partition, offset). events: the ledger's events (kind, worker, t in the polls' clock), to
    say whether a crash or a rebalance lies between two reads. commits: the ledger's commits
    (partition, offset = the next offset, ok): a commit beyond records never read skipped them
    too, though no later read shows it (at-most-once's last batch).

    The first read of a partition is compared with the start of the log (the lab's consumers
    read from the earliest offset). skipped counts the log's records strictly between the two.
    """
    polls = _frame(polls, ("partition", "offset", "worker", "t", "msg_id")).dropna(subset=["partition", "offset"])
    events = _frame(events, ("kind", "t"))
    crash_t = [float(t) for t in events.loc[events["kind"] == CRASH, "t"]]
    rebalance_t = [float(t) for t in events.loc[events["kind"].isin([ASSIGNED, REVOKED]), "t"]]
    abort_t = [float(t) for t in events.loc[events["kind"] == ABORT, "t"]]  # the loop's own aborts
    order = _log_order(log)
    rows: list[dict[str, Any]] = []
    last_read: dict[int, int] = {}
    processed: dict[int, set] = {}  # per partition, the message ids processed
    for p, g in polls.sort_values("t", kind="stable").groupby("partition", sort=True):
        p = int(p)
        entries = order.get(p, [])
        index = {o: i for i, (o, _) in enumerate(entries)}
        prev_i, prev_o, prev_w, prev_t = -1, None, None, None
        seen: set = set()  # the message ids processed so far
        for o, w, t, m in zip(g["offset"], g["worker"], g["t"], g["msg_id"]):
            i = index.get(int(o))
            if i is None:  # a read of a record the log does not hold: inconsistent-offsets' case
                continue
            delta = i - prev_i
            skipped = [s for _, s in entries[prev_i + 1:i]] if delta > 1 else []
            # records jumped over that are all copies of messages already processed (a producer's
            # resend): a consumer that dedupes on the message id read them and stored nothing
            deduped = delta > 1 and all(s in seen for s in skipped)
            if delta != 1 and not deduped:
                after_crash = prev_t is not None and _between(crash_t, prev_t, float(t))
                across = prev_w is not None and (prev_w != w or _between(rebalance_t, prev_t, float(t)))
                after_abort = prev_t is not None and _between(abort_t, prev_t, float(t))
                rows.append(_case(POLL_SKIP if delta > 1 else NONMONOTONIC_POLL, p, prev_o, int(o),
                                  delta, skipped, prev_w, w, after_crash, across, after_abort=after_abort))
            prev_i, prev_o, prev_w, prev_t = i, int(o), w, float(t)
            seen.add(m)
        last_read[p] = max(last_read.get(p, -1), max(index.get(int(o), -1) for o in g["offset"]))
        processed[p] = seen
    rows += _commit_skips(order, last_read, commits, processed)
    return pd.DataFrame(rows, columns=CASE_COLUMNS)


def _case(kind: str, p: int, o1: int | None, o2: int | None, delta: int, skipped: list[str],
          w1: Any, w2: Any, after_crash: bool, across: bool, by_commit: bool = False,
          after_abort: bool = False) -> dict[str, Any]:
    if kind == NONMONOTONIC_POLL:
        cause = ("after a crash: the restarted consumer rewound to the committed offset"
                 if after_crash else
                 "after an aborted transaction: the loop rewound to the committed offset"
                 if after_abort else
                 "across a rebalance: the partition's new owner began at the committed offset"
                 if across else "unexplained: no crash or rebalance between the two reads")
    elif by_commit:
        cause = "a commit went past records no read returned"
    elif o1 is None:
        cause = "from the start of the log: the first read began beyond it"
    else:
        cause = ("across a crash: the restarted consumer began beyond what was processed"
                 if after_crash else
                 "after an aborted transaction: the loop carried on past the aborted batch"
                 if after_abort else
                 "across a rebalance: the new owner began beyond what was processed"
                 if across else "within one consumer's reads")
    return {"kind": kind, "partition": p, "from_offset": o1, "to_offset": o2, "delta": int(delta),
            "skipped": len(skipped), "skipped_ids": skipped, "worker_from": w1, "worker_to": w2,
            "after_crash": bool(after_crash), "across_rebalance": bool(across),
            "after_abort": bool(after_abort), "cause": cause}


def _commit_skips(order: dict[int, list[tuple[int, str]]], last_read: dict[int, int],
                  commits: pd.DataFrame | None,
                  processed: dict[int, set] | None = None) -> list[dict[str, Any]]:
    # a commit past trailing copies of messages already processed (a producer's resend at the
    # log's end, deduped on the message id) went past nothing unread
    commits = _frame(commits, ("partition", "offset", "ok"))
    ok = commits[pd.to_numeric(commits["ok"], errors="coerce").fillna(0).astype(int) == 1]
    rows = []
    for p, top in ok.groupby("partition")["offset"].max().items():
        entries = order.get(int(p), [])
        start = last_read.get(int(p), -1) + 1
        skipped = [m for o, m in entries[start:] if o < int(top)
                   and m not in (processed or {}).get(int(p), ())]
        if skipped:
            rows.append(_case(POLL_SKIP, int(p), entries[start - 1][0] if start else None,
                              int(top), len(skipped) + 1, skipped, None, None, False, False,
                              by_commit=True))
    return rows


def inconsistent_offsets(*observations: pd.DataFrame | None) -> pd.DataFrame:
    """(partition, offset) positions that two observations say hold different records (msg_id):
    delivery reports, reads and the read-back should all agree (Jepsen's inconsistent-offsets).
    One row per position: partition, offset, msg_ids (sorted)."""
    frames = [_frame(f, ("partition", "offset", "msg_id"))[["partition", "offset", "msg_id"]]
              for f in observations if f is not None]
    every = pd.concat(frames) if frames else pd.DataFrame(columns=["partition", "offset", "msg_id"])
    every = every.dropna()
    every = every[pd.to_numeric(every["offset"], errors="coerce") >= 0]
    rows = [{"partition": int(p), "offset": int(o), "msg_ids": sorted(set(map(str, g)))}
            for (p, o), g in every.groupby(["partition", "offset"])["msg_id"] if g.nunique() > 1]
    return pd.DataFrame(rows, columns=["partition", "offset", "msg_ids"])


def g1a_reads(committed_reads: pd.DataFrame, aborted: pd.DataFrame) -> pd.DataFrame:
    """Jepsen's G1a (aborted read): the records a read_committed reader returned that belong to
    an aborted transaction. Records are matched by (partition, offset), their identity in the
    log (an aborted record and its committed retry share a msg_id). aborted: the positions of
    aborted transactions' records, from a source other than the read_committed reader (the
    producer's own account, or the log's abort markers)."""
    reads = _frame(committed_reads, ("partition", "offset")).dropna(subset=["partition", "offset"])
    bad = {(int(p), int(o)) for p, o in zip(*(_frame(aborted, ("partition", "offset"))
                                              .dropna(subset=["partition", "offset"])[c]
                                              for c in ("partition", "offset")))}
    hit = [(int(p), int(o)) in bad for p, o in zip(reads["partition"], reads["offset"])]
    return reads[pd.Series(hit, index=reads.index, dtype=bool)].reset_index(drop=True)


def consumer_anomalies(messages: pd.DataFrame, log: pd.DataFrame,
                       acks: pd.DataFrame | None) -> pd.DataFrame:
    """consumer_outcomes' messages with two columns added: in_log (the read-back holds it) and
    anomaly, the cause of a message that was not delivered once:

    duplicated → duplicate; lost and in the log → poll-skip (skipped by the consumer); lost, not
    in the log and acknowledged to the input's producer → lost-write (gone from the log); lost,
    not in the log, never acknowledged → never-produced. An unread message (a run's time limit)
    and a message delivered once have none ("")."""
    out = messages.copy()
    in_log = set(_frame(log, ("msg_id",))["msg_id"])
    acks = _frame(acks, ("msg_id", "error"))
    acked = set(acks.loc[acks["error"].isna() | (acks["error"].astype(str).str.strip() == ""),
                         "msg_id"])
    out["in_log"] = out["msg_id"].isin(in_log)
    out["anomaly"] = [_message_anomaly(o, m in in_log, m in acked)
                      for o, m in zip(out["outcome"], out["msg_id"])]
    return out


def _message_anomaly(outcome: str, in_log: bool, acked: bool) -> str:
    if outcome == DUPLICATED:
        return DUPLICATE
    if outcome != LOST:
        return ""
    if in_log:
        return POLL_SKIP
    return LOST_WRITE if acked else NEVER_PRODUCED


def consumer_anomaly_summary(messages: pd.DataFrame, cases: pd.DataFrame,
                             inconsistent: pd.DataFrame, g1a: int | None = None) -> dict[str, Any]:
    """The anomaly counts of a consumer run, JSON-ready: per message (skipped_by_consumer:
    lost but in the log; gone_from_log: lost and not in the log, lost-write plus never-produced)
    and per case (poll_skips, nonmonotonic_polls and how many of those a crash or a rebalance
    explains). anomalies lists the classes present, in vocabulary order."""
    by = messages["anomaly"].value_counts().to_dict() if "anomaly" in messages else {}
    kinds = cases["kind"] if len(cases) else pd.Series(dtype=object)
    nonmono = cases[kinds == NONMONOTONIC_POLL] if len(cases) else cases
    explained = int((nonmono["after_crash"] | nonmono["across_rebalance"] | nonmono["after_abort"]).sum()) \
        if len(nonmono) else 0
    counts = {
        POLL_SKIP: int(by.get(POLL_SKIP, 0)), LOST_WRITE: int(by.get(LOST_WRITE, 0)),
        NEVER_PRODUCED: int(by.get(NEVER_PRODUCED, 0)), DUPLICATE: int(by.get(DUPLICATE, 0)),
        NONMONOTONIC_POLL: int(len(nonmono)), INCONSISTENT_OFFSETS: int(len(inconsistent)),
    }
    if g1a is not None:
        counts[G1A] = int(g1a)
    return {
        "skipped_by_consumer": counts[POLL_SKIP],
        "gone_from_log": counts[LOST_WRITE] + counts[NEVER_PRODUCED],
        "lost_writes": counts[LOST_WRITE],
        "never_produced": counts[NEVER_PRODUCED],
        "poll_skips": int((kinds == POLL_SKIP).sum()),
        "nonmonotonic_polls": counts[NONMONOTONIC_POLL],
        "nonmonotonic_polls_explained": explained,
        "inconsistent_offsets": counts[INCONSISTENT_OFFSETS],
        **({"g1a": counts[G1A]} if G1A in counts else {}),
        "anomalies": [k for k, v in counts.items() if v],
    }


def unread_input_anomalies(summary: dict[str, Any]) -> dict[str, Any]:
    """The classes a share-group or retry-pipeline run can name from its own counts. These runs
    do not read their input topic back, so a lost message cannot be told skipped-by-the-consumer
    from gone-from-the-log: it is named `unclassified-loss` (counted in `lost`), and their
    poll-skip and nonmonotonic-poll are not looked for (a share group's broker hands records out
    with no consumer offsets at all). A message processed more than once is a `duplicate`."""
    found = {DUPLICATE: summary.get("duplicated", 0), UNCLASSIFIED_LOSS: summary.get("lost", 0)}
    return {"anomalies": [k for k, v in found.items() if v],
            "anomalies_not_looked_for": [POLL_SKIP, NONMONOTONIC_POLL]}


# --- producer runs: the persistence status of a delivery report --------------------------------
# librdkafka's rules, from rd_kafka_err_action() in src/rdkafka_request.c: a Produce error carries
# MSG_NOT_PERSISTED, MSG_POSSIBLY_PERSISTED or MSG_PERSISTED; the message's status follows.
# The names are confluent-kafka's KafkaError.name() (librdkafka's without RD_KAFKA_RESP_ERR_).
POSSIBLY_PERSISTED_ERRORS = frozenset({
    "_TRANSPORT", "_SSL", "_TIMED_OUT", "REQUEST_TIMED_OUT", "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
    "_PURGE_INFLIGHT", "_BAD_MSG",
    # a message that timed out after it was sent (librdkafka test 0068 expects PossiblyPersisted);
    # one that timed out still queued is NotPersisted, and the name does not say which
    "_MSG_TIMED_OUT",
})
NOT_PERSISTED_ERRORS = frozenset({
    "LEADER_NOT_AVAILABLE", "NOT_LEADER_FOR_PARTITION", "NOT_LEADER_OR_FOLLOWER",
    "BROKER_NOT_AVAILABLE", "REPLICA_NOT_AVAILABLE", "KAFKA_STORAGE_ERROR",
    "NOT_ENOUGH_REPLICAS", "INVALID_MSG", "_TIMED_OUT_QUEUE", "_PURGE_QUEUE",
})
# names whose status depends on what the name does not carry (sent or still queued)
UNCERTAIN_ERRORS = frozenset({"_MSG_TIMED_OUT"})


def persistence_status(error: Any, acks: Any = "all") -> tuple[str, bool]:
    """(status, certain) of one delivery report, as librdkafka/Confluent.Kafka would report it.

    No error: persisted, or possibly-persisted with acks=0 (no response is awaited; librdkafka's
    test 0008 expects PossiblyPersisted). An error in POSSIBLY_PERSISTED_ERRORS: possibly
    persisted; any other error: not persisted (rd_kafka_err_action's default). certain is False
    where the name alone cannot decide (UNCERTAIN_ERRORS): the lab then reads it as possibly
    persisted, the reading a resend decision must assume. Limits: the Python client does not
    expose rd_kafka_message_status(), so this is derived from the error name, not read.
    """
    name = "" if error is None or (isinstance(error, float) and pd.isna(error)) else str(error).strip()
    if not name:
        return (POSSIBLY_PERSISTED if str(acks) == "0" else PERSISTED), True
    if name in POSSIBLY_PERSISTED_ERRORS:
        return POSSIBLY_PERSISTED, name not in UNCERTAIN_ERRORS
    return NOT_PERSISTED, True


def producer_statuses(messages: pd.DataFrame, acks_setting: Any = "all") -> pd.DataFrame:
    """producer_outcomes' messages with status (persisted / possibly-persisted / not-persisted:
    of the message's final report, a success if any), status_certain, dotnet_status
    (Confluent.Kafka's PersistenceStatus name) and in_log (stored_copies > 0)."""
    out = messages.copy()
    err = [("" if bool(a) else e) for a, e in zip(out["acked"], out["error"])]
    st = [persistence_status(e, acks_setting) for e in err]
    out["status"] = [s for s, _ in st]
    out["status_certain"] = [c for _, c in st]
    out["dotnet_status"] = out["status"].map(DOTNET_PERSISTENCE)
    out["in_log"] = out["stored_copies"] > 0
    # a message never reported on (the producer died first) has no status: nothing was told
    never = ~out["acked"].astype(bool) & (out["error"].astype(str).str.strip() == "")
    out.loc[never, ["status", "dotnet_status"]] = ""
    return out


def persistence_summary(messages: pd.DataFrame) -> dict[str, Any]:
    """Per status, how many messages were reported so and how many of those the log holds:
    what PossiblyPersisted meant in this run. Also lost_writes (persisted and not in the log:
    Jepsen's lost-write, the lab's acked-but-lost with acks 1 or all) and anomalies, the
    classes present (lost-write, duplicate: stored more than once)."""
    out: dict[str, Any] = {}
    for status in (PERSISTED, POSSIBLY_PERSISTED, NOT_PERSISTED):
        rows = messages[messages["status"] == status]
        key = status.replace("-", "_")
        out[key] = int(len(rows))
        out[f"{key}_in_log"] = int(rows["in_log"].sum())
    out["status_uncertain"] = int((~messages["status_certain"].astype(bool)
                                   & (messages["status"] != "")).sum())
    out["lost_writes"] = out["persisted"] - out["persisted_in_log"]
    dup = int((messages["outcome"] == DUPLICATED).sum()) if "outcome" in messages else 0
    out["anomalies"] = [c for c, n in ((LOST_WRITE, out["lost_writes"]), (DUPLICATE, dup)) if n]
    return out

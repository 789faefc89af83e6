"""Classify every message of a run, in the manner of a Jepsen checker.

Each function is pure: ledger tables (DataFrames, see ledger.py) in, a table or a dict of
counts out. Nothing here talks to Kafka, so every number a learner sees can be checked by a
unit test on a hand-made history.
"""
from __future__ import annotations

from typing import Any, Iterable

import pandas as pd

from .vocabulary import (ACKED_BUT_LOST, ARCHIVED, CRASH, DEAD_LETTERED, DELIVERED_ONCE, DUPLICATED,
                         FAILED_REPORTED, LOST, UNACKED_BUT_STORED, UNREAD)

__all__ = ["consumer_outcomes", "unread_at_timeout", "reordered_keys", "producer_outcomes",
           "aborted_reads", "consumer_summary", "producer_summary", "crash_table", "share_outcomes",
           "share_summary"]


def _columns(frame: pd.DataFrame | None, names: Iterable[str]) -> pd.DataFrame:
    """A copy of ``frame`` that surely has ``names``: an empty ledger table may have no columns."""
    frame = pd.DataFrame() if frame is None else frame.reset_index(drop=True)
    missing = {n: pd.Series([None] * len(frame), dtype=object) for n in names if n not in frame}
    return frame.assign(**missing) if missing else frame.copy()


def _messages(sent: pd.DataFrame | None) -> pd.DataFrame:
    """One row per msg_id in send order, with an index column (its position if none given).

    A msg_id is the identity of a message, so a second send row for it is the same message
    (e.g. an application-level retry), not a new one.
    """
    sent = _columns(sent, ("msg_id", "key", "seq"))
    if "index" not in sent:
        sent["index"] = range(len(sent))
    return sent.drop_duplicates("msg_id", keep="first")[["msg_id", "index", "key", "seq"]]


def _count_by_msg(frame: pd.DataFrame | None, msg_ids: pd.Series) -> pd.Series:
    """How many rows of ``frame`` each msg_id has (0 when none); rows for unknown ids drop out."""
    frame = _columns(frame, ("msg_id",))
    counts = frame["msg_id"].value_counts()
    return msg_ids.map(counts).fillna(0).astype(int)


def consumer_outcomes(sent: pd.DataFrame, processed: pd.DataFrame) -> pd.DataFrame:
    """Outcome of every input message from how often the consumer's processing ran for it.

    The learner's database (the effects table) is the ground truth of what was *done*; the
    offsets a consumer committed only say what it *meant* to have done.
    """
    out = _messages(sent)
    out["copies"] = _count_by_msg(processed, out["msg_id"])
    out["outcome"] = out["copies"].map(_copies_outcome)
    return out.reset_index(drop=True)


def unread_at_timeout(outcomes: pd.DataFrame, log: pd.DataFrame, processed: pd.DataFrame,
                      commits: pd.DataFrame | None = None) -> pd.DataFrame:
    """A run that hit its time limit, with its unread tail told apart from its losses.

    A message it never processed is `unread` when the consumers had not got to it yet: nothing
    went past it in its partition — no processed record at a later offset, no commit at or
    beyond its offset. It is still in the log, and the next consumer of the group reads it. One
    that something went past was skipped: `lost`, as in a run that finished (at-most-once's
    committed batch, a poll that jumped over it). Only a run that timed out has such a tail; in
    one that finished, the consumers stopped because their input was done.

    log: the input read back (msg_id, partition, offset); processed: what the consumers' work
    wrote, or what a transactional run committed (msg_id); commits: the ledger's commits of the
    input topic (partition, offset = the next offset, ok), if the workers record them.
    """
    out = outcomes.copy()
    log = _columns(log, ("msg_id", "partition", "offset")).dropna(subset=["partition", "offset"])
    where = log.drop_duplicates("msg_id").set_index("msg_id")[["partition", "offset"]].astype(int)
    done = where[where.index.isin(set(_columns(processed, ("msg_id",))["msg_id"]))]
    reached = (done.groupby("partition")["offset"].max() + 1).to_dict()  # next offset not passed
    commits = _columns(commits, ("partition", "offset", "ok"))
    ok = commits[pd.to_numeric(commits["ok"], errors="coerce").fillna(0).astype(int) == 1]
    for p, o in ok.groupby("partition")["offset"].max().items():
        reached[int(p)] = max(reached.get(int(p), 0), int(o))
    never = out["outcome"] == LOST
    pos = where.reindex(out["msg_id"])
    untouched = [m in where.index and o >= reached.get(p, 0)
                 for m, p, o in zip(out["msg_id"], pos["partition"].fillna(-1).astype(int),
                                    pos["offset"].fillna(-1).astype(int))]
    out.loc[never & pd.Series(untouched, index=out.index), "outcome"] = UNREAD
    return out


def _copies_outcome(copies: int) -> str:
    return LOST if copies == 0 else DELIVERED_ONCE if copies == 1 else DUPLICATED


def reordered_keys(observed: pd.DataFrame) -> list[str]:
    """Keys whose seqs were first seen out of order.

    Kafka promises order per key (per partition), so this is checked per key. Only the first
    sighting of each seq counts: an at-least-once replay re-delivers seqs already seen, which
    is duplication, not reordering. Rows without a key or seq cannot be ordered and are skipped.
    """
    observed = _columns(observed, ("key", "seq")).dropna(subset=["key", "seq"])
    bad = [key for key, seqs in observed.groupby("key", sort=False)["seq"]
           if not seqs.drop_duplicates().is_monotonic_increasing]
    return sorted(str(k) for k in bad)


def _is_success(error: pd.Series) -> pd.Series:
    """A delivery report without an error name is a success (None, NaN or '' in the ledger)."""
    return error.isna() | (error.astype(str).str.strip() == "")


def _report_flags(acks: pd.DataFrame | None, msg_ids: pd.Series) -> pd.DataFrame:
    """Per msg_id: acked (any success report), reported (any report), last error name.

    A success anywhere wins because Kafka stored the record then, whatever an earlier or later
    report of a re-send said; the last error is kept to show what the application was told.
    """
    acks = _columns(acks, ("msg_id", "error"))
    ok = _is_success(acks["error"])
    acked = set(acks.loc[ok, "msg_id"])
    reported = set(acks["msg_id"])
    failed = acks.loc[~ok]
    last_error = {m: str(e) for m, e in zip(failed["msg_id"], failed["error"])}  # last one wins
    return pd.DataFrame({
        "acked": msg_ids.isin(acked).astype(bool),
        "reported": msg_ids.isin(reported).astype(bool),
        "error": pd.Series([last_error.get(m, "") for m in msg_ids], index=msg_ids.index,
                           dtype=str),
    })


def producer_outcomes(sends: pd.DataFrame, acks: pd.DataFrame,
                      readback: pd.DataFrame) -> pd.DataFrame:
    """Outcome of every produce() call from its delivery reports and what the topic holds.

    Comparing what the application was told (acks) with what a fresh reader finds (readback) is
    the whole point: the two disagree exactly when a setting does not deliver what it seems to.
    ``readback`` must hold one reader's rows (filter by its reader column first).
    """
    out = _messages(sends)
    flags = _report_flags(acks, out["msg_id"])
    out["acked"] = flags["acked"]
    out["failed_reported"] = flags["reported"] & ~flags["acked"]
    out["error"] = flags["error"]
    out["stored_copies"] = _count_by_msg(readback, out["msg_id"])
    out["copies"] = out["stored_copies"]
    out["outcome"] = [_producer_outcome(s, a, f) for s, a, f in
                      zip(out["stored_copies"], out["acked"], out["failed_reported"])]
    return out.reset_index(drop=True)


def _producer_outcome(stored: int, acked: bool, failed_reported: bool) -> str:
    """What the log holds decides first; the reports only say whether the app was misled."""
    if stored > 1:
        return DUPLICATED
    if stored == 1:
        return DELIVERED_ONCE if acked else UNACKED_BUT_STORED
    if acked:
        return ACKED_BUT_LOST
    return FAILED_REPORTED if failed_reported else LOST


def _positions(frame: pd.DataFrame | None) -> set[tuple[int, int]]:
    frame = _columns(frame, ("partition", "offset")).dropna(subset=["partition", "offset"])
    return {(int(p), int(o)) for p, o in zip(frame["partition"], frame["offset"])}


def aborted_reads(committed: pd.DataFrame, uncommitted: pd.DataFrame) -> int:
    """Records a read_uncommitted reader saw that a read_committed reader did not: records of
    aborted (or open) transactions, which read_uncommitted is allowed to see. Not Jepsen's G1a,
    which is a read_committed reader seeing an aborted write.

    Records are compared by (partition, offset), their identity in the log, because an aborted
    transaction's record and its committed retry carry the same msg_id at different offsets.
    """
    return len(_positions(uncommitted) - _positions(committed))


def _rate(count: int, sent: int) -> float:
    return float(count) / sent if sent else 0.0


def _count(outcomes: pd.DataFrame, outcome: str) -> int:
    return int((outcomes["outcome"] == outcome).sum())


def _extra_copies(outcomes: pd.DataFrame) -> int:
    """Copies beyond the first: the work a duplicate makes someone undo."""
    dup = outcomes.loc[outcomes["outcome"] == DUPLICATED, "copies"]
    return int((dup - 1).sum())


def consumer_summary(outcomes: pd.DataFrame, observed: pd.DataFrame) -> dict[str, Any]:
    """The counts of a consumer run, as plain ints and floats so they serialise to JSON.

    processed_effects counts processings of sent messages (the sum of copies), so that
    processed_effects == delivered_once + duplicated_messages + duplicated always holds.
    """
    outcomes = _columns(outcomes, ("outcome", "copies"))
    sent = len(outcomes)
    lost, duplicated = _count(outcomes, LOST), _extra_copies(outcomes)
    return {
        "sent": sent,
        "processed_effects": int(pd.to_numeric(outcomes["copies"]).fillna(0).sum()),
        "delivered_once": _count(outcomes, DELIVERED_ONCE),
        "lost": lost,
        "unread_at_timeout": _count(outcomes, UNREAD),  # see unread_at_timeout: not a loss
        "duplicated": duplicated,
        "duplicated_messages": _count(outcomes, DUPLICATED),
        "reordered_keys": len(reordered_keys(observed)),
        "lost_rate": _rate(lost, sent),
        "duplicated_rate": _rate(duplicated, sent),
    }


def producer_summary(outcomes: pd.DataFrame, readback: pd.DataFrame) -> dict[str, Any]:
    """The counts of a producer run, as plain ints and floats so they serialise to JSON.

    acked and failed_reported count what the application was told (flags), the other counts
    are outcomes; so a failed-reported message found in the log counts in both failed_reported
    and unacked_but_stored. Reordering is read from the log in (partition, offset) order.
    """
    outcomes = _columns(outcomes, ("outcome", "copies", "acked", "failed_reported"))
    readback = _columns(readback, ("partition", "offset", "key", "seq"))
    log_order = readback.sort_values(["partition", "offset"], kind="stable")
    sent = len(outcomes)
    counts = {name: _count(outcomes, outcome) for name, outcome in (
        ("delivered_once", DELIVERED_ONCE), ("acked_but_lost", ACKED_BUT_LOST),
        ("unacked_but_stored", UNACKED_BUT_STORED), ("lost", LOST))}
    duplicated = _extra_copies(outcomes)
    return {
        "sent": sent,
        "acked": int(outcomes["acked"].fillna(False).astype(bool).sum()),
        "failed_reported": int(outcomes["failed_reported"].fillna(False).astype(bool).sum()),
        "stored_records": len(readback),
        **counts,
        "duplicated": duplicated,
        "duplicated_messages": _count(outcomes, DUPLICATED),
        "reordered_keys": len(reordered_keys(log_order)),
        "acked_but_lost_rate": _rate(counts["acked_but_lost"], sent),
        "lost_rate": _rate(counts["lost"], sent),
        "unacked_but_stored_rate": _rate(counts["unacked_but_stored"], sent),
        "duplicated_rate": _rate(duplicated, sent),
    }


def crash_table(messages: pd.DataFrame, timeline: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """One row per crash of a one-partition consumer run: where it struck, where processing
    went on after it (`restart_at`: the first message processed after the crash, by any later
    run of the worker), and what it cost — the messages it skipped for good (`lost`: lost
    messages between the last one processed before the crash and `restart_at`, each counted at
    the first crash that skipped it) and the copies processed again before the next crash
    (`repeated`). The lost and repeated columns add up to the run's totals.

    messages: the run's outcomes (index, outcome); timeline: effects with t, index, copy;
    events: t, kind, detail (a crash's detail is JSON with point and index).
    """
    import json

    columns = ["t", "point", "index", "restart_at", "lost", "repeated"]
    crashes = events[events["kind"] == CRASH].sort_values("t") if len(events) else events
    if crashes is None or not len(crashes):
        return pd.DataFrame(columns=columns)
    lost = sorted(set(messages.loc[messages["outcome"] == LOST, "index"].astype(int)))
    counted: set[int] = set()
    tl = timeline.sort_values("t")
    times = [float(t) for t in crashes["t"]]
    rows = []
    for i, (t, detail) in enumerate(zip(times, crashes["detail"])):
        info = json.loads(detail) if isinstance(detail, str) and detail.startswith("{") else {}
        before, later = tl[tl["t"] <= t], tl[tl["t"] > t]
        upto = times[i + 1] if i + 1 < len(times) else float("inf")
        last = int(before["index"].max()) if len(before) else -1
        restart = int(later["index"].iloc[0]) if len(later) else None
        skipped = [j for j in lost if last < j < (restart if restart is not None else float("inf"))
                   and j not in counted]
        counted.update(skipped)
        repeated = later[(later["t"] <= upto) & (later["copy"] > 1)] if "copy" in later else later[:0]
        rows.append({"t": round(t, 3), "point": info.get("point"), "index": info.get("index"),
                     "restart_at": restart, "lost": len(skipped), "repeated": len(repeated)})
    return pd.DataFrame(rows, columns=columns).astype({"restart_at": "Int64"})


def commit_counts(commits: pd.DataFrame) -> dict[str, int]:
    """Offset commits the workers made and saw answered, from the ledger's commits table: ok
    ones and refused ones. (Auto-commit's background commits are librdkafka's own and are not
    in the table: 0 there means "none recorded", not "none made".)"""
    commits = _columns(commits, ("ok",))
    ok = pd.to_numeric(commits["ok"], errors="coerce").fillna(0).astype(int)
    return {"commits": int((ok == 1).sum()), "failed_commits": int((ok == 0).sum())}


def share_outcomes(sent: pd.DataFrame, processed: pd.DataFrame, deliveries: pd.DataFrame,
                   share_acks: pd.DataFrame, delivery_limit: int,
                   dead_letters: pd.DataFrame | None = None) -> pd.DataFrame:
    """Outcome of every input message of a share-group run (KIP-932).

    As for consumer groups, the learner's database decides: processed once, several times, or
    never. A message never processed is *archived* when the broker confirmed it gave up on it —
    a committed REJECT, or a committed RELEASE of its delivery number `delivery_limit` (the
    broker archives it then) — and *lost* otherwise. Adds deliveries (how often the broker
    handed it out) and max_delivery_count (the broker's own count on its last delivery).

    dead_letters: the records read back from the group's dead-letter topic (msg_id column), when
    it had one. An archived message found there is *dead-lettered*; one not found stays
    *archived* (the broker gave up on it but its copy is not in the topic). Adds dead_letters:
    how many copies of the message the topic holds (the broker should write exactly one).
    """
    out = consumer_outcomes(sent, processed)
    deliveries = _columns(deliveries, ("msg_id", "delivery_count"))
    out["deliveries"] = _count_by_msg(deliveries, out["msg_id"])
    top = pd.to_numeric(deliveries["delivery_count"]).groupby(deliveries["msg_id"]).max()
    out["max_delivery_count"] = out["msg_id"].map(top).fillna(0).astype(int)
    acks = _columns(share_acks, ("msg_id", "ack", "ok", "delivery_count"))
    ok = pd.to_numeric(acks["ok"], errors="coerce").fillna(0).astype(int) == 1
    count = pd.to_numeric(acks["delivery_count"], errors="coerce").fillna(0)
    given_up = ok & ((acks["ack"] == "REJECT") | ((acks["ack"] == "RELEASE") & (count >= delivery_limit)))
    archived = out["msg_id"].isin(set(acks.loc[given_up, "msg_id"])) & (out["copies"] == 0)
    out.loc[archived, "outcome"] = ARCHIVED
    if dead_letters is not None:
        out["dead_letters"] = _count_by_msg(_columns(dead_letters, ("msg_id",)), out["msg_id"])
        out.loc[archived & (out["dead_letters"] > 0), "outcome"] = DEAD_LETTERED
    return out


def share_summary(outcomes: pd.DataFrame, observed: pd.DataFrame,
                  deliveries: pd.DataFrame) -> dict[str, Any]:
    """consumer_summary's counts plus what share groups add: archived messages, deliveries,
    redelivered messages (delivered more than once) and delivery_counts — how many deliveries
    carried each delivery count the broker reported ({"1": 200, "2": 10}: 10 redeliveries)."""
    summary = consumer_summary(outcomes, observed)
    deliveries = _columns(deliveries, ("delivery_count",))
    counts = pd.to_numeric(deliveries["delivery_count"]).value_counts().sort_index()
    if "dead_letters" in outcomes:
        # copies of input messages in the dead-letter topic: more than dead_lettered means the
        # broker wrote a copy twice, or wrote one for a message the lab saw processed
        summary.update({"dead_lettered": _count(outcomes, DEAD_LETTERED),
                        "dead_letter_copies": int(outcomes["dead_letters"].sum())})
    summary.update({
        "archived": _count(outcomes, ARCHIVED),
        "deliveries": int(len(deliveries)),
        "redelivered_messages": int((outcomes["deliveries"] > 1).sum()),
        "max_delivery_count": int(outcomes["max_delivery_count"].max()) if len(outcomes) else 0,
        "delivery_counts": {str(int(k)): int(v) for k, v in counts.items()},
    })
    return summary

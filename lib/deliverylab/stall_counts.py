"""A hanging transaction's run counted (experiments/hanging.py), from the run folder alone.

The ledger holds when the hanging producer's transaction was open (TXN_OPEN, its record ids),
when a second producer committed its records to the same partition after it (TXN_COMMITTED),
and every record each live reader read, with its time (READ: reader, id, offset). The
read-backs after the run are the final state. Counted here: how long each reader waited for the
committed records (its stall), when the read_committed reader's stall ended measured from the
hang, and the bound it must end within: transaction.timeout.ms + the brokers' abort check
interval (transaction.abort.timed.out.transaction.cleanup.interval.ms) + MARGIN_S.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from .history import events_frame, recorded
from .results import Result
from .vocabulary import HANGING, READ, TXN_COMMITTED, TXN_OPEN

READ_COMMITTED, READ_UNCOMMITTED = "read_committed", "read_uncommitted"  # the readers' names
# What the end of a stall may take past the coordinator's abort: the abort markers' write, the
# last stable offset's move, and the reader's next fetch (its fetch.wait.max.ms is 100 ms).
MARGIN_S = 1.5


def reads_frame(events: pd.DataFrame) -> pd.DataFrame:
    """One row per record a live reader read: t (s since the start), reader, msg_id, offset."""
    rows = [{"t": t, **json.loads(d)} for t, d in zip(events["t"], events["detail"])]
    frame = pd.DataFrame(rows, columns=["t", "reader", "msg_id", "offset"])
    return frame.sort_values("t").reset_index(drop=True)


def _first(events: pd.DataFrame, kind: str) -> pd.Series | None:
    rows = events[events["kind"] == kind]
    return rows.iloc[0] if len(rows) else None


def stall_summary(events: pd.DataFrame, readback: pd.DataFrame,
                  timeout_ms: int, interval_ms: int | None) -> dict[str, Any]:
    """The stall of each reader and the bound, from events (t in one clock) and the read-backs.
    A reader that never read a committed record has no stall figure (None): it was stalled to
    the end of the run."""
    opened, committed = _first(events, TXN_OPEN), _first(events, TXN_COMMITTED)
    if opened is None or committed is None:
        raise ValueError("the run has no open transaction or no commit after it in its ledger")
    hanging_ids = set(json.loads(opened["detail"]))
    committed_ids = set(json.loads(committed["detail"]))
    reads = reads_frame(events[events["kind"] == READ])

    def first_committed_read(reader: str) -> float | None:
        got = reads[(reads.reader == reader) & reads.msg_id.isin(committed_ids)]
        return float(got["t"].min()) if len(got) else None

    def seen(reader: str, ids: set[str]) -> int:
        return int(reads[(reads.reader == reader) & reads.msg_id.isin(ids)]["msg_id"].nunique())

    rc, ru = first_committed_read(READ_COMMITTED), first_committed_read(READ_UNCOMMITTED)
    t_open, t_commit = float(opened["t"]), float(committed["t"])
    bound = (timeout_ms + (interval_ms or 0)) / 1000 + MARGIN_S
    ended = None if rc is None else rc - t_open
    final = {r: set(readback.loc[readback.reader == r, "msg_id"]) for r in (READ_COMMITTED, READ_UNCOMMITTED)}
    return {
        "transaction_timeout_ms": int(timeout_ms),
        "abort_check_interval_ms": interval_ms,
        "hanging_records": len(hanging_ids), "committed_records": len(committed_ids),
        "committed_after_open_s": round(t_commit - t_open, 3),
        "read_committed_stall_s": None if rc is None else round(rc - t_commit, 3),
        "read_uncommitted_stall_s": None if ru is None else round(ru - t_commit, 3),
        "stall_ended_after_open_s": None if ended is None else round(ended, 3),
        "bound_s": round(bound, 3),
        # the stall ended once the coordinator could have aborted, and no later than the bound
        "within_bound": ended is not None and timeout_ms / 1000 - 0.5 <= ended <= bound,
        "read_committed_saw_hanging": seen(READ_COMMITTED, hanging_ids),  # G1a if > 0
        "aborted_reads": seen(READ_UNCOMMITTED, hanging_ids),  # allowed for read_uncommitted
        "read_uncommitted_saw_committed": seen(READ_UNCOMMITTED, committed_ids),
        "read_committed_saw_committed": seen(READ_COMMITTED, committed_ids),
        "lost": len(committed_ids - final[READ_COMMITTED]),  # committed, missing from the read-back
        "hanging_read_back_committed": len(hanging_ids & final[READ_COMMITTED]),
    }


def unseen_over_time(events: pd.DataFrame) -> pd.DataFrame:
    """Jepsen's `unseen` over time: per reader, how many of the records the second producer
    committed (acknowledged at its commit) the reader had not read yet, from that commit to the
    reader's last read. One row per change (t, reader, unseen); a reader still stalled at the
    end keeps its last count."""
    committed = _first(events, TXN_COMMITTED)
    if committed is None:
        return pd.DataFrame(columns=["t", "reader", "unseen"])
    ids, t_commit = set(json.loads(committed["detail"])), float(committed["t"])
    reads = reads_frame(events[events["kind"] == READ])
    rows = []
    for reader in (READ_UNCOMMITTED, READ_COMMITTED):
        got = reads[(reads.reader == reader) & reads.msg_id.isin(ids)].drop_duplicates("msg_id")
        rows.append({"t": t_commit, "reader": reader, "unseen": len(ids)})
        left = len(ids)
        for t, n in got.groupby("t").size().items():
            left -= int(n)
            rows.append({"t": max(float(t), t_commit), "reader": reader, "unseen": left})
    return pd.DataFrame(rows, columns=["t", "reader", "unseen"])


def hanging_result(run_dir: Path, spec: Any, bootstrap: str) -> Result:
    """Count a hanging-transaction run from its ledger and read-backs (no Kafka I/O)."""
    meta, t0, tables, _ = recorded(run_dir)
    events = events_frame(tables["events"], t0)
    interval = meta.get("abort_check_interval_ms")
    summary = stall_summary(events, tables["readback"], spec.transaction_timeout_ms,
                            int(interval) if interval not in (None, "None", "") else None)
    summary.update({"topic": meta["topic"], "bootstrap": bootstrap,
                    "label": spec.label or f"transaction.timeout.ms={spec.transaction_timeout_ms}"})
    timeline = reads_frame(events[events["kind"] == READ])
    spec_fields = {k: getattr(spec, k) for k in spec.__dataclass_fields__}
    warnings = []
    if summary["read_committed_stall_s"] is None:
        warnings.append("The read_committed reader never read the committed records within the "
                        "run's time limit: the stall did not end, so its length is not measured.")
    return Result(HANGING, spec_fields, timeline, timeline, events, summary, run_dir,
                  warnings=warnings)


__all__ = ["hanging_result", "stall_summary", "reads_frame", "MARGIN_S", "READ_COMMITTED",
           "READ_UNCOMMITTED"]

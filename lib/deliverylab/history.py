"""A finished run's history, as the counting reads it: the run folder's ledger (and the
learner's store) as DataFrames, with times made relative to the run's start. No Kafka I/O:
everything here reads the folder a run left behind.
"""
from __future__ import annotations

from contextlib import closing
from pathlib import Path
from typing import Any

import pandas as pd

from .ids import index_of
from .ledger import Ledger, read_tables
from .vocabulary import CRASH, RESTART

EVENT_COLUMNS = ["t", "kind", "worker", "pid", "detail"]


def recorded(run_dir: Path, store: Path | None = None) -> tuple[dict[str, str], float,
                                                                dict[str, pd.DataFrame], pd.DataFrame]:
    """A finished run: its meta, t0, every table, and what was sent (one row per message, in
    input order). With a store, tables["effects"] is there even when no worker wrote one."""
    with closing(Ledger(run_dir / "ledger.sqlite")) as led:
        meta = led.meta()
    tables = read_tables(run_dir / "ledger.sqlite", store)
    if store is not None:
        tables.setdefault("effects", pd.DataFrame(columns=["msg_id", "key", "seq", "t"]))
    return meta, float(meta["t0"]), tables, sent_frame(tables["sends"])


def sent_frame(sends: pd.DataFrame) -> pd.DataFrame:
    sent = sends.drop_duplicates("msg_id").copy()
    sent["index"] = sent["msg_id"].map(index_of).astype(int)
    return sent.sort_values("index").reset_index(drop=True)


def events_frame(events: pd.DataFrame, t0: float) -> pd.DataFrame:
    """The ledger's events, t in seconds since the run started."""
    ev = events.copy()
    ev["t"] = ev["t"] - t0
    return ev[EVENT_COLUMNS]


def copies_timeline(rows: pd.DataFrame, t0: float) -> pd.DataFrame:
    """Observations of messages in time (effects, say): t since the start, the message's index,
    and which copy of it this is (1 = the first time, 2+ = a duplicate)."""
    tl = rows.sort_values("t").copy() if len(rows) else rows.copy()
    tl["t"] = tl["t"] - t0
    tl["index"] = tl["msg_id"].map(index_of).astype(int) if len(tl) else pd.Series(dtype=int)
    tl["copy"] = tl.groupby("msg_id").cumcount() + 1 if len(tl) else pd.Series(dtype=int)
    return tl


def worker_course(events: pd.DataFrame, timed_out: bool, crash_point: str | None) -> dict[str, Any]:
    """How a run's workers fared, from its events: crashes, restarts, elapsed_s (the last
    event), timed_out and the crash point asked for."""
    return {"crashes": int((events.kind == CRASH).sum()),
            "restarts": int((events.kind == RESTART).sum()),
            "elapsed_s": round(float(events.t.max()) if len(events) else 0.0, 3),
            "timed_out": bool(timed_out), "crash_point": crash_point}


__all__ = ["recorded", "sent_frame", "events_frame", "copies_timeline", "worker_course",
           "EVENT_COLUMNS"]

"""What an experiment returns: DataFrames a notebook can show and plots can draw."""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .checker import crash_table


@dataclass
class Result:
    """One run, counted from its ledger and a read-back of its topics.

    messages: one row per input message — msg_id, index, key, seq, copies, outcome
              (producer runs add acked, failed_reported, stored_copies, error).
    timeline: one row per observation in time — t (s since the run started), index, msg_id,
              copy (1 = first time, 2+ = a duplicate), worker; for producers: t, index, msg_id,
              outcome of its delivery report (error name or 'ok').
    events:   start / crash / restart / exit / fault / heal rows — t, kind, worker, detail.
    summary:  the counts the CLI prints (sent, lost, duplicated, …) plus rates.
    run_dir:  the run folder (ledger.sqlite, store.sqlite); it exists only after keep=True.
    warnings: sentences saying why this run cannot show what it was meant to (no commit between
              crashes, a fault that hit nothing in flight, too few samples, …); panels and
              notebooks show them beside the counts.
    """

    kind: str  # 'consumer', 'producer' or 'share'
    spec: dict[str, Any]
    messages: pd.DataFrame
    timeline: pd.DataFrame
    events: pd.DataFrame
    summary: dict[str, Any]
    run_dir: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return str(self.spec.get("label") or self.summary.get("label") or self.kind)

    def summary_frame(self) -> pd.DataFrame:
        return pd.DataFrame([self.summary])

    def crashes(self) -> pd.DataFrame:
        """What each crash of a one-partition consumer run cost: point, index, where processing
        went on (restart_at), lost, repeated (see checker.crash_table)."""
        return crash_table(self.messages, self.timeline, self.events)

    def _repr_html_(self) -> str:
        table = self.summary_frame().to_html(index=False)
        notes = "".join(f"<li>⚠ {html.escape(w)}</li>" for w in self.warnings)
        return table + (f"<ul>{notes}</ul>" if notes else "")

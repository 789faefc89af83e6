"""What an experiment returns: DataFrames a notebook can show and plots can draw — a Result
for a consumer, producer or share run, a RetryResult, a BenchmarkResult and a StoryResult."""
from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .checker import crash_table
from .errors import LabError
from .vocabulary import DEAD_LETTERED, DUPLICATED, LOST, PROCESSED


@dataclass
class Result:
    """One run, counted from its ledger and a read-back of its topics.

    messages: one row per input message — msg_id, index, key, seq, copies, outcome
              (producer runs add acked, failed_reported, stored_copies, error), and its cause
              (anomalies.py): consumer runs add in_log and anomaly (poll-skip, lost-write,
              never-produced, duplicate or ""); producer runs add status, status_certain,
              dotnet_status (Confluent.Kafka's PersistenceStatus) and in_log.
              A consumer run's extra["anomaly_cases"] holds each poll-skip and nonmonotonic-poll.
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

    def event_time(self, kind: str) -> float:
        """When the run's first event of `kind` (vocabulary: FAULT, HEAL, CRASH, …) happened, in
        seconds since the run started."""
        return float(self._first(kind)["t"])

    def event_detail(self, kind: str) -> dict[str, Any]:
        """The detail of the run's first event of `kind` (a fault's struck brokers, leader, …)."""
        detail = self._first(kind)["detail"]
        return json.loads(detail) if isinstance(detail, str) and detail.startswith("{") else {}

    def _first(self, kind: str) -> pd.Series:
        rows = self.events[self.events["kind"] == kind]
        if not len(rows):
            raise LabError(f"The run {self.label!r} has no {kind!r} event.",
                           "Check its warnings: a fault that never struck records none.")
        return rows.iloc[0]

    def crashes(self) -> pd.DataFrame:
        """What each crash of a one-partition consumer run cost: point, index, where processing
        went on (restart_at), lost, repeated (see checker.crash_table)."""
        return crash_table(self.messages, self.timeline, self.events)

    def _repr_html_(self) -> str:
        return self.summary_frame().to_html(index=False) + _warnings_html(self.warnings)


@dataclass
class RetryResult:
    """One pipeline run, counted from a read-back of every topic.

    messages: one row per input message — msg_id, index, key, seq, kind (ok/transient/poison),
              final (processed/dead-lettered/lost/duplicated), attempts (of the processed copy),
              place ('processed (attempt n)' / 'dead-lettered' / 'lost' / 'duplicated'),
              retry_hops (records of it in retry topics), latency_s (the pipeline's first read →
              the message's first record in processed or the DLT; worker start-up not included).
    records:  every record read back — stage (input/retry-n/processed/dlt), partition, offset,
              msg_id, key, seq, attempt, t (s since the run started).
    topics:   records per topic, in pipeline order.
    events:   the workers' starts, crashes, restarts and exits (t in s since the run started).
    summary:  sent, processed, processed_attempt_n, dead_lettered, lost, duplicated,
              reordered_keys, crashes, restarts, startup_s (input written → main stage's first
              read), elapsed_s, latency p50/p99/max, errors, and the anomaly classes it can
              name without reading its input back (anomalies.unread_input_anomalies).
    extra:    {"errors": the stages' error texts}.
    """

    spec: dict[str, Any]
    messages: pd.DataFrame
    records: pd.DataFrame
    topics: pd.DataFrame
    summary: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)
    events: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def label(self) -> str:
        return str(self.spec.get("label") or self.spec.get("mode"))

    @property
    def errors(self) -> list[str]:
        """What went wrong in the stages (a worker that stopped with an error), if anything."""
        return list(self.extra.get("errors", []))

    @property
    def places(self) -> list[str]:
        """The places messages ended in, in pipeline order (plots label their bars with these)."""
        found = set(self.messages["place"])
        attempts = sorted((p for p in found if p.startswith(PROCESSED)),
                          key=lambda p: int(p.rsplit(" ", 1)[1].rstrip(")")))
        return attempts + [p for p in (DEAD_LETTERED, LOST, DUPLICATED) if p in found]

    def place_counts(self) -> pd.DataFrame:
        """How many messages ended where, by kind of message (rows) and place (columns)."""
        return pd.crosstab(self.messages["kind"], self.messages["place"], margins=True,
                           margins_name="total")

    def summary_frame(self) -> pd.DataFrame:
        return pd.DataFrame([self.summary])

    def _repr_html_(self) -> str:
        return self.summary_frame().to_html(index=False)


@dataclass
class BenchmarkResult:
    """summary: msgs_per_s, MB_per_s, p50_ms / p99_ms / max_ms (produce → delivery report),
    for transactions also visible_p50_ms / visible_p99_ms (produce → commit) and commit_p50_ms;
    delivered, failed, stored. latencies: one row per message — index, latency_ms, error (and
    visible_ms). warnings: why this run cannot support what it was meant to (diagnose.py)."""

    spec: dict[str, Any]
    summary: dict[str, Any]
    latencies: pd.DataFrame
    extra: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def summary_frame(self) -> pd.DataFrame:
        return pd.DataFrame([self.summary])

    def _repr_html_(self) -> str:
        return self.summary_frame().to_html(index=False) + _warnings_html(self.warnings)


@dataclass
class StoryResult:
    """summary: lost_payments, double_charges and their parts; causes: one row per kind of
    damage (stage, what, payments, why, notebook); lost / doubled: the payments themselves."""

    spec: dict[str, Any]
    producer: Result
    consumer: Result
    summary: dict[str, Any]
    causes: pd.DataFrame
    lost: pd.DataFrame
    doubled: pd.DataFrame
    warnings: list[str] = field(default_factory=list)

    def _repr_html_(self) -> str:
        head = (f"<p><b>{self.summary['settings']}</b>: {self.summary['lost_payments']} lost "
                f"payments, {self.summary['double_charges']} double charges</p>")
        return head + self.causes.to_html(index=False) + _warnings_html(self.warnings)


def _warnings_html(warnings: list[str]) -> str:
    notes = "".join(f"<li>⚠ {html.escape(w)}</li>" for w in warnings)
    return f"<ul>{notes}</ul>" if notes else ""

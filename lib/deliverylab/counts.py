"""A finished consumer, producer or share run counted into its Result, from the run folder
alone (ledger, store, read-backs, the dead letters read back): no Kafka I/O. The specs come as
the experiment objects (ConsumerExperiment, …) but only their fields are read.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from . import anomalies, checker, diagnose, group_result
from .catalog import config_label
from .history import copies_timeline, events_frame, recorded, worker_course
from .ids import index_of
from .results import Result
from .vocabulary import (ABORT, BEFORE_FLUSH, CONSUMER, CRASH, EXACTLY_ONCE, INCONSISTENT_OFFSETS,
                         PRODUCER, SHARE, STALL)

DEAD_LETTERS_FILE = "dead_letters.json"  # a share run's dead-letter topic, as read back
WITNESS = "console-consumer"  # a producer run's second read-back: Kafka's own Java consumer


# --- consumer runs ----------------------------------------------------------------------------
def consumer_result(run_dir: Path, spec: Any, bootstrap: str,
                    timed_out: bool = False) -> Result:
    """Count a consumer run from its ledger, its store and its read-backs (no Kafka I/O)."""
    meta, t0, tables, sent = recorded(run_dir, run_dir / "store.sqlite")
    effects = tables["effects"]
    rb = tables["readback"]
    if spec.model == EXACTLY_ONCE:
        committed = rb[rb.reader == "output-committed"].sort_values(["partition", "offset"])
        uncommitted = rb[rb.reader == "output-uncommitted"]
        observed = committed
    else:
        observed = effects
    messages = checker.consumer_outcomes(sent, observed)
    if timed_out:  # what the consumers had not got to yet is unread, not lost
        messages = checker.unread_at_timeout(messages, rb[rb.reader == "input"], observed,
                                             tables["commits"])
    summary = checker.consumer_summary(messages, observed)
    events = events_frame(tables["events"], t0)
    # the input producer's own crashes (input_resend) are not the consumer's
    by_input = (events.kind == CRASH) & events.detail.astype(str).str.contains(f'"{BEFORE_FLUSH}"')
    summary.update({
        "model": spec.model, "topic": meta["topic"], "bootstrap": bootstrap,
        "output_topic": None, **worker_course(events[~by_input], timed_out,
                                              spec.crash.point if spec.crash else None),
        "input_crashes": int(by_input.sum()),
        "input_resent": int(len(tables["sends"]) - tables["sends"]["msg_id"].nunique()),
        "input_unconfirmed_per_crash": unconfirmed_per_crash(events[by_input]),
        "label": spec.label or spec.model, "commit_every": spec.commit_every,
    })
    summary.update(checker.commit_counts(tables["commits"]))  # the ledger's commits table
    extra = {}
    if spec.membership == "group" or spec.scenario or spec.coordinator_fault:
        group = group_result.summarise(asdict(spec), tables, effects, t0, meta.get("coordinator"))
        summary.update(group.pop("summary"))
        extra.update(group)
    input_rb = rb[rb.reader == "input"]
    summary["input_records"] = int(len(input_rb))
    summary.update(retention_view(meta, tables["commits"], tables["events"]))
    # copies of a message id in the input log beyond its first (an application resend)
    summary["input_duplicated"] = int(len(input_rb) - input_rb["msg_id"].nunique())
    messages, extra["anomaly_cases"] = _consumer_anomalies(messages, summary, tables, meta["topic"],
                                                           input_rb, effects)
    if spec.model == EXACTLY_ONCE:
        store_outcomes = checker.consumer_outcomes(sent, effects)
        summary.update({
            "output_topic": _output_topic(rb),
            "aborted_reads": checker.aborted_reads(committed, uncommitted),
            "uncommitted_duplicated": int(checker.consumer_summary(
                checker.consumer_outcomes(sent, uncommitted), uncommitted)["duplicated"]),
            "store_duplicated": int(checker.consumer_summary(store_outcomes, effects)["duplicated"]),
            # the loop's own aborts after a processing error (abort_at), and whether it rewound
            "aborts": int((events["kind"] == ABORT).sum()) if len(events) else 0,
            "rewind": bool(getattr(spec, "rewind", True)),
        })
    timeline = copies_timeline(effects, t0)
    return Result(CONSUMER, asdict(spec), messages, timeline, events, summary, run_dir,
                  extra=extra,
                  warnings=diagnose.consumer_warnings(asdict(spec), summary, timeline, events))


def _consumer_anomalies(messages: pd.DataFrame, summary: dict[str, Any],
                        tables: dict[str, pd.DataFrame], topic: str, log: pd.DataFrame,
                        effects: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each message's anomaly (skipped by the consumer or gone from the log) and the run's
    poll-skip and nonmonotonic-poll cases, counted into summary; the input's own delivery
    reports say which records were acknowledged."""
    acks = tables["acks"]
    acks = acks[acks["topic"] == topic] if "topic" in acks else acks
    commits = tables["commits"]
    commits = commits[commits["topic"] == topic] if "topic" in commits else commits
    messages = anomalies.consumer_anomalies(messages, log, acks)
    cases = anomalies.poll_cases(effects, log, tables["events"], commits)
    stored = acks[acks["error"].isna() | (acks["error"].astype(str).str.strip() == "")]
    inconsistent = anomalies.inconsistent_offsets(stored, effects, log)
    summary.update(anomalies.consumer_anomaly_summary(messages, cases, inconsistent))
    return messages, cases


def retention_view(meta: dict[str, str], commits: pd.DataFrame,
                   events: pd.DataFrame) -> dict[str, Any]:
    """A run whose input topic had a retention.ms: where the log started at the end, as Kafka's
    GetOffsetShell read it (log_start_offsets), against the offsets the consumer had committed
    when its stall began (committed_at_stall, the ledger's last successful commit per partition
    before the STALL event). retention_overtook: the log start passed a committed offset — the
    consumer's next record was deleted before it read it. Empty for other runs."""
    if "log_start_by_tool" not in meta:
        return {}
    start = {int(p): int(o) for p, o in json.loads(meta["log_start_by_tool"]).items()}
    stall = events.loc[events["kind"] == STALL, "t"]
    ok = commits[pd.to_numeric(commits["ok"], errors="coerce").fillna(0) == 1]
    if len(stall):
        ok = ok[ok["t"] < float(stall.min())]
    committed = {int(p): int(o) for p, o in ok.groupby("partition")["offset"].max().items()}
    return {"log_start_offsets": start, "committed_at_stall": committed,
            "retention_overtook": any(o > committed.get(p, 0) for p, o in start.items())}


def _output_topic(rb: pd.DataFrame) -> str | None:
    out = rb[rb.reader == "output-committed"]["topic"]
    return str(out.iloc[0]) if len(out) else None


# --- producer experiments ----------------------------------------------------------------------
# --- producer runs ----------------------------------------------------------------------------
def producer_result(run_dir: Path, spec: Any, bootstrap: str,
                    timed_out: bool = False) -> Result:
    meta, t0, tables, sent = recorded(run_dir)
    every = tables["readback"]
    readback = every[every.reader != WITNESS].sort_values(["partition", "offset"])
    messages = checker.producer_outcomes(sent, tables["acks"], readback)
    summary = checker.producer_summary(messages, readback)
    # messages the application itself handed to produce() more than once (spec.resend)
    summary["resent"] = int(len(tables["sends"]) - tables["sends"]["msg_id"].nunique())
    # what Confluent.Kafka's DeliveryResult.Status would have said, against the read-back
    messages = anomalies.producer_statuses(messages, _acks_setting(spec.config))
    summary.update(anomalies.persistence_summary(messages))
    summary.update(producer_offsets(tables["acks"], readback, every[every.reader == WITNESS],
                                        bool(getattr(spec, "witness", False))))
    if summary["inconsistent_offsets"]:
        summary["anomalies"] = [*summary["anomalies"], INCONSISTENT_OFFSETS]
    events = events_frame(tables["events"], t0)
    acks = tables["acks"].copy()
    acks["t"] = acks["t"] - t0
    acks["index"] = acks["msg_id"].map(index_of).astype(int)
    acks["outcome"] = acks["error"].fillna("ok")
    course = worker_course(events, timed_out, None)
    summary["unconfirmed_per_crash"] = unconfirmed_per_crash(events)
    summary.update({
        "topic": meta["topic"], "bootstrap": bootstrap,
        **{k: course[k] for k in ("crashes", "elapsed_s", "timed_out")},
        "label": spec.label or config_label(spec.config),
        "fault": spec.fault.kind if spec.fault else "none",
        **{k: str(v) for k, v in spec.config.items()},
    })
    timeline = acks[["t", "index", "msg_id", "outcome"]]
    return Result(PRODUCER, asdict(spec), messages, timeline, events, summary, run_dir,
                  warnings=diagnose.producer_warnings(asdict(spec), summary, timeline, events))


def unconfirmed_per_crash(events: pd.DataFrame) -> list[int]:
    """Per before-flush kill, in order: the messages the dead process had sent and never seen
    confirmed (workers/producer.py writes it into the crash event): what that kill put at stake."""
    crashes = events[events.kind == CRASH].sort_values("t")
    details = [json.loads(d) for d in crashes["detail"].astype(str)]
    return [int(d["unconfirmed"]) for d in details
            if d.get("point") == BEFORE_FLUSH and "unconfirmed" in d]


def producer_offsets(acks: pd.DataFrame, readback: pd.DataFrame, witness: pd.DataFrame,
                         witnessed: bool) -> dict[str, Any]:
    """inconsistent_offsets: offsets a delivery report gave one message and the read-back finds
    holding another (Jepsen's inconsistent-offsets: an acknowledged write overwritten, as after
    an unclean election); and, with a witness, whether Kafka's ConsoleConsumer read the same
    (partition, offset, message) triples as the lab's read-back."""
    acked = acks[acks["error"].isna() | (acks["error"] == "")]
    clash = anomalies.inconsistent_offsets(acked, readback)
    out: dict[str, Any] = {"inconsistent_offsets": int(len(clash)),
                           "inconsistent_offset_list": [int(o) for o in clash["offset"]]}
    if witnessed:
        def triples(f: pd.DataFrame) -> set:
            return set(zip(f["partition"].astype(int), f["offset"].astype(int), f["msg_id"]))
        lab, java = triples(readback), triples(witness)
        out.update({"witness_records": len(java), "witness_agrees": lab == java,
                    "witness_differs": len(lab ^ java)})
    return out


def _acks_setting(config: dict[str, Any]) -> str:
    """The producer's acks as set (librdkafka's default is all, -1)."""
    return str(config.get("acks", config.get("request.required.acks", "all")))


# --- share-group runs (KIP-932) ---------------------------------------------------------------
def share_result(run_dir: Path, spec: Any, bootstrap: str,
                 timed_out: bool = False) -> Result:
    """Count a share-group run from its ledger and store (no Kafka I/O)."""
    meta, t0, tables, sent = recorded(run_dir, run_dir / "store.sqlite")
    effects = tables["effects"]
    dead = dead_letters_of(run_dir) if spec.dead_letter else None
    messages = checker.share_outcomes(sent, effects, tables["deliveries"], tables["share_acks"],
                                      spec.delivery_limit, dead)
    summary = checker.share_summary(messages, effects, tables["deliveries"])
    if dead is not None:
        summary.update({"dead_letter_topic": meta.get("dead_letter_topic"),
                        "dead_letter_records": int(len(dead))})
    events = events_frame(tables["events"], t0)
    deliveries = delivery_timeline(tables["deliveries"], t0)
    summary.update({
        "model": SHARE, "ack": spec.ack, "members": spec.members, "topic": meta["topic"],
        "group": meta["group"], "bootstrap": bootstrap,
        **worker_course(events, timed_out, spec.crash.point if spec.crash else None), "label": spec.label or f"share, {spec.ack}",
        "lock_duration_ms": spec.lock_duration_ms, "delivery_limit": spec.delivery_limit,
        **redelivery_gaps(deliveries),
        **refused_acks(tables["share_acks"]),
    })
    summary.update(anomalies.unread_input_anomalies(summary))
    extra = {"deliveries": deliveries}
    if dead is not None:
        extra["dead_letters"] = dead
    return Result(SHARE, asdict(spec), messages, copies_timeline(effects, t0), events, summary,
                  run_dir, extra=extra)


def dead_letters_of(run_dir: Path) -> pd.DataFrame:
    """The dead-letter topic as read back: offset, msg_id, key, seq, t (log time) and headers
    (the broker's __dlq.errors.* context: group, topic, partition, offset, delivery.count, …)."""
    path = run_dir / DEAD_LETTERS_FILE
    rows = json.loads(path.read_text()) if path.exists() else []
    return pd.DataFrame(rows, columns=["offset", "msg_id", "key", "seq", "t", "headers"])


def refused_acks(share_acks: pd.DataFrame) -> dict[str, Any]:
    """Acknowledgements the broker refused, by error name: INVALID_RECORD_STATE when the record's
    lock had expired before the acknowledgement arrived (it was already given to someone else)."""
    refused = share_acks[pd.to_numeric(share_acks["ok"], errors="coerce").fillna(0) == 0]
    return {"refused_acks": int(len(refused)),
            "refused_ack_errors": {str(k): int(v) for k, v in refused["error"].value_counts().items()}}


def delivery_timeline(deliveries: pd.DataFrame, t0: float) -> pd.DataFrame:
    """Every delivery: t (s since the run started), worker, index, delivery_count, and the gap
    since the same record's previous delivery (NaN for its first)."""
    d = deliveries.sort_values("t").copy()
    d["t"] = d["t"] - t0
    d["index"] = d["msg_id"].map(index_of).astype(int) if len(d) else pd.Series(dtype=int)
    d["gap_s"] = d.groupby("msg_id")["t"].diff()
    return d[["t", "worker", "index", "msg_id", "partition", "offset", "delivery_count", "gap_s"]]


def redelivery_gaps(deliveries: pd.DataFrame) -> dict[str, float | None]:
    """How long a record waited between two deliveries: min, median and max over redeliveries."""
    gaps = deliveries["gap_s"].dropna()
    if not len(gaps):
        return {"redelivery_gap_min_s": None, "redelivery_gap_median_s": None,
                "redelivery_gap_max_s": None}
    return {"redelivery_gap_min_s": round(float(gaps.min()), 3),
            "redelivery_gap_median_s": round(float(gaps.median()), 3),
            "redelivery_gap_max_s": round(float(gaps.max()), 3)}


__all__ = ["consumer_result", "producer_result", "producer_offsets", "share_result", "dead_letters_of",
           "delivery_timeline", "redelivery_gaps", "refused_acks", "DEAD_LETTERS_FILE"]

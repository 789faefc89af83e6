"""A retry pipeline's run counted from what its topics hold (pure, no Kafka): every input
message's final place (processed at attempt n, dead-lettered, lost, duplicated), the summary
counts, and the first key the pipeline put out of order.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from .anomalies import unread_input_anomalies
from .checker import reordered_keys
from .results import RetryResult
from .vocabulary import CRASH, DEAD_LETTERED, DUPLICATED, LOST, PROCESSED, RESTART


def count_places(plan: pd.DataFrame, records: pd.DataFrame) -> pd.DataFrame:
    """Final place of every planned message from the read-back records (pure, no Kafka).
    Latency: from the pipeline's first read (the earliest consumed_at: every input message is
    there from the start) to the message's first record in processed or the DLT (at). So it
    counts the wait behind other messages and retries, and not the workers' start-up."""
    out = plan.reset_index()[["msg_id", "index", "key", "seq", "kind"]].copy()
    recs = records if len(records) else pd.DataFrame(columns=["stage", "msg_id", "attempt", "at",
                                                              "consumed_at"])
    done = recs[recs["stage"].isin(["processed", "dlt"])]
    n_proc = done[done.stage == "processed"].groupby("msg_id").size()
    n_dlt = done[done.stage == "dlt"].groupby("msg_id").size()
    hops = recs[recs["stage"].astype(str).str.startswith("retry-")].groupby("msg_id").size()
    first = done.sort_values("at").drop_duplicates("msg_id").set_index("msg_id")
    out["processed_copies"] = out["msg_id"].map(n_proc).fillna(0).astype(int)
    out["dlt_copies"] = out["msg_id"].map(n_dlt).fillna(0).astype(int)
    out["retry_hops"] = out["msg_id"].map(hops).fillna(0).astype(int)
    total = out["processed_copies"] + out["dlt_copies"]
    out["final"] = [LOST if t == 0 else DUPLICATED if t > 1 else PROCESSED if p else DEAD_LETTERED
                    for t, p in zip(total, out["processed_copies"])]
    out["attempts"] = out["msg_id"].map(first["attempt"]) if len(first) else None
    out["attempts"] = pd.to_numeric(out["attempts"]).astype("Int64")
    out["place"] = [f"processed (attempt {a})" if f == PROCESSED else f
                    for f, a in zip(out["final"], out["attempts"])]
    if len(first):
        out["latency_s"] = out["msg_id"].map(first["at"] - recs["consumed_at"].min())
    else:
        out["latency_s"] = float("nan")
    return out


def percentile(values: pd.Series, q: float) -> float:
    values = values.dropna()
    return round(float(values.quantile(q)), 3) if len(values) else float("nan")


def retry_summary(spec: Any, messages: pd.DataFrame, records: pd.DataFrame, events: pd.DataFrame,
                  elapsed: float, timed_out: bool, input_written: float, errors: int) -> dict[str, Any]:
    """The counts of a pipeline run (spec: its RetryPipeline). startup_s: from the input written
    (input_written, time.time()) to the main stage's first read."""
    final = messages["final"].value_counts()
    processed = messages[messages["final"] == PROCESSED]
    out_order = records[records["stage"] == "processed"].sort_values(["partition", "offset"]) \
        if len(records) else records
    first_read = records["consumed_at"].min() \
        if len(records) and "consumed_at" in records else float("nan")
    s: dict[str, Any] = {
        "mode": spec.mode, "label": spec.label or spec.mode, "sent": spec.messages,
        "ok": int((messages["kind"] == "ok").sum()),
        "transient": int((messages["kind"] == "transient").sum()),
        "poison": int((messages["kind"] == "poison").sum()),
        "processed": int(final.get(PROCESSED, 0)),
    }
    for a in range(1, spec.attempts + 1):
        s[f"processed_attempt_{a}"] = int((processed["attempts"] == a).sum())
    s.update({
        "dead_lettered": int(final.get(DEAD_LETTERED, 0)),
        "lost": int(final.get(LOST, 0)),
        "duplicated": int(final.get(DUPLICATED, 0)),
        "reordered_keys": len(reordered_keys(out_order)) if len(out_order) else 0,
        "crashes": int((events["kind"] == CRASH).sum()),
        "restarts": int((events["kind"] == RESTART).sum()),
        "startup_s": round(float(first_read - input_written), 3),
        "elapsed_s": round(elapsed, 3),
        "latency_p50_s": percentile(messages["latency_s"], 0.5),
        "latency_p99_s": percentile(messages["latency_s"], 0.99),
        "latency_max_s": percentile(messages["latency_s"], 1.0),
        "timed_out": bool(timed_out),
        "errors": errors,
    })
    s.update(unread_input_anomalies(s))
    return s


def reordered_example(result: RetryResult, before: int = 2, after: int = 4) -> pd.DataFrame:
    """The processed records of the first key whose seqs came out of order, around the first
    place where a seq is lower than one processed before it (empty if no key was reordered)."""
    recs = result.records
    if not len(recs):
        return recs
    out = recs[recs["stage"] == "processed"].sort_values(["partition", "offset"])
    for _, rows in out.groupby("key", sort=False):
        seqs = rows["seq"].tolist()
        for i in range(1, len(seqs)):
            if seqs[i] < max(seqs[:i]):
                first = next(j for j in range(i) if seqs[j] > seqs[i])
                cols = [c for c in ("msg_id", "key", "seq", "attempt", "t") if c in rows]
                return rows.iloc[max(0, first - before):i + after][cols]
    return out.iloc[0:0]


def topic_counts(records: pd.DataFrame, topics: list[str], stage_of: dict[str, str]) -> pd.DataFrame:
    """Records per topic, in pipeline order."""
    return pd.DataFrame({"stage": [stage_of[t] for t in topics], "topic": topics,
                         "records": [int((records.get("stage") == stage_of[t]).sum())
                                     if len(records) else 0 for t in topics]})


__all__ = ["count_places", "retry_summary", "reordered_example", "topic_counts", "percentile"]

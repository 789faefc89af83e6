"""A group run counted from its ledger (pure, no Kafka): who held which partition when, the
rebalances, the refused commits with their error names, how long each crash kept its
partitions idle, and — for Scenario 2 — which outcome the restarted worker found.
"""
from __future__ import annotations

import json
from typing import Any

import pandas as pd

from .ids import member_of
from .vocabulary import (ASSIGNED, CRASH, EXIT, FAULT, PARTITIONS_LOST, REVOKED, S2_READY, S2_RESUMED,
                         S2_SETTLED)



def _detail(d: Any) -> dict[str, Any]:
    try:
        return json.loads(d) if isinstance(d, str) and d.startswith("{") else {}
    except ValueError:
        return {}


def holdings(events: pd.DataFrame, t0: float, t_end: float) -> pd.DataFrame:
    """One row per (member, worker, partition) holding: from its assignment to its revocation,
    loss, the worker's crash or exit, or the end of the run. Times in s since the run began."""
    rows: list[dict[str, Any]] = []
    open_: dict[tuple[int, int], dict[str, Any]] = {}
    ev = events.sort_values("t") if len(events) else events
    for kind, worker, t, detail in zip(ev["kind"], ev["worker"], ev["t"], ev["detail"]):
        worker = int(worker)
        info = _detail(detail)
        if kind == ASSIGNED:
            for p in info.get("partitions", []):
                open_[(worker, p)] = {"member": member_of(worker), "worker": worker,
                                      "partition": p, "start": t - t0}
        elif kind in (REVOKED, PARTITIONS_LOST):
            for p in info.get("partitions", []):
                h = open_.pop((worker, p), None)
                if h:
                    rows.append({**h, "end": t - t0, "how": kind})
        elif kind in (CRASH, EXIT):
            for key in [k for k in open_ if k[0] == worker]:
                rows.append({**open_.pop(key), "end": t - t0, "how": kind})
    rows += [{**h, "end": t_end - t0, "how": "end"} for h in open_.values()]
    return pd.DataFrame(rows, columns=["member", "worker", "partition", "start", "end", "how"])


def resume_times(events: pd.DataFrame, held: pd.DataFrame, effects: pd.DataFrame,
                 t0: float) -> pd.DataFrame:
    """Per crash: the partitions the crashed member held, and how long until any member
    processed a record of them again (the gap a crash costs its partitions)."""
    rows = []
    crashes = events[events["kind"] == CRASH] if len(events) else events
    for worker, t in zip(crashes["worker"], crashes["t"]):
        tc = t - t0
        parts = set(held.loc[(held["worker"] == int(worker)) & (held["how"] == CRASH), "partition"])
        later = effects[(effects["t"] - t0 > tc) & effects["partition"].isin(parts)] if len(effects) else effects
        nxt = float(later["t"].min() - t0) if len(later) else None
        rows.append({"member": member_of(worker), "worker": int(worker), "t": round(tc, 3),
                     "partitions": sorted(int(p) for p in parts),
                     "resume_s": round(nxt - tc, 3) if nxt is not None else None})
    return pd.DataFrame(rows, columns=["member", "worker", "t", "partitions", "resume_s"])


def scenario_2(events: pd.DataFrame) -> dict[str, Any]:
    """Which way Scenario 2 went: the offset the dying worker sent, and the one the restarted
    worker's committed() returned. Equal: applied; the earlier one: lost."""
    def last(kind: str) -> dict[str, Any]:
        rows = events[events["kind"] == kind]
        return _detail(rows["detail"].iloc[-1]) if len(rows) else {}
    sent, resumed, settled = last(S2_READY), last(S2_RESUMED), last(S2_SETTLED)
    sent_o = {int(p): int(o) for p, o in sent.get("offsets", {}).items()}
    got = {int(p): int(o) for p, o in resumed.get("committed", {}).items()}
    if not sent_o or not got:
        outcome = None
    else:
        outcome = "applied" if all(got.get(p) == o for p, o in sent_o.items()) else "lost"
    return {"scenario_2": outcome, "in_flight_offsets": sent_o, "resumed_from": got,
            "coordinator": settled.get("old_coordinator"),
            "new_coordinator": settled.get("coordinator")}


def summarise(spec: dict[str, Any], tables: dict[str, pd.DataFrame], effects: pd.DataFrame,
              t0: float, coordinator: str | None = None) -> dict[str, Any]:
    events = tables["events"]
    t_end = float(events["t"].max()) if len(events) else t0
    held = holdings(events, t0, t_end)
    resumes = resume_times(events, held, effects, t0)
    commits = tables["commits"]
    failed = commits[commits["ok"] == 0] if len(commits) else commits
    # A rebalance here: partitions taken from a member (revoked or lost) while records were
    # still being processed
    # (after the last record was processed, members leave as the input is done: no lesson there)
    last_effect = float(effects["t"].max()) if len(effects) else float("inf")
    before_end = events[events["t"] <= last_effect]
    taken = before_end[before_end["kind"].isin([REVOKED, PARTITIONS_LOST])]
    summary: dict[str, Any] = {
        "membership": spec.get("membership"), "members": int(spec.get("members") or 1),
        "group_protocol": spec.get("group_protocol"), "assignor": spec.get("assignor"),
        "static": bool(spec.get("static")), "commit_on_revoke": bool(spec.get("commit_on_revoke")),
        "rebalances": int(len(taken)),
        "lost_assignments": int((taken["kind"] == PARTITIONS_LOST).sum()),
        "commit_failures": int(len(failed)),
        "commit_errors": sorted({str(e) for e in failed["error"].dropna()}) if len(failed) else [],
        "resume_s_max": (float(resumes["resume_s"].max()) if len(resumes) and resumes["resume_s"].notna().any()
                         else None),
    }
    if spec.get("scenario"):
        summary.update(scenario_2(events))
    else:  # the broker that coordinated the group at the end of the run
        summary["coordinator"] = int(coordinator) if coordinator not in (None, "") else None
    faults = [_detail(d) for k, d in zip(events["kind"], events["detail"]) if k == FAULT]
    hit = [f["coordinator"] for f in faults if "coordinator" in f]
    if hit and not spec.get("scenario"):
        summary["faulted_coordinator"] = hit[0]  # the coordinator the mid-run fault struck
    return {"summary": summary, "holdings": held, "resumes": resumes,
            "failed_commits": failed.reset_index(drop=True)}

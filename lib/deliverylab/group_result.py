"""A group run counted from its ledger (pure, no Kafka): who held which partition when, the
rebalances, the refused commits with their error names, how long each crash kept its
partitions idle, and — for Scenario 2 — which outcome the restarted worker found.
"""
from __future__ import annotations

import json
from typing import Any

import pandas as pd

from .ids import member_of
from .vocabulary import (ASSIGNED, CRASH, EXIT, FAULT, GROUP_STANDS, INPUT, PARTITIONS_LOST, REJOIN,
                         REVOKED, S2_READY, S2_RESUMED, S2_SETTLED)

# A partition no live member held for this long, while the group had records to process, was
# idle: a rebalance's stall, which waits for a dead member's session (6 s on the lab). A
# hand-over between two live members takes a heartbeat or two (measured: under 1 s, on 2 busy
# cores); a static member's restart about 0.2-0.8 s.
IDLE_S = 2.0



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
        elif kind in (CRASH, EXIT) and detail != INPUT:
            # (the input producer's starts are numbered from 0 too: its exit is not member 0's)
            for key in [k for k in open_ if k[0] == worker]:
                rows.append({**open_.pop(key), "end": t - t0, "how": kind})
    rows += [{**h, "end": t_end - t0, "how": "end"} for h in open_.values()]
    return pd.DataFrame(rows, columns=["member", "worker", "partition", "start", "end", "how"])


def group_stands(events: pd.DataFrame, members: list[int], partitions: int) -> dict[int, list[int]] | None:
    """Who holds what now, if the group stands: every partition held by exactly one member's live
    worker, and as many of `members` holding partitions as can (min(members, partitions));
    otherwise None (still forming, or a partition held twice between a revoke and an assign)."""
    if not len(events):
        return None
    held = holdings(events, 0.0, float(events["t"].max()))
    now = held[held["how"] == "end"]
    if sorted(now["partition"]) != list(range(partitions)):
        return None  # a partition unowned, or owned by two members
    by_member = {int(m): sorted(int(p) for p in g["partition"]) for m, g in now.groupby("member")}
    if len([m for m in members if m in by_member]) < min(len(members), partitions):
        return None
    return by_member


def idle_partitions(held: pd.DataFrame, partitions: int, t_from: float, t_to: float) -> pd.DataFrame:
    """Per partition, the longest time within [t_from, t_to] that no live member held it (the
    group's stall: an eager rebalance revokes every partition, a crashed member's wait for the
    coordinator to notice), with when it began. Times in s since the run began."""
    rows = []
    for p in range(partitions):
        spans = sorted((max(s, t_from), min(e, t_to)) for s, e in
                       zip(held.loc[held["partition"] == p, "start"], held.loc[held["partition"] == p, "end"])
                       if e > t_from and s < t_to)
        gap, since, at = 0.0, None, t_from
        for s, e in spans + [(t_to, t_to)]:
            if s - at > gap:
                gap, since = s - at, at
            at = max(at, e)
        rows.append({"partition": p, "idle_s": round(gap, 3),
                     "from": round(since, 3) if since is not None else None})
    return pd.DataFrame(rows, columns=["partition", "idle_s", "from"])


def duplicates_by_partition(effects: pd.DataFrame, t0: float = 0.0) -> pd.DataFrame:
    """Every repeated processing, per partition: how many, which members processed those records
    first and which processed them again (the store records the worker of every effect), and
    when the repeats ran (seconds since t0, the run's start), to set beside the timeline."""
    cols = ["partition", "duplicated", "first_by", "again_by", "again_from_s", "again_to_s"]
    if not len(effects):
        return pd.DataFrame(columns=cols)
    ef = effects.sort_values("t").copy()
    ef["copy"] = ef.groupby("msg_id").cumcount()
    ef["member"] = ef["worker"].map(lambda w: member_of(int(w)))
    first = ef[ef["copy"] == 0].set_index("msg_id")["member"]
    again = ef[ef["copy"] > 0]
    rows = []
    for p, g in again.groupby("partition"):
        rows.append({"partition": int(p), "duplicated": int(len(g)),
                     "first_by": sorted({int(first[m]) for m in g["msg_id"]}),
                     "again_by": sorted({int(m) for m in g["member"]}),
                     "again_from_s": round(float(g["t"].min()) - t0, 2),
                     "again_to_s": round(float(g["t"].max()) - t0, 2)})
    return pd.DataFrame(rows, columns=cols)


def never_assigned(events: pd.DataFrame, members: int) -> list[int]:
    """The members that no partition was ever assigned to, in any of their starts."""
    got = set()
    rows = events[events["kind"] == ASSIGNED] if len(events) else events
    for worker, detail in zip(rows["worker"], rows["detail"]):
        if _detail(detail).get("partitions"):
            got.add(member_of(worker))
    return [m for m in range(members) if m not in got]


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


def moved_partitions(held: pd.DataFrame, stood_s: float | None, last_s: float) -> int:
    """Partitions held by more than one member between the group standing and the last record
    processed (times in s since the run began). The hand-overs as members close once the input
    is done are not moves: nothing was waiting."""
    during = held[(held["end"] >= (stood_s if stood_s is not None else float("-inf")))
                  & (held["start"] <= last_s)]
    return int((during.groupby("partition")["member"].nunique() > 1).sum()) if len(during) else 0


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
    # … and after the group stood (the lab writes the input only then, so the members' start-up
    # rebalances come before any record: they are the group forming, not a lesson)
    stood = events.loc[events["kind"] == GROUP_STANDS, "t"] if len(events) else events["t"]
    t_stands = float(stood.iloc[0]) if len(stood) else None
    during = events[(events["t"] <= last_effect) & (events["t"] >= (t_stands or float("-inf")))]
    taken = during[during["kind"].isin([REVOKED, PARTITIONS_LOST])]
    partitions = int(spec.get("partitions") or 1)
    first_effect = float(effects["t"].min()) if len(effects) else None
    idle = (idle_partitions(held, partitions, first_effect - t0, last_effect - t0)
            if first_effect is not None else idle_partitions(held.iloc[0:0], 0, 0, 0))
    dups = duplicates_by_partition(effects, t0)
    summary: dict[str, Any] = {
        "membership": spec.get("membership"), "members": int(spec.get("members") or 1),
        "group_protocol": spec.get("group_protocol"), "assignor": spec.get("assignor"),
        "static": bool(spec.get("static")), "commit_on_revoke": bool(spec.get("commit_on_revoke")),
        "rebalances": int(len(taken)),
        # whose partitions were revoked then: eager assignors take every member's, cooperative
        # ones only those that move
        "revoked_members": sorted({member_of(int(w))
                                   for w in taken.loc[taken["kind"] == REVOKED, "worker"]}),
        "lost_assignments": int((taken["kind"] == PARTITIONS_LOST).sum()),
        "commit_failures": int(len(failed)),
        "commit_errors": sorted({str(e) for e in failed["error"].dropna()}) if len(failed) else [],
        "resume_s_max": (float(resumes["resume_s"].max()) if len(resumes) and resumes["resume_s"].notna().any()
                         else None),
        "never_assigned": never_assigned(events, int(spec.get("members") or 1)),
        "rejoins": int((events["kind"] == REJOIN).sum()) if len(events) else 0,
        "group_stood_s": round(t_stands - t0, 3) if t_stands is not None else None,
        # who held what when the group stood (member -> partitions), before any record
        "stood_holdings": {int(m): list(p) for m, p in _detail(
            events.loc[events["kind"] == GROUP_STANDS, "detail"].iloc[0]).get("holdings", {}).items()}
        if t_stands is not None else {},
        # the stall: partitions no live member held for IDLE_S or longer while the group had
        # records to process
        "idle_partitions": int((idle["idle_s"] >= IDLE_S).sum()),
        "idle_s_max": float(idle["idle_s"].max()) if len(idle) else None,
        # partitions that changed member once the group stood (held by more than one member)
        "moved_partitions": moved_partitions(held, t_stands - t0 if t_stands is not None else None,
                                             last_effect - t0),
        "duplicated_first_by": {int(m): int(n) for m, n in
                                 _count_first_by(effects).items()},
        "rejoin_reasons": sorted({str(_detail(d).get("reason")) for k, d in
                                  zip(events["kind"], events["detail"]) if k == REJOIN}),
    }
    if spec.get("scenario"):
        summary.update(scenario_2(events))
    else:  # the broker that coordinated the group at the end of the run
        summary["coordinator"] = int(coordinator) if coordinator not in (None, "") else None
    faults = [_detail(d) for k, d in zip(events["kind"], events["detail"]) if k == FAULT]
    hit = [f["coordinator"] for f in faults if "coordinator" in f]
    if hit and not spec.get("scenario"):
        summary["faulted_coordinator"] = hit[0]  # the coordinator the mid-run fault struck
    return {"summary": summary, "holdings": held, "resumes": resumes, "idle": idle,
            "duplicates": dups,
            "failed_commits": failed.assign(member=[member_of(w) for w in failed.get("worker", [])])
            .reset_index(drop=True)}


def _count_first_by(effects: pd.DataFrame) -> dict[int, int]:
    """Repeated processings, by the member that processed the record the first time."""
    if not len(effects):
        return {}
    ef = effects.sort_values("t").copy()
    ef["copy"] = ef.groupby("msg_id").cumcount()
    first = ef[ef["copy"] == 0].set_index("msg_id")["worker"].map(lambda w: member_of(int(w)))
    again = ef[ef["copy"] > 0]
    return first.loc[again["msg_id"]].value_counts().sort_index().to_dict()

"""The verdict on a claim: held or not, what the run could show, and which crash caused what.

Pure, in the manner of a Jepsen checker: the counted outcomes (checker.py) and the ledger's crash
events in, a Verdict out. Each crash event says what was at stake when it struck (ids in hand,
committed but not processed, processed but not committed, in the open transaction; see
check/witness.py and check/program.py), so each lost or duplicated id is laid at the door of
the crash that put it at risk:

- a lost id that was committed but not processed at a crash: that crash lost it;
- a duplicated id that was processed (its output written) but not committed at a crash: that
  crash made the restart process it again.

An id no crash explains is reported as such (a broker fault, a rebalance, a clean restart).
A run in which no crash struck with something at stake cannot show a breach: it does not pass.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

import pandas as pd

from ..ids import index_of
from ..vocabulary import (ACKED_BUT_LOST, AFTERMATH, CRASH, DUPLICATED, FAILED_REPORTED, FAULT,
                          LOST)
from .guarantees import Guarantee, broken_by
from .schedule import describe

LOST_OUTCOMES = (LOST, ACKED_BUT_LOST, FAILED_REPORTED)


@dataclass
class Cause:
    """One crash and what it did: the ids it lost and the ids it made the restart repeat."""

    n: int
    t: float
    where: str  # "after your commit() returned, before your process() call"
    point: str  # in the course's vocabulary: after-commit, after-process, …
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    at_stake: dict[str, list[str]] = field(default_factory=dict)

    def sentence(self) -> str:
        if self.point == "fault":
            return (f"{self.where} ({self.t:.1f} s): {id_ranges(self.lost)} had been "
                    "acknowledged to the producer, and the log no longer holds them.")
        parts = []
        if self.lost:
            them = "it" if len(self.lost) == 1 else "them"
            parts.append(f"{id_ranges(self.lost)} had been committed before the work on {them} "
                         f"was done, so the restart skipped {them}")
        if self.duplicated:
            them = "it" if len(self.duplicated) == 1 else "them"
            parts.append(f"{id_ranges(self.duplicated)} had been processed but not committed, "
                         f"so the restart processed {them} again")
        what = "; ".join(parts) if parts else "nothing was lost or repeated because of it"
        return f"crash {self.n} ({self.t:.1f} s, {self.where}): {what}."


@dataclass
class Verdict:
    claim: str
    meaning: str
    held: bool  # the counts uphold the claim
    shown: bool  # some crash (or fault) struck while something was at stake
    broken: list[str]  # 'lost' and/or 'duplicated'
    lost: int
    duplicated: int
    causes: list[Cause]
    unexplained: dict[str, list[str]]
    fix: str
    warnings: list[str]

    @property
    def passed(self) -> bool:
        """The claim held AND the run could have shown it breaking."""
        return self.held and self.shown

    @property
    def status(self) -> str:
        return "passed" if self.passed else "failed" if not self.held else "inconclusive"

    def headline(self) -> str:
        if not self.held:
            what = " and ".join(f"{self.lost} lost" if b == "lost" else f"{self.duplicated} duplicated"
                                for b in self.broken)
            return f"✗ {self.claim} does NOT hold: {what} (the claim allows none)."
        if not self.shown:
            return (f"? {self.claim} was not shown: no crash or fault struck while records were "
                    "at stake, so this run could not have caught a breach.")
        return f"✓ {self.claim} held: {self.meaning}, and no crash broke it."

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed, "status": self.status}


def id_ranges(ids: Iterable[str], most: int = 6) -> str:
    """'ids 51–60 and 75' from lab ids (m000051…): consecutive runs joined."""
    nums = sorted({index_of(i) for i in ids})
    if not nums:
        return "no ids"
    runs: list[tuple[int, int]] = []
    for n in nums:
        if runs and n == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], n)
        else:
            runs.append((n, n))
    text = [f"{a}–{b}" if b > a else f"{a}" for a, b in runs[:most]]
    more = f" and {len(runs) - most} more runs" if len(runs) > most else ""
    word = "id" if len(nums) == 1 else "ids"
    return f"{word} {', '.join(text)}{more}"


def _detail(d: Any) -> dict[str, Any]:
    return json.loads(d) if isinstance(d, str) and d.startswith("{") else {}


def crashes_from(events: pd.DataFrame) -> list[dict[str, Any]]:
    """The crash events (t relative to the run) with their JSON detail, in time order; a
    program's kill has an 'aftermath' event too (what the dead process had sent that reached
    the log or the group just after the kill), merged into its crash's sets."""
    if events is None or events.empty:
        return []
    late: dict[int, dict[str, Any]] = {}
    for d in events.loc[events["kind"] == AFTERMATH, "detail"]:
        info = _detail(d)
        late[int(info.get("n", 0))] = info
    rows = events[events["kind"] == CRASH].sort_values("t")
    out = []
    for t, detail in zip(rows["t"], rows["detail"]):
        info = {**_detail(detail), "t": float(t)}
        for key, ids in late.get(int(info.get("n", 0)), {}).items():
            if key in ("processed_uncommitted", "committed_unprocessed") and ids:
                info[key] = sorted(set(info.get(key) or []) | set(ids))
        out.append(info)
    return out


def faults_from(events: pd.DataFrame) -> list[dict[str, Any]]:
    """The broker faults of a run (t relative to the run) with their JSON detail."""
    if events is None or events.empty:
        return []
    rows = events[events["kind"] == FAULT].sort_values("t")
    return [{**_detail(d), "t": float(t)} for t, d in zip(rows["t"], rows["detail"])]


def _at_stake(c: dict[str, Any]) -> dict[str, list[str]]:
    keys = ("committed_unprocessed", "processed_uncommitted", "in_transaction", "in_hand")
    return {k: list(c.get(k) or []) for k in keys if c.get(k)}


def _where(c: dict[str, Any]) -> str:
    if c.get("where"):  # a program's kill, seen from outside
        return str(c["where"])
    if c.get("after") and c.get("before"):
        return describe((c["after"], c["before"]))
    return str(c.get("where") or c.get("point") or "a crash")


def shown_by(crashes: list[dict[str, Any]], faults: int) -> bool:
    """Could this run have caught a breach? Some crash struck with work at stake that a wrong
    order loses or repeats, or a broker fault struck while the code was working."""
    telling = ("committed_unprocessed", "processed_uncommitted", "in_transaction")
    for c in crashes:
        if any(c.get(k) for k in telling):
            return True
        if c.get("in_hand") and not c.get("commits_known", True):
            return True  # auto-commit: a commit the loop cannot see may lie past them
        if c.get("working"):
            return True  # a program killed while working through uncommitted input
    return faults > 0


def judge(g: Guarantee, outcomes: pd.DataFrame, events: pd.DataFrame, mode: str,
          crashes_planned: int, faults: int = 0, notes: Iterable[str] = ()) -> Verdict:
    """The verdict on `g` from a run's outcomes (msg_id, outcome, copies) and events."""
    lost_ids = sorted(outcomes.loc[outcomes["outcome"].isin(LOST_OUTCOMES), "msg_id"])
    dup_ids = sorted(outcomes.loc[outcomes["outcome"] == DUPLICATED, "msg_id"])
    duplicated = int((outcomes.loc[outcomes["outcome"] == DUPLICATED, "copies"] - 1).sum())
    broken = broken_by(g, len(lost_ids), duplicated)
    crashes = crashes_from(events)
    causes, left_lost, left_dup = [], set(lost_ids), set(dup_ids)
    for c in crashes:
        stake = _at_stake(c)
        skipped = set(stake.get("committed_unprocessed", []))
        if not c.get("commits_known", True):
            skipped |= set(stake.get("in_hand", []))
        repeated = set(stake.get("processed_uncommitted", []))
        cause = Cause(int(c.get("n", len(causes) + 1)), round(c["t"], 3), _where(c),
                      str(c.get("point")), sorted(left_lost & skipped), sorted(left_dup & repeated),
                      stake)
        left_lost -= skipped
        left_dup -= repeated
        causes.append(cause)
    fired = len(crashes)
    warnings = list(notes)
    if crashes_planned and fired < crashes_planned:
        warnings.append(f"Only {fired} of the {crashes_planned} planned crashes struck: the "
                        "input was done before the others were due, or the code never again "
                        "reached a point where records were at stake.")
    shown = shown_by(crashes, faults)
    if not shown:
        warnings.append("No crash struck between a poll and a commit with records at stake "
                        "(in hand, processed but not committed, or committed but not processed),"
                        " and no broker fault struck: this run could not have shown a breach, so "
                        "it does not pass.")
    acked_lost = set(outcomes.loc[outcomes["outcome"] == ACKED_BUT_LOST, "msg_id"]) & left_lost
    for f in faults_from(events):
        if acked_lost:  # acknowledged, and gone from the log: the broker fault took them
            causes.append(Cause(0, f["t"], f"the broker fault {f.get('kind')} on broker(s) "
                                f"{f.get('brokers')}", "fault", sorted(acked_lost), [], {}))
            left_lost -= acked_lost
            acked_lost = set()
    unexplained = {k: sorted(v) for k, v in (("lost", left_lost), ("duplicated", left_dup)) if v}
    return Verdict(g.name, g.meaning, not broken, shown, broken, len(lost_ids), duplicated,
                   causes, unexplained, likely_fix(g, broken, causes, mode, outcomes, shown),
                   warnings)


def likely_fix(g: Guarantee, broken: list[str], causes: list[Cause], mode: str,
               outcomes: pd.DataFrame, shown: bool) -> str:
    """One paragraph naming the likely fix for what broke (or why nothing could)."""
    if not broken:
        if shown:
            return ""
        return ("Give the check something to show: a loop that commits, and enough records and "
                "crashes (crashes strike only where records are in hand, processed but not "
                "committed, or committed but not processed).")
    outcome = outcomes["outcome"]
    if mode == "producer":
        if "lost" in broken and (outcome == ACKED_BUT_LOST).any():
            return ("Writes were acknowledged and then lost when the leader failed: with acks=1 "
                    "the leader answers before any follower has the record. Use acks=all, with "
                    "the topic's min.insync.replicas=2 (.NET: Acks = Acks.All).")
        if "lost" in broken:
            return ("Records never reached the log: a record still queued in the producer dies "
                    "with the process, and a failed delivery report is the app's to act on. "
                    "flush() (or wait for every delivery report) before treating records as "
                    "sent, and send again what was not acknowledged.")
        return ("The log holds some records twice: the producer's own retries duplicate without "
                "enable.idempotence=true (.NET: EnableIdempotence = true), and a record resent "
                "after a restart needs a transactional producer or deduplication downstream.")
    if "lost" in broken:
        if any(c.lost and not c.at_stake.get("committed_unprocessed") for c in causes):
            return ("With enable.auto.commit=true and the default enable.auto.offset.store=true, "
                    "librdkafka stores each offset as poll() hands the record out and commits it "
                    "on a timer, before your work is done. Set enable.auto.offset.store=false and "
                    "call store_offsets(msg) after process(msg) (.NET: EnableAutoOffsetStore = "
                    "false, then StoreOffset).")
        if mode == "consumer":
            return ("Your loop commits a record's offset before the record's work is done, so a "
                    "crash between the two skips it for good (that is at-most-once). For "
                    "at-least-once, call process(msg) first and commit after it, synchronously: "
                    "consumer.commit(message=msg, asynchronous=False) (.NET: Commit(result)).")
        return ("The input offsets were committed before the output was safely written: a crash "
                "in between skips those records for good. Write the output and wait for its "
                "delivery (producer.flush()) before committing the input offsets — or, for "
                "exactly-once, commit them inside the transaction (send_offsets_to_transaction).")
    if g.name == "at-most-once":
        return ("Your loop processes records before it commits their offsets, so a crash in "
                "between repeats the work (that is at-least-once). For at-most-once, commit "
                "first, synchronously, then process.")
    if mode == "consumer":
        return ("A crash after process() and before the commit makes the restart process the "
                "record again: an offset commit cannot be atomic with an effect outside Kafka. "
                "For exactly-once effects write the effect and the offset in one database "
                "transaction (an idempotent consumer, notebook 05) or make the effect "
                "idempotent; from Kafka to Kafka, use a transaction (check.transactional).")
    return ("Records reached the output more than once: commit the input offsets in the same "
            "transaction as the output — producer.send_offsets_to_transaction(consumer.position("
            "consumer.assignment()), consumer.consumer_group_metadata()) before "
            "commit_transaction() — and read the output with isolation.level=read_committed. "
            "A consumer.commit() outside the transaction, or no transaction, repeats output "
            "after a crash.")


__all__ = ["Cause", "Verdict", "judge", "id_ranges", "crashes_from", "shown_by", "likely_fix"]

"""Repeated-run validation: every scenario R times with different seeds, each run checked
against the invariant its delivery model or producer setting guarantees. Timing-dependent
scenarios have no invariant; their spread over the runs is reported instead.

Crashes are drawn with a probability under each run's seed (not every K-th message), and broker
faults are placed by the seed, so repeated runs hit different moments of the loop.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable, Collection

import pandas as pd

from ..catalog import ACKS_ALL, PRODUCER_CONFIGS
from ..crash import CrashSpec
from ..errors import FaultUnavailable, LabError
from ..nemesis import NETWORK_FAULTS, seeded_fault
from ..vocabulary import (AT_LEAST_ONCE, AT_MOST_ONCE, AUTO_COMMIT, AUTO_COMMIT_STORE, CONSUMER,
                          CONSUMER_ANOMALIES, CRASH_POINTS, DUPLICATE, EXACTLY_ONCE,
                          HANGING, IDEMPOTENT_CONSUMER, LOST_WRITE, NONMONOTONIC_POLL, POLL_SKIP,
                          PRODUCER)
from .consumer import SMALL_FETCH_QUEUE, ConsumerExperiment, retention_config, run_consumer
from .hanging import HangingTransaction, run_hanging
from .producer import ProducerExperiment, run_producer

NETWORK_RUN_S = 12.0  # a partitioned run's length: strike 3–6 s in, heal 8 s later, inside the run
Invariant = Callable[[dict[str, Any]], bool]
NO_LOSS: Invariant = lambda s: s["lost"] == 0
NO_DUPLICATES: Invariant = lambda s: s["duplicated"] == 0
NEITHER_LOST_NOR_DUPLICATED: Invariant = lambda s: s["lost"] == 0 and s["duplicated"] == 0
IDEMPOTENT_PRODUCER: Invariant = lambda s: (s["duplicated"], s["reordered_keys"], s["acked_but_lost"]) == (0, 0, 0)
NO_ACKED_LOSS: Invariant = lambda s: s["acked_but_lost"] == 0
# Scenario 2 made deterministic (coordinator paused under the in-flight commit): the restarted
# worker found the outcome the scenario names, and the duplicates follow from it.
S2_APPLIED: Invariant = lambda s: s["scenario_2"] == "applied" and s["duplicated"] == 0 and s["lost"] == 0
S2_LOST: Invariant = lambda s: s["scenario_2"] == "lost" and s["duplicated"] > 0 and s["lost"] == 0
# A processing error aborts the transaction: with the rewind nothing is lost or duplicated (and
# the abort did happen); without it, the aborted batches' inputs are lost (the failure reproduces).
ABORT_REWOUND: Invariant = lambda s: s["aborts"] > 0 and s["lost"] == 0 and s["duplicated"] == 0
ABORT_SKIPS: Invariant = lambda s: s["aborts"] > 0 and s["lost"] > 0 and s["duplicated"] == 0
# A hanging transaction: the read_committed stall ends within transaction.timeout.ms + the abort
# check interval (+ margin), the read_uncommitted reader is not stalled, nothing committed is lost
# and no aborted record reaches a read_committed reader.
STALL_BOUNDED: Invariant = lambda s: (s["within_bound"] and s["read_uncommitted_stall_s"] < 1.0
                                      and s["read_committed_saw_hanging"] == 0 and s["lost"] == 0)
ABORTS = 2  # processing errors per abort run, at input records drawn under the run's seed
HANGING_TIMEOUT_MS = 3000


# Which anomaly classes (anomalies.py) each scenario may show; every other class it shows is a
# violation, as Jepsen's queue checker allows poll-skip and nonmonotonic-poll under subscribe
# across rebalances and nowhere else. A nonmonotonic-poll is allowed only where a crash or a
# rebalance explains it (the rewind to the committed offset); an unexplained one always violates.
MODEL_ALLOWS: dict[str, frozenset[str]] = {
    AT_LEAST_ONCE: frozenset({DUPLICATE, NONMONOTONIC_POLL}),  # the replay after a crash
    AT_MOST_ONCE: frozenset({POLL_SKIP}),  # what the commit covered, never processed
    # the store is written outside the transaction: its work is redone after an abort, but the
    # read_committed output holds each message once
    EXACTLY_ONCE: frozenset({NONMONOTONIC_POLL}),
    IDEMPOTENT_CONSUMER: frozenset({NONMONOTONIC_POLL}),
    AUTO_COMMIT: frozenset({POLL_SKIP, DUPLICATE, NONMONOTONIC_POLL}),  # timing: both, never a log loss
    AUTO_COMMIT_STORE: frozenset({DUPLICATE, NONMONOTONIC_POLL}),
}
ACKS_1_ALLOWS = frozenset({LOST_WRITE, DUPLICATE})  # acks=1 under a leader change
RETRIES_ALLOW = frozenset({DUPLICATE})  # retries without idempotence: a resent batch stored twice
NOTHING = frozenset()


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str  # consumer | producer
    params: dict[str, Any]
    invariant: Invariant | None  # None: timing-dependent, report the spread
    guarantee: str
    allowed: frozenset[str] = NOTHING  # anomaly classes this scenario may show

    def anomaly_rule(self) -> str:
        """The scenario's rule in words: which classes are allowed, which are violations."""
        classes = CONSUMER_ANOMALIES if self.kind == CONSUMER else (LOST_WRITE, DUPLICATE)
        forbidden = [c for c in classes if c not in self.allowed]
        allowed = [c for c in classes if c in self.allowed]
        explained = " (after a crash, a rebalance or an abort's rewind)" if NONMONOTONIC_POLL in self.allowed else ""
        return (f"allowed: {', '.join(allowed) + explained if allowed else 'none'}; "
                f"violations: {', '.join(forbidden)}")

    def anomaly_violations(self, summary: dict[str, Any]) -> list[str]:
        """The classes a run's summary shows that this scenario does not allow."""
        bad = [c for c in summary.get("anomalies", []) if c not in self.allowed]
        unexplained = summary.get("nonmonotonic_polls", 0) - summary.get("nonmonotonic_polls_explained", 0)
        if NONMONOTONIC_POLL not in bad and unexplained > 0:
            bad.append(f"{NONMONOTONIC_POLL} (unexplained: {unexplained})")
        return bad


def scenarios() -> list[Scenario]:
    out = []
    rules = {AT_LEAST_ONCE: (NO_LOSS, "never loses"),
             AT_MOST_ONCE: (NO_DUPLICATES, "never duplicates"),
             EXACTLY_ONCE: (NEITHER_LOST_NOR_DUPLICATED, "neither loses nor duplicates (read_committed)"),
             IDEMPOTENT_CONSUMER: (NEITHER_LOST_NOR_DUPLICATED, "neither loses nor duplicates (in the store)"),
             AUTO_COMMIT: (None, "timing-dependent"),
             AUTO_COMMIT_STORE: (NO_LOSS, "never loses (offset stored after processing)")}
    for model, (inv, text) in rules.items():
        for point in CRASH_POINTS[model]:
            out.append(Scenario(f"{model} / {point}", CONSUMER, {"model": model, "point": point},
                                inv, text, MODEL_ALLOWS[model]))
    out.append(Scenario("at-least-once / scenario-2-applied", CONSUMER,
                        {"model": AT_LEAST_ONCE, "scenario": "scenario-2-applied"}, S2_APPLIED,
                        "the in-flight commit counts: nothing repeats"))
    out.append(Scenario("at-least-once / scenario-2-lost", CONSUMER,
                        {"model": AT_LEAST_ONCE, "scenario": "scenario-2-lost"}, S2_LOST,
                        "the in-flight commit is lost: the batch repeats, nothing lost",
                        MODEL_ALLOWS[AT_LEAST_ONCE]))
    out.append(Scenario("exactly-once / abort + rewind", CONSUMER,
                        {"model": EXACTLY_ONCE, "rewind": True}, ABORT_REWOUND,
                        "an aborted transaction, rewound to the committed offsets: nothing lost",
                        MODEL_ALLOWS[EXACTLY_ONCE]))
    out.append(Scenario("exactly-once / abort without rewind", CONSUMER,
                        {"model": EXACTLY_ONCE, "rewind": False}, ABORT_SKIPS,
                        "an abort without the rewind skips the aborted input (KAFKA-17582)",
                        frozenset({POLL_SKIP})))
    out.append(Scenario(f"hanging transaction / transaction.timeout.ms={HANGING_TIMEOUT_MS}", HANGING,
                        {"transaction_timeout_ms": HANGING_TIMEOUT_MS}, STALL_BOUNDED,
                        "read_committed stalls at most transaction.timeout.ms + the abort check "
                        "interval; read_uncommitted does not"))
    idem = PRODUCER_CONFIGS["idempotent"]
    for fault in ("kill-leader", "pause-leader", "pause-followers"):
        out.append(Scenario(f"idempotent producer / {fault}", PRODUCER,
                            {"config": idem, "fault": fault}, IDEMPOTENT_PRODUCER,
                            "no duplicates, no reordering, no acked loss"))
    for fault in ("kill-leader", "kill-leader-lagging-followers", "pause-controller-kill-leader"):
        out.append(Scenario(f"acks=all, min ISR 2 / {fault}", PRODUCER,
                            {"config": ACKS_ALL, "fault": fault,
                             "topic_config": {"min.insync.replicas": "2"}},
                            NO_ACKED_LOSS, "never loses an acked message", RETRIES_ALLOW))
    out.append(Scenario("no idempotence, 5 in flight / pause-followers", PRODUCER,
                        {"config": PRODUCER_CONFIGS["acks=all, retries, 5 in flight, no idempotence"],
                         "fault": "pause-followers"},
                        None, "timing-dependent", RETRIES_ALLOW))
    out.append(Scenario("acks=1 / kill-leader-lagging-followers", PRODUCER,
                        {"config": PRODUCER_CONFIGS["acks=1"], "fault": "kill-leader-lagging-followers"},
                        None, "timing-dependent", ACKS_1_ALLOWS))
    # Network partitions (nftables; root only): the run lasts NETWORK_RUN_S, so the partition
    # (NETWORK_HEAL_AFTER_S) ends inside it, after the controller has fenced the cut broker.
    for fault in NETWORK_FAULTS:
        out.append(Scenario(f"acks=all, min ISR 2 / {fault}", PRODUCER,
                            {"config": ACKS_ALL, "fault": fault, "run_s": NETWORK_RUN_S,
                             "topic_config": {"min.insync.replicas": "2"}},
                            NO_ACKED_LOSS, "never loses an acked message", RETRIES_ALLOW))
    out.append(Scenario("acks=1 / partition-leader", PRODUCER,
                        {"config": PRODUCER_CONFIGS["acks=1"], "fault": "partition-leader",
                         "run_s": NETWORK_RUN_S},
                        None, "timing-dependent (acks the cut leader gave are lost)", ACKS_1_ALLOWS))
    out += resend_scenarios()
    out += retention_scenarios()
    # The leader dies alone in the ISR (min ISR 1): with unclean election off the partition waits
    # for it (offline), and what it acknowledged survives. 16 s: sending outlasts the ISR shrink.
    out.append(Scenario("acks=all, min ISR 1, unclean off / kill-leader-alone", PRODUCER,
                        {"config": ACKS_ALL, "fault": "kill-leader-alone", "run_s": 16.0,
                         "topic_config": {"min.insync.replicas": "1",
                                          "unclean.leader.election.enable": "false"}},
                        NO_ACKED_LOSS, "never loses an acked message (it waits instead)",
                        RETRIES_ALLOW))
    return out


def run_scenario(sc: Scenario, seed: int, messages: int, producer_messages: int,
                 crash_prob: float) -> dict[str, Any]:
    if sc.kind == HANGING:
        s = run_hanging(HangingTransaction(transaction_timeout_ms=sc.params["transaction_timeout_ms"],
                                           label=sc.name)).summary
    elif sc.kind == CONSUMER and "rewind" in sc.params:
        at = tuple(sorted(random.Random(seed).sample(range(messages), ABORTS)))
        spec = ConsumerExperiment(model=EXACTLY_ONCE, messages=messages, seed=seed, abort_at=at,
                                  rewind=sc.params["rewind"])
        s = run_consumer(spec).summary
    elif sc.kind == CONSUMER and sc.params.get("scenario"):
        spec = ConsumerExperiment(model=sc.params["model"], messages=max(messages, 40), seed=seed,
                                  scenario=sc.params["scenario"])
        s = run_consumer(spec).summary
    elif sc.kind == CONSUMER:
        spec = ConsumerExperiment(model=sc.params["model"], messages=messages, seed=seed,
                                  crash=CrashSpec(sc.params["point"], prob=crash_prob, seed=seed),
                                  **resend_fields(sc, crash_prob, seed), **sc.params.get("lag", {}))
        s = run_consumer(spec).summary
    else:
        rate = producer_messages / sc.params["run_s"] if "run_s" in sc.params else ProducerExperiment.rate
        spec = ProducerExperiment(messages=producer_messages, config=sc.params["config"], seed=seed,
                                  rate=rate,
                                  topic_config=sc.params.get("topic_config", {}),
                                  fault=seeded_fault(sc.params["fault"], producer_messages, seed))
        s = run_producer(spec).summary
    # A run that hit its time limit holds nothing: its unread tail is not counted as lost, so
    # the invariant alone would pass it.
    bad = sc.anomaly_violations(s)
    held = None if sc.invariant is None else bool(sc.invariant(s)) and not s.get("timed_out")
    if held is not None:
        held = held and not bad
    return {"scenario": sc.name, "kind": sc.kind, "seed": seed, "guarantee": sc.guarantee,
            "held": held, "anomalies": ", ".join(s.get("anomalies", [])),
            "anomaly_rule": sc.anomaly_rule(), "anomaly_violations": ", ".join(bad),
            "lost": s.get("lost", 0), "duplicated": s.get("duplicated", 0),
            "reordered_keys": s.get("reordered_keys", 0),
            "acked_but_lost": s.get("acked_but_lost", 0), "crashes": s.get("crashes", 0),
            "aborts": s.get("aborts", 0),
            "read_committed_stall_s": s.get("read_committed_stall_s"),
            "bound_s": s.get("bound_s"),
            "elapsed_s": s.get("elapsed_s", 0.0)}


def validate(repeat: int = 3, messages: int = 120, producer_messages: int = 1500,
             crash_prob: float = 0.03, only: str | None = None,
             log: Callable[[str], None] = lambda s: None,
             on_row: Callable[[dict[str, Any]], None] = lambda r: None,
             skip_faults: Collection[str] = (), checked_only: bool = False) -> pd.DataFrame:
    """Run every scenario (or those whose name contains `only`; none whose fault is in
    `skip_faults`; with checked_only, none without an invariant, whose spread is all they
    report) `repeat` times with seeds 1..repeat, one row per run."""
    rows = []
    chosen = [s for s in scenarios() if (only is None or only in s.name)
              and s.params.get("fault") not in skip_faults
              and not (checked_only and s.invariant is None)]
    for seed in range(1, repeat + 1):
        for sc in chosen:
            try:
                row = run_scenario(sc, seed, messages, producer_messages, crash_prob)
            except FaultUnavailable as exc:  # e.g. a network fault without root: not run, said so
                row = {"scenario": sc.name, "kind": sc.kind, "seed": seed, "guarantee": sc.guarantee,
                       "held": None, "error": f"not run: {exc.paragraph()}"}
            except LabError as exc:  # a run that could not finish is reported, never dropped
                row = {"scenario": sc.name, "kind": sc.kind, "seed": seed, "guarantee": sc.guarantee,
                       "held": False if sc.invariant else None, "error": exc.paragraph()}
            row.setdefault("error", "")
            rows.append(row)
            on_row(row)
            row.setdefault("anomaly_violations", "")
            verdict = {True: "held", False: "VIOLATED", None: "-"}[row["held"]]
            if row["held"] is None and row["anomaly_violations"]:
                verdict = "VIOLATED"  # a timing-dependent scenario still forbids some classes
            log(f"seed {seed}  {sc.name:<52} {verdict:<8} lost={row.get('lost')} "
                f"dup={row.get('duplicated')} crashes={row.get('crashes')} "
                f"classes=[{row.get('anomalies', '')}]"
                + (f" forbidden=[{row['anomaly_violations']}]" if row["anomaly_violations"] else "")
                + (f" aborts={row['aborts']}" if row.get("aborts") else "")
                + (f" stall={row['read_committed_stall_s']}s bound={row['bound_s']}s"
                   if row.get("bound_s") is not None else "")
                + f" {row['error'][:80]}")
    return pd.DataFrame(rows)


def report(runs: pd.DataFrame) -> pd.DataFrame:
    """Per scenario: runs, how many held the invariant, and the spread of lost / duplicated."""
    def spread(col: pd.Series) -> str:
        return f"{col.min()}–{col.max()} (median {col.median():g})"
    rows = []
    for name, g in runs.groupby("scenario", sort=False):
        checked = g["held"].dropna()
        rows.append({"scenario": name, "guarantee": g["guarantee"].iloc[0], "runs": len(g),
                     "held": f"{int(checked.sum())}/{len(checked)}" if len(checked) else "n/a",
                     "anomaly_rule": g["anomaly_rule"].iloc[0] if "anomaly_rule" in g else "",
                     "anomalies": _classes_seen(g),
                     "anomaly_violations": _classes_seen(g, "anomaly_violations"),
                     "lost": spread(g["lost"]), "duplicated": spread(g["duplicated"]),
                     "reordered_keys": spread(g["reordered_keys"]),
                     "acked_but_lost": spread(g["acked_but_lost"]),
                     "crashes": spread(g["crashes"])})
    return pd.DataFrame(rows)


def _classes_seen(g: pd.DataFrame, column: str = "anomalies") -> str:
    if column not in g:
        return ""
    seen = [c.strip() for v in g[column].fillna("") for c in str(v).split(",") if c.strip()]
    return ", ".join(dict.fromkeys(seen))


def violations(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs that broke their guarantee, or showed an anomaly class their scenario forbids
    (also a timing-dependent scenario: auto-commit may skip and repeat, never lose the log)."""
    held_false = runs["held"] == False  # noqa: E712 (None means: no invariant)
    if "anomaly_violations" in runs:
        held_false = held_false | (runs["anomaly_violations"].fillna("").astype(str) != "")
    return runs[held_false]


# --- issue 24: the application resends (appended) ------------------------------------------------
def resend_scenarios() -> list[Scenario]:
    """The input's producer dies before flush and resends what it had not seen confirmed (the same
    message ids at new offsets, a new producer id); the idempotent consumer, crashing too,
    dedupes on the message id: each message in the store once, none lost."""
    return [Scenario(f"{IDEMPOTENT_CONSUMER}, dedupe / input resend, {point}", CONSUMER,
                     {"model": IDEMPOTENT_CONSUMER, "point": point, "input_resend": True,
                      "dedupe": True},
                     NEITHER_LOST_NOR_DUPLICATED,
                     "a message its producer sent twice is stored once, none lost",
                     MODEL_ALLOWS[IDEMPOTENT_CONSUMER])
            for point in ("mid-transaction",)]  # one: each scenario is a test of its own


def resend_fields(sc: Scenario, crash_prob: float, seed: int) -> dict[str, Any]:
    """A resend scenario's ConsumerExperiment fields: the input producer's crashes drawn under
    their own seed, so they fall elsewhere than the consumer's."""
    if not sc.params.get("input_resend"):
        return {}
    return {"input_resend": CrashSpec("before-flush", prob=crash_prob, seed=seed + 1000),
            "dedupe": sc.params["dedupe"]}


# --- issue 24: retention and a lagging consumer (appended) -----------------------------------------
# The consumer stalls 5 s after 10 records with a small fetch queue (notebook 01); its topic rolls
# a segment every 100 ms. With 7 days of retention nothing it has not read may be deleted.
LAG = {"input_rate": 300, "stall_at": 10, "stall_ms": 5000, "consumer_config": SMALL_FETCH_QUEUE,
       "processing_ms": 20}


def retention_scenarios() -> list[Scenario]:
    return [Scenario(f"{AT_LEAST_ONCE}, long retention / lagging consumer", CONSUMER,
                     {"model": AT_LEAST_ONCE, "point": "after-process",
                      "lag": {**LAG, "topic_config": retention_config(604_800_000)}},
                     NO_LOSS, "retention longer than the lag: nothing lost", MODEL_ALLOWS[AT_LEAST_ONCE])]

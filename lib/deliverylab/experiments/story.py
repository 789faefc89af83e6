"""The whole game in one run: payments through a producer and a consumer while a broker fails and
a worker crashes — with the settings many applications run with, or with the recommended ones.

    result = run_story(Story("typical"))       # acks=1, no idempotence; auto-commit
    result.summary["lost_payments"], result.summary["double_charges"]
    result.causes                               # one row per kind of damage, with the notebook
    result.lost, result.doubled                 # the payments themselves (id, customer, amount)

Two stages, each an ordinary lab experiment, run one after the other and counted on their own:

1. **checkout → Kafka**: a producer sends the payments of data/payments.jsonl while the partition
   leader dies with its followers behind (`kill-leader-lagging-followers`: the followers stop
   fetching for a second but stay in the ISR, then the leader is killed and a stale follower takes
   over). Whatever the producer was told was written and is not in the log afterwards is a lost
   payment (`acked-but-lost`).
2. **Kafka → charging service**: a consumer charges each payment the checkout's topic holds (a
   row in its database, after `processing_ms` of work) and its worker is SIGKILLed after every
   `crash_every`-th charge, right after charging and before anything else happens
   (`after-process`). A payment charged twice is a double charge; a payment never charged is lost.

One pipeline: the charging stage's input is exactly what the checkout's read-back found — every
payment as many times as the checkout's topic holds it, none that it lost. A payment lost at
checkout is therefore never charged, and one written twice is charged twice.
Why a fresh input topic written from the read-back, not a consumer on the checkout's topic: the
engine's consumer run counts each input message from its own ledger (written by its input
producer, which cannot fail: idempotent, acks=all), and the checkout's topic holds records whose
ids belong to the producer run. Writing the read-back's payments, in order, to the charging
input keeps both ledgers whole and makes the hand-over itself exact — the same payments, the same
copies.

Both stages are the engine's `run_producer` and `run_consumer`: nothing here counts on its own.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from ..cluster import Cluster, connect
from ..crash import CrashSpec
from ..errors import LabError, require_seconds, require_whole
from ..fields import check_fields
from ..catalog import PRODUCER_CONFIGS, SAFE
from ..nemesis import seeded_fault
from ..payloads import load_payments
from ..results import StoryResult
from ..runs import Progress
from .consumer import ConsumerExperiment, run_consumer
from .producer import ProducerExperiment, run_producer
from ..vocabulary import ACKED_BUT_LOST, AUTO_COMMIT, DUPLICATED, FAULT, IDEMPOTENT_CONSUMER, LOST

__all__ = ["SETTINGS", "Story", "StorySettings", "run_story"]


@dataclass(frozen=True)
class StorySettings:
    """One side of the story: the producer's librdkafka settings and the consumer's loop."""

    name: str
    producer: dict[str, Any]
    consumer_model: str
    consumer_config: dict[str, Any] = field(default_factory=dict)
    describe: str = ""


SETTINGS: dict[str, StorySettings] = {
    # What many applications run with: the client defaults for the consumer (auto-commit, the
    # offset stored as soon as poll() hands the record out) and a "fast" producer (acks=1,
    # idempotence off — librdkafka's default for enable.idempotence is false).
    "typical": StorySettings(
        "typical", PRODUCER_CONFIGS["acks=1"], AUTO_COMMIT,
        describe="producer acks=1, enable.idempotence=false; consumer enable.auto.commit=true "
                 "(offsets stored when poll() returns a record, committed by a timer)"),
    # The course's recommendation (notebook 12): acks=all + idempotence on the producer (topic
    # min.insync.replicas=2, RF 3); the consumer writes its effect and its offset in one database
    # transaction (notebook 05), so a crash anywhere can neither lose nor repeat a charge.
    "recommended": StorySettings(
        "recommended", SAFE, IDEMPOTENT_CONSUMER,
        describe="producer acks=all, enable.idempotence=true (min.insync.replicas=2, RF 3); "
                 "consumer enable.auto.commit=false, charge and offset in one database transaction"),
}

BROKER_FAULT = "kill-leader-lagging-followers"
# The ranges of Story's numbers (fields.check_fields; payments and charges: the data file)
RANGES = {"processing_ms": (0, 60_000), "heal_after_s": (0, 60), "time_limit_s": (None, 3600),
          "auto_commit_interval_ms": (1, 3_600_000, "Use e.g. auto_commit_interval_ms=1000 "
                                      "(0 would switch the commit timer off).")}
CRASH_POINT = "after-process"


@dataclass
class Story:
    """The pipeline, its settings and its faults. Size: payments (sent by the checkout at `rate`
    per second; the charging stage charges what the checkout stored), ≤ the 500 payments of
    data/payments.jsonl so every payment id is a different payment."""

    settings: str = "typical"
    payments: int = 500
    rate: float = 70.0  # payments per second: the checkout sends for ~7 s, longer than the fault lasts
    crash_every: int = 100  # the charging worker is killed after every K-th charge
    processing_ms: float = 20.0  # the work of one charge (a payment API call)
    auto_commit_interval_ms: int = 1000  # typical consumer: librdkafka's default is 5000
    heal_after_s: float = 1.0  # the dead broker comes back this long after the fault
    seed: int = 1
    time_limit_s: float = 90.0

    def check(self) -> "Story":
        check_fields(self, RANGES)
        require_seconds("time_limit_s", self.time_limit_s, "Use e.g. time_limit_s=90.")
        if self.settings not in SETTINGS:
            raise LabError(f"Unknown story settings {self.settings!r}.",
                           f"Use one of {', '.join(map(repr, SETTINGS))}.")
        limit = len(load_payments())
        for name in ("payments", "crash_every"):
            require_whole(name, getattr(self, name),
                          "E.g. Story(payments=500, crash_every=100).")
        if self.payments > limit:
            raise LabError(f"payments={self.payments} is more than the {limit} payments "
                           "in data/payments.jsonl.", f"Use at most {limit}.")
        if self.crash_every > self.payments:
            raise LabError(f"crash_every={self.crash_every} is more than payments={self.payments}: "
                           "the charging worker would never crash.",
                           "Use e.g. crash_every = payments // 4.")
        if not isinstance(self.rate, (int, float)) or self.rate <= 0:
            raise LabError(f"rate={self.rate!r} must be a positive number of payments per second.",
                           "Use e.g. rate=100.")
        return self

    @property
    def chosen(self) -> StorySettings:
        return SETTINGS[self.settings]

    def producer_spec(self) -> ProducerExperiment:
        return ProducerExperiment(
            messages=self.payments, config=dict(self.chosen.producer), rate=self.rate,
            fault=seeded_fault(BROKER_FAULT, self.payments, self.seed, heal_after_s=self.heal_after_s),
            topic_config={"min.insync.replicas": "2"}, seed=self.seed,
            time_limit_s=self.time_limit_s, label=f"checkout → Kafka ({self.settings})")

    def consumer_spec(self, stored: tuple[int, ...]) -> ConsumerExperiment:
        """The charging stage; `stored`: the payment numbers the checkout's topic holds, one per
        copy, in payment order."""
        s = self.chosen
        return ConsumerExperiment(
            model=s.consumer_model, messages=len(stored), input_payments=tuple(stored),
            crash=CrashSpec(CRASH_POINT, every=self.crash_every, seed=self.seed),
            processing_ms=self.processing_ms, auto_commit_interval_ms=self.auto_commit_interval_ms,
            consumer_config=dict(s.consumer_config), seed=self.seed,
            time_limit_s=self.time_limit_s, label=f"Kafka → charging ({self.settings})")


def _payments(indices: pd.Series, times: pd.Series | None = None) -> pd.DataFrame:
    sample = load_payments()
    rows = []
    for i, index in enumerate(indices):
        p = sample[int(index) % len(sample)]
        row = {"message": int(index), "payment_id": p["payment_id"], "customer_id": p["customer_id"],
               "merchant": p["merchant"], "amount": p["amount"], "currency": p["currency"]}
        if times is not None:
            row["times_charged"] = int(times.iloc[i])
        rows.append(row)
    columns = ["message", "payment_id", "customer_id", "merchant", "amount", "currency"]
    return pd.DataFrame(rows, columns=columns + (["times_charged"] if times is not None else []))


def _causes(settings: str, p: dict[str, Any], c: dict[str, Any]) -> pd.DataFrame:
    producer = "checkout → Kafka (producer)"
    consumer = "Kafka → charging (consumer)"
    rows = [
        (producer, "acknowledged, then gone with the old leader", "lost",
         p["acked_but_lost"], "the leader acknowledged alone (acks=1); the follower that took over "
         "had not copied it", "07"),
        (producer, "never acknowledged, not in the log, nobody told", "lost", p["lost"],
         "the producer process died with it in its queue", "07, 08"),
        (producer, "written twice", "double charge", p["duplicated"],
         "a retry without idempotence appended it again", "08"),
        (producer, "failed, and the app was told", "reported", p["failed_reported"],
         "a delivery report with an error: the app must retry or alert", "08"),
        (consumer, "charged twice", "double charge", c["duplicated"],
         "the worker died after charging, before its offset was committed: the restart charged "
         "again", "01, 03"),
        (consumer, "never charged", "lost", c["lost"],
         "the offset was committed before the charge was done (auto-commit's timer)", "01, 02"),
    ]
    frame = pd.DataFrame(rows, columns=["stage", "what happened", "counts as", "payments", "why",
                                        "notebook"])
    frame.insert(0, "settings", settings)
    return frame


def run_story(spec: Story, cluster: Cluster | None = None,
              progress: Progress | None = None) -> StoryResult:
    """Run both stages under their faults and count lost payments and double charges."""
    spec.check()
    cluster = cluster or connect(min_brokers=3)
    produced = run_producer(spec.producer_spec(), cluster,
                            progress=(lambda d, t: progress(d, 2 * t)) if progress else None)
    pm = produced.messages
    # The hand-over: each payment as many times as the checkout's read-back found it.
    stored = tuple(int(i) for i, n in zip(pm["index"], pm["stored_copies"]) for _ in range(int(n)))
    if not stored:
        raise LabError("The checkout stored no payment: there is nothing to charge.",
                       "Check the cluster (`deliverylab cluster status`) and run again.")
    charged = run_consumer(spec.consumer_spec(stored), cluster,
                           progress=(lambda d, t: progress(spec.payments + d, spec.payments + t))
                           if progress else None)
    p, c = produced.summary, charged.summary
    # A charging message's index is its place in `stored`; its payment is stored[index].
    cm = charged.messages.assign(index=[stored[int(i)] for i in charged.messages["index"]])
    lost_rows = pd.concat([
        _payments(pm.loc[pm["outcome"].isin([ACKED_BUT_LOST, LOST]), "index"]).assign(
            stage="producer"),
        _payments(cm.loc[cm["outcome"] == LOST, "index"]).assign(stage="consumer"),
    ], ignore_index=True)
    dup_p = pm[pm["outcome"] == DUPLICATED]
    dup_c = cm[cm["outcome"] == DUPLICATED]
    doubled = pd.concat([
        _payments(dup_p["index"], dup_p["copies"]).assign(stage="producer"),
        _payments(dup_c["index"], dup_c["copies"]).assign(stage="consumer"),
    ], ignore_index=True)
    summary = {
        "settings": spec.settings,
        "lost_payments": int(p["acked_but_lost"] + p["lost"] + c["lost"]),
        "double_charges": int(p["duplicated"] + c["duplicated"]),
        "producer_acked_but_lost": int(p["acked_but_lost"]),
        "producer_lost": int(p["lost"]),
        "producer_duplicated": int(p["duplicated"]),
        "producer_failed_reported": int(p["failed_reported"]),
        "consumer_lost": int(c["lost"]),
        "consumer_duplicated": int(c["duplicated"]),
        "payments": int(p["sent"]), "charges": int(c["sent"]),
        "stored_by_checkout": len(set(stored)),
        "broker_faults": int((produced.events.kind == FAULT).sum()),
        "worker_crashes": int(c["crashes"]),
        "lost_amount": _total(lost_rows),
        "double_charged_amount": _total(doubled, extra_copies=True),
        "elapsed_s": round(float(p["elapsed_s"]) + float(c["elapsed_s"]), 1),
    }
    warnings = list(produced.warnings) + list(charged.warnings)
    if summary["broker_faults"] == 0:
        warnings.append("The broker fault never struck: the producer stage ran without a failure.")
    if summary["worker_crashes"] == 0:
        warnings.append("The charging worker never crashed.")
    return StoryResult(asdict(spec), produced, charged, summary, _causes(spec.settings, p, c),
                       lost_rows, doubled, warnings)


def _total(frame: pd.DataFrame, extra_copies: bool = False) -> str:
    """Per currency, e.g. 'EUR 812.40, GBP 31.00' (amounts are exact decimals as strings)."""
    from decimal import Decimal

    if frame.empty:
        return "0.00"
    totals: dict[str, Decimal] = {}
    for _, row in frame.iterrows():
        times = int(row["times_charged"]) - 1 if extra_copies else 1
        totals[row["currency"]] = totals.get(row["currency"], Decimal(0)) + Decimal(row["amount"]) * times
    return ", ".join(f"{cur} {amount:.2f}" for cur, amount in sorted(totals.items()))

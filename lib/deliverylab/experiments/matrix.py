"""The scenario matrix: every delivery model × each of its crash points, and producer
settings × broker faults — run headless, one row of summary counts per run.

Each consumer row runs with a little processing time, so commits and auto-commit's timer fall
between crashes (a run without it restarts from offset 0 every time and shows a replay, not the
model). The `mid-process` rows get processing longer than the auto-commit interval, so a timer
tick falls inside the crashed record's work every time: that is when auto-commit loses a record.
Each row records the knobs it ran with.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pandas as pd

from ..catalog import PRODUCER_CONFIGS
from ..cluster import Cluster
from ..crash import CrashSpec
from ..errors import LabError
from ..nemesis import seeded_fault
from ..recording import read_recording, write_recording
from ..vocabulary import CONSUMER, CRASH_POINTS, MODELS, PRODUCER
from .consumer import ConsumerExperiment, run_consumer
from .producer import ProducerExperiment, run_producer

PRODUCER_FAULTS = ("kill-leader", "pause-followers", "kill-leader-lagging-followers")
COLUMNS = ("kind", "scenario", "model", "crash_point", "config", "fault", "seed", "sent", "lost",
           "duplicated", "reordered_keys", "acked_but_lost", "unacked_but_stored",
           "failed_reported", "crashes", "processing_ms", "auto_commit_interval_ms", "elapsed_s")
PROCESSING_MS = 10  # per record: 50 records between crashes take ~0.5 s, more than one commit
AUTO_COMMIT_INTERVAL_MS = 200  # several ticks between crashes at PROCESSING_MS
MID_PROCESS = {"messages": 20, "crash_every": 5, "processing_ms": 250}  # work > the interval


def consumer_scenarios() -> list[tuple[str, str]]:
    return [(m, p) for m in MODELS for p in CRASH_POINTS[m]]


def producer_scenarios() -> list[tuple[str, str]]:
    return [(c, f) for c in PRODUCER_CONFIGS for f in PRODUCER_FAULTS]


def consumer_spec(model: str, point: str, messages: int = 200, crash_every: int = 50,
                  seed: int = 1) -> ConsumerExperiment:
    """The experiment behind one consumer cell of the matrix (the live re-run uses the same)."""
    knobs = {"messages": messages, "crash_every": crash_every, "processing_ms": PROCESSING_MS}
    if point == "mid-process":
        knobs = {**knobs, **MID_PROCESS, "messages": min(messages, MID_PROCESS["messages"])}
    return ConsumerExperiment(model=model, messages=knobs["messages"], seed=seed,
                              crash=CrashSpec(point, every=knobs["crash_every"], seed=seed),
                              processing_ms=knobs["processing_ms"],
                              auto_commit_interval_ms=AUTO_COMMIT_INTERVAL_MS,
                              label=f"{model} / {point}")


PRODUCER_RATE = 250.0  # messages/s: 2000 messages take 8 s, longer than any fault lasts


def producer_spec(config: str, fault: str, messages: int = 2000, seed: int = 1) -> ProducerExperiment:
    """The experiment behind one producer cell of the matrix: sent slowly enough that the run
    outlasts the fault (placed in the second quarter, healed 3 s later)."""
    if config not in PRODUCER_CONFIGS:
        raise LabError(f"Unknown producer configuration {config!r}.",
                       f"Use one of {', '.join(map(repr, PRODUCER_CONFIGS))}.")
    return ProducerExperiment(messages=messages, config=PRODUCER_CONFIGS[config], seed=seed,
                              rate=PRODUCER_RATE, fault=seeded_fault(fault, messages, seed),
                              label=config)


def consumer_row(spec: ConsumerExperiment, cluster: Cluster | None = None) -> dict:
    r = run_consumer(spec, cluster)
    return {"kind": CONSUMER, "scenario": spec.label, "model": spec.model,
            "crash_point": spec.crash.point if spec.crash else None, "seed": spec.seed,
            **r.summary, "processing_ms": spec.processing_ms,
            "auto_commit_interval_ms": spec.auto_commit_interval_ms,
            "warnings": " ".join(r.warnings)}


def producer_row(spec: ProducerExperiment, cluster: Cluster | None = None) -> dict:
    r = run_producer(spec, cluster)
    fault = spec.fault.kind if spec.fault else "none"
    return {"kind": PRODUCER, "scenario": f"{spec.label} / {fault}", "config": spec.label,
            "fault": fault, "seed": spec.seed, **r.summary, "warnings": " ".join(r.warnings)}


def run_matrix(repeat: int = 1, messages: int = 200, producer_messages: int = 2000,
               crash_every: int = 50, log: Callable[[str], None] = lambda s: None,
               consumers: bool = True, producers: bool = True,
               cluster: Cluster | None = None) -> pd.DataFrame:
    rows = []
    for seed in range(1, repeat + 1):
        for model, point in consumer_scenarios() if consumers else []:
            row = consumer_row(consumer_spec(model, point, messages, crash_every, seed), cluster)
            rows.append(row)
            log(f"{model:<20} {point:<26} lost={row['lost']} dup={row['duplicated']}")
        for name, fault in producer_scenarios() if producers else []:
            row = producer_row(producer_spec(name, fault, producer_messages, seed), cluster)
            rows.append(row)
            log(f"{name:<48} {fault:<30} acked_but_lost={row['acked_but_lost']} "
                f"dup={row['duplicated']}")
    frame = pd.DataFrame(rows)
    for col in (*COLUMNS, "warnings"):
        if col not in frame:
            frame[col] = None
    return frame[[*COLUMNS, "warnings"]]


def write_matrix(frame: pd.DataFrame, out: str | Path, command: str) -> None:
    """CSV with the command that made it on the first line, so a recording can be reproduced."""
    write_recording(frame, out, command)


def read_matrix(path: str | Path) -> tuple[pd.DataFrame, str]:
    """A recorded matrix and its first line (the command that made it, and when)."""
    return read_recording(path)

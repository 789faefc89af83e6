"""The scenario matrix: every delivery model × each of its crash points, and producer
settings × broker faults — run headless, one row of summary counts per run."""
from __future__ import annotations

import datetime
from pathlib import Path
from typing import Callable

import pandas as pd

from .catalog import PRODUCER_CONFIGS  # also importable from here (notebook 10 does)
from .crash import CRASH_POINTS
from .experiments import (MODELS, ConsumerExperiment, CrashSpec, ProducerExperiment,
                          run_consumer, run_producer, seeded_fault)

PRODUCER_FAULTS = ("kill-leader", "pause-followers", "kill-leader-lagging-followers")
COLUMNS = ("kind", "scenario", "model", "crash_point", "config", "fault", "seed", "sent", "lost",
           "duplicated", "reordered_keys", "acked_but_lost", "unacked_but_stored",
           "failed_reported", "crashes", "elapsed_s")


def consumer_scenarios() -> list[tuple[str, str]]:
    return [(m, p) for m in MODELS for p in CRASH_POINTS[m]]


def producer_scenarios() -> list[tuple[str, str]]:
    return [(c, f) for c in PRODUCER_CONFIGS for f in PRODUCER_FAULTS]


def run_matrix(repeat: int = 1, messages: int = 200, producer_messages: int = 1500,
               crash_every: int = 50, log: Callable[[str], None] = lambda s: None,
               consumers: bool = True, producers: bool = True) -> pd.DataFrame:
    rows = []
    for seed in range(1, repeat + 1):
        for model, point in consumer_scenarios() if consumers else []:
            crash = CrashSpec(point, every=crash_every, seed=seed)
            r = run_consumer(ConsumerExperiment(model=model, messages=messages, crash=crash, seed=seed))
            rows.append({"kind": "consumer", "scenario": f"{model} / {point}", "model": model,
                         "crash_point": point, "seed": seed, **r.summary})
            log(f"{model:<20} {point:<26} lost={r.summary['lost']} dup={r.summary['duplicated']}")
        for name, fault in producer_scenarios() if producers else []:
            spec = ProducerExperiment(messages=producer_messages, config=PRODUCER_CONFIGS[name],
                                      fault=seeded_fault(fault, producer_messages, seed), seed=seed)
            r = run_producer(spec)
            rows.append({"kind": "producer", "scenario": f"{name} / {fault}", "config": name,
                         "fault": fault, "seed": seed, **r.summary})
            log(f"{name:<48} {fault:<30} acked_but_lost={r.summary['acked_but_lost']} "
                f"dup={r.summary['duplicated']}")
    frame = pd.DataFrame(rows)
    for col in COLUMNS:
        if col not in frame:
            frame[col] = None
    return frame[list(COLUMNS)]


def write_matrix(frame: pd.DataFrame, out: str | Path, command: str) -> None:
    """CSV with the command that made it on the first line, so a recording can be reproduced."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    with out.open("w") as f:
        f.write(f"# made by: {command}  ({stamp})\n")
        frame.to_csv(f, index=False)

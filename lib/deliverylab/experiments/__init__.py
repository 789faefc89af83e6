"""Experiments: Spec → run → Result, one module per kind of run.

    consumer     a delivery model's worker under crashes and faults (ConsumerExperiment)
    producer     producer settings under a broker fault (ProducerExperiment)
    share        share groups, KIP-932: members on one partition, per-record acks (ShareExperiment)
    retry        retry topics and a dead-letter topic against blocking retries (RetryPipeline)
    throughput   the cost of reliability, benchmarked (Benchmark)
    fencing      zombie fencing of a transactional producer, step by step
    hanging      a transaction that never ends stalls every read_committed reader (HangingTransaction)
    story        the whole game in one run: a producer stage and a consumer stage (Story)
    matrix       every delivery model × crash point and producer setting × fault, headless
    validate     every scenario repeated with new seeds, checked against its guarantee

Each kind's run uses the one run scaffold (runs.Run) and hands the run folder to the counting
layer (counts, retry_counts, benchmark_stats), so no module here counts anything itself. Import
the names below from here (deliverylab.experiments); a notebook imports them, with the showing
side, from deliverylab.course.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from ..errors import LabError
from ..results import Result
from .consumer import (SHORT_SEGMENTS, SMALL_FETCH_QUEUE, ConsumerExperiment, retention_config,
                       run_consumer)
from .fencing import fencing_demo
from .hanging import HangingTransaction, run_hanging
from .producer import ProducerExperiment, run_producer
from .retry import RetryPipeline, failure_plan, run_retry_pipeline
from .share import ShareExperiment, group_configs, run_share
from .story import Story, run_story
from .throughput import (QUEUE, Benchmark, record_benchmarks, run_benchmark, run_benchmarks,
                         with_control)

Spec = Any  # one of the experiment specs above


def run(spec: Spec, **kwargs: Any) -> Any:
    """Run any kind of experiment (cluster=, progress=, keep= as its run function takes them)."""
    for kind, run_kind in ((ConsumerExperiment, run_consumer), (ProducerExperiment, run_producer),
                           (ShareExperiment, run_share), (RetryPipeline, run_retry_pipeline),
                           (Benchmark, run_benchmark), (Story, run_story),
                           (HangingTransaction, run_hanging)):
        if isinstance(spec, kind):
            return run_kind(spec, **kwargs)
    raise LabError(f"{spec!r} is not an experiment spec.",
                   "Pass a ConsumerExperiment(...), ProducerExperiment(...), ShareExperiment(...), "
                   "RetryPipeline(...), Benchmark(...), Story(...) or HangingTransaction(...).")


def runner(base: Spec, cluster: Any = None, *fields: str) -> Callable[..., Result]:
    """A function that runs `base` with some of its fields changed, on `cluster`; `fields` name
    those it takes by position (the others by keyword):

        produce = runner(ProducerExperiment(messages=1500, rate=500, seed=1), cluster, "config", "fault")
        r = produce({"acks": "1"}, seeded_fault("kill-leader", 1500, 1), label="acks=1")
    """
    def run_changed(*values: Any, **changes: Any) -> Any:
        if len(values) > len(fields):
            raise LabError(f"This runner takes {len(fields)} value(s) by position "
                           f"({', '.join(fields) or 'none'}), not {len(values)}.",
                           "Give the other fields by name, e.g. label='…'.")
        return run(replace(base, **dict(zip(fields, values)), **changes), cluster=cluster)
    return run_changed


__all__ = ["Benchmark", "ConsumerExperiment", "HangingTransaction", "run_hanging", "ProducerExperiment", "QUEUE", "RetryPipeline",
           "SHORT_SEGMENTS", "SMALL_FETCH_QUEUE", "retention_config", "ShareExperiment", "Story", "failure_plan", "fencing_demo", "group_configs",
           "record_benchmarks", "run", "run_benchmark", "run_benchmarks", "run_consumer",
           "run_producer", "run_retry_pipeline", "run_share", "run_story", "runner",
           "with_control"]

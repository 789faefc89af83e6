"""The one import a notebook needs: the course's API for running and showing, gathered.

    from deliverylab.course import connect, ConsumerExperiment, CrashSpec, run_consumer, plots, claim

Nothing is defined here: each name is the library's own, from the module that defines it
(listed below), so the docs of a name are where it is made. Library code, tests and bench
import from those modules; a notebook imports from here and nowhere else (tests/test_layers.py
checks both). The API a lesson teaches — a ConsumerExperiment, a librdkafka key, a Producer from
confluent_kafka — stays visible in the notebook's cells; what is gathered here is the lab's.
"""
from __future__ import annotations

from . import check, plots
from .benchmark_stats import summarise, verdict, verdict_text, verdicts
from .catalog import PRODUCER_CONFIGS, SAFE, settings_table
from .claims import claim, either_way, no_warnings, same, zeros
from .clients import quiet
from .cluster import connect
from .crash import CrashSpec
from .diagnose import benchmark_comparison_warnings
from .errors import FaultUnavailable, LabError
from .experiments import (QUEUE, SHORT_SEGMENTS, SMALL_FETCH_QUEUE, Benchmark, ConsumerExperiment, HangingTransaction,
                          ProducerExperiment, RetryPipeline, run_hanging,
                          ShareExperiment, Story, failure_plan, group_configs, run_benchmark,
                          run_benchmarks, run_consumer, run_producer, run_retry_pipeline,
                          run_share, run_story, runner, with_control)
from .experiments.matrix import consumer_row, consumer_spec, producer_spec, read_matrix
from .ids import value_of
from .java import find_java
from .kafka_tool import copy_transactionally, describe_transaction, run_tool
from .nemesis import FaultSpec, seeded_fault
from .readback import read_topic
from .recording import read_recording
from .retry_counts import reordered_example
from .topics import unique_topic
from .vocabulary import (ACKED_BUT_LOST, ARCHIVED, CRASH, CRASH_POINTS, DEAD_LETTERED,
                         DELIVERED_ONCE, DUPLICATED, FAULT, HEAL, HEALED, LOST, PARTITIONS_LOST, RESTART,
                         REVOKED, STALL)
from .widgets import (consumer_panel, fault_runs_here, group_panel, hanging_panel, producer_panel,
                      retry_panel, share_panel, show_worker)

__all__ = [
    # the cluster, and what a learner can get wrong
    "connect", "find_java", "LabError", "FaultUnavailable",
    # your own loop under the lab's crashes, judged against its claim (the exercises' check cells)
    "check",
    # running: specs, their run functions, crashes and faults (experiments, crash, nemesis)
    "ConsumerExperiment", "run_consumer", "ProducerExperiment", "run_producer", "runner",
    "ShareExperiment", "run_share", "group_configs", "RetryPipeline", "run_retry_pipeline",
    "failure_plan", "Benchmark", "run_benchmark", "run_benchmarks", "with_control", "QUEUE",
    "SMALL_FETCH_QUEUE", "SHORT_SEGMENTS",
    "Story", "run_story", "HangingTransaction", "run_hanging", "consumer_row", "consumer_spec", "producer_spec", "read_matrix", "CrashSpec",
    "FaultSpec", "seeded_fault",
    # the words (vocabulary): crash points, the events of a run, the outcomes of a message
    "CRASH_POINTS", "CRASH", "RESTART", "FAULT", "HEAL", "HEALED", "REVOKED", "PARTITIONS_LOST", "STALL",
    "DELIVERED_ONCE", "LOST", "DUPLICATED", "ACKED_BUT_LOST", "ARCHIVED", "DEAD_LETTERED",
    # settings: the .NET ↔ librdkafka map and the named producer configurations (catalog)
    "settings_table", "PRODUCER_CONFIGS", "SAFE",
    # a notebook's own clients: a fresh topic, quiet librdkafka logs, a lab record, the read-back,
    # and Kafka's own command-line tools run from the jars
    "unique_topic", "quiet", "value_of", "read_topic", "run_tool",
    "describe_transaction", "copy_transactionally",
    # counting and comparing what ran
    "summarise", "verdict", "verdicts", "verdict_text", "benchmark_comparison_warnings",
    "read_recording", "reordered_example",
    # showing: figures, panels, claims
    "plots", "consumer_panel", "producer_panel", "group_panel", "retry_panel", "share_panel", "hanging_panel",
    "show_worker", "fault_runs_here", "claim", "either_way", "zeros", "same", "no_warnings",
]

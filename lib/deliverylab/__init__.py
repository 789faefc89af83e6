"""Kafka Delivery Lab: see what each delivery model and producer setting does when things fail.

This docstring is the map of the library (README.md links here; `help(deliverylab)` shows it).
The layers, from the foundations up: each layer imports only from itself and the layers listed
before it (tests/test_layers.py checks it). A package's own modules are listed in its docstring.

Foundations
    errors        LabError: one clear paragraph for everything a learner can get wrong, said
                  in the words of the interface it was typed in (respelled)
    fields        a Spec's fields checked against their declared types and ranges
    paths         where the lab keeps its files (jar cache, cluster home)
    ids           a message's identity and its record (the codec); worker numbers; the cap
    vocabulary    the course's words: delivery models, crash points, event kinds, outcomes
    secrets       which settings are secrets; redact and scrub them from what is shown
    clients       what every Kafka client does alike: quiet logs, produce under back-pressure,
                  committed offsets, the client settings handed to a run's processes
    java, kafka_dist   a Java runtime and the official Kafka jars (the version in force)
    kafka_tool    Kafka's own command-line tools run from those jars, and their command lines
    topics        topic, group and transactional-id names, checked before a request
    config_check  a learner's librdkafka settings, checked before a worker starts
    catalog       the .NET ↔ librdkafka settings map and the named producer configurations
    payloads      the sample payments sent as message values
    recording     recorded results (data/*.csv) with the command that made them
Brokers
    cluster/      where brokers come from (local JVMs, docker compose, an external cluster) and
                  the mechanisms faults use: signals to the JVMs, nftables, the relay
    group_admin   deleting a run's consumer groups, from a child process (a librdkafka abort)
Running a run
    crash         crash schedules and the worker's side of a crash point (SIGKILL by itself)
    workers/      the apps under test, each its own OS process: one loop per delivery model,
                  the producers, the retry pipeline's stages
    supervisor    starts a worker, restarts it after each crash, bounds the run in time
    members       N members of one consumer group, each a supervised process
    ledger        the run's durable record (SQLite), written by every process
    readback      a topic read back to its end: the evidence of what is stored; high watermarks
    nemesis/      faults and their schedules: brokers, the controller, the network, the group
                  coordinator (Scenario 2), with one thread skeleton that always heals
    runs          the one run scaffold: its folder, ledger, client settings, topics and groups,
                  supervised processes, nemeses, read-back, cleanup and `keep`
Counting (pure, no Kafka: a run folder or frames in, counts out)
    checker       every message classified from the ledger and the read-back
    anomalies     why: Jepsen's classes (poll-skip, lost-write, nonmonotonic-poll, G1a, …) and
                  each delivery report's persistence status (Confluent.Kafka's PersistenceStatus)
    results       what a run returns: Result, RetryResult, BenchmarkResult, StoryResult
    history       a finished run's ledger as frames: what was sent, events, timelines
    group_result  a consumer-group run counted: assignments, rebalances, refused commits
    diagnose      warnings for degenerate runs
    counts        a consumer, producer or share run counted into its Result
    retry_counts  a retry pipeline's final place of every message, from its topics
    stall_counts  a hanging transaction's run counted: each reader's stall and its bound
    benchmark_stats   benchmark runs counted and compared: medians, spreads, the control pair
Experiments (Spec → run → Result)
    experiments/  one module per kind: consumer, producer, share, retry, throughput, fencing,
                  hanging, story, matrix, validate
Showing
    plots/        Matplotlib figures of results (no Kafka), one module per kind of figure
    widgets/      ipywidgets panels (Run buttons), one module per kind of run; the worker loop shown
    claims        a notebook's claims, checked against its own run
Checking your own code
    check/        a learner's function (handed real, watched clients) or any program (a command
                  line, any language) under the lab's crashes and faults, judged against the
                  guarantee it claims: check.consumer / transactional / producer / program
The course
    course        the one import a notebook needs: the API for running and showing, gathered
Around the course (never imported by notebooks)
    tools/        the `deliverylab` command, `deliverylab lab`, the headless course runner
    testing/      test aids: a SASL/TLS broker, Kafka's console consumer as witness, free ports

Import a name from the module that defines it, or from its package (experiments, nemesis,
cluster) where the package's docstring lists it; `deliverylab.connect` and `deliverylab.LabError`
are here for the command line and scripts, and a notebook imports from `deliverylab.course`.
"""
from __future__ import annotations

from .cluster import connect
from .errors import LabError

__version__ = "0.1.0"
__all__ = ["LabError", "connect", "__version__"]

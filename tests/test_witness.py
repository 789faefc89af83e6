"""Kafka's own ConsoleConsumer (Java, from the broker jars) recounts what the lab counted."""
from __future__ import annotations

import shutil

import pytest

from deliverylab.experiments import (ConsumerExperiment, CrashSpec, ProducerExperiment,
                                     run_consumer, run_producer, seeded_fault)
from deliverylab.testing.witness import console_consumer_ids

pytestmark = pytest.mark.kafka


def test_producer_counts_match_console_consumer(cluster):
    conf = {"acks": "all", "enable.idempotence": False, "max.in.flight.requests.per.connection": 5,
            "request.timeout.ms": 1000}
    r = run_producer(ProducerExperiment(messages=1000, config=conf,
                                        fault=seeded_fault("pause-followers", 1000, 2)), cluster, keep=True)
    s = r.summary
    try:
        w = console_consumer_ids(cluster.client_config(), s["topic"])
        assert w.records == s["stored_records"]
        assert w.duplicated == s["duplicated"]
        stored = r.messages[r.messages.stored_copies > 0]
        assert w.distinct == len(stored)
        assert all(w.ids[m] == c for m, c in zip(stored.msg_id, stored.stored_copies))
    finally:
        cluster.delete_topics([s["topic"]])
        shutil.rmtree(r.run_dir, ignore_errors=True)


def test_exactly_once_counts_match_console_consumer(cluster):
    r = run_consumer(ConsumerExperiment(model="exactly-once", messages=60,
                                        crash=CrashSpec("mid-transaction", every=25)), cluster, keep=True)
    s = r.summary
    try:
        committed = console_consumer_ids(cluster.client_config(), s["output_topic"], "read_committed")
        uncommitted = console_consumer_ids(cluster.client_config(), s["output_topic"], "read_uncommitted")
        assert committed.records == 60 and committed.duplicated == s["duplicated"] == 0
        assert uncommitted.records - committed.records == s["aborted_reads"] > 0
    finally:
        cluster.delete_topics([s["topic"], s["output_topic"]])
        shutil.rmtree(r.run_dir, ignore_errors=True)


def test_consumer_input_matches_console_consumer(cluster):
    r = run_consumer(ConsumerExperiment(model="at-most-once", messages=80,
                                        crash=CrashSpec("after-commit", every=20)), cluster, keep=True)
    s = r.summary
    try:
        w = console_consumer_ids(cluster.client_config(), s["topic"])
        assert w.records == s["input_records"] == s["sent"] == 80 and w.duplicated == 0
    finally:
        cluster.delete_topics([s["topic"]])
        shutil.rmtree(r.run_dir, ignore_errors=True)

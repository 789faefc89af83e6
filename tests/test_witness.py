"""Kafka's own ConsoleConsumer (Java, from the broker jars) recounts what the lab counted."""
from __future__ import annotations

import shutil
from contextlib import contextmanager

import pytest

from deliverylab.catalog import PRODUCER_CONFIGS
from deliverylab.experiments import (ConsumerExperiment, ProducerExperiment, run_consumer,
                                     run_producer)
from deliverylab.crash import CrashSpec
from deliverylab.nemesis import seeded_fault
from deliverylab.testing.witness import console_consumer_ids

pytestmark = pytest.mark.kafka


@contextmanager
def kept(cluster, result, *topic_keys: str):
    """A run kept for the witness (keep=True); its topics and run folder go afterwards."""
    try:
        yield result.summary
    finally:
        cluster.delete_topics([result.summary[k] for k in topic_keys])
        shutil.rmtree(result.run_dir, ignore_errors=True)


def test_producer_counts_match_console_consumer(cluster):
    conf = PRODUCER_CONFIGS["acks=all, retries, 5 in flight, no idempotence"]
    r = run_producer(ProducerExperiment(messages=1000, config=conf,
                                        fault=seeded_fault("pause-followers", 1000, 2)), cluster, keep=True)
    with kept(cluster, r, "topic") as s:
        w = console_consumer_ids(cluster.client_config(), s["topic"])
        assert w.records == s["stored_records"]
        assert w.duplicated == s["duplicated"]
        stored = r.messages[r.messages.stored_copies > 0]
        assert w.distinct == len(stored)
        assert all(w.ids[m] == c for m, c in zip(stored.msg_id, stored.stored_copies))


def test_exactly_once_counts_match_console_consumer(cluster):
    r = run_consumer(ConsumerExperiment(model="exactly-once", messages=60,
                                        crash=CrashSpec("mid-transaction", every=25)), cluster, keep=True)
    with kept(cluster, r, "topic", "output_topic") as s:
        committed = console_consumer_ids(cluster.client_config(), s["output_topic"], "read_committed")
        uncommitted = console_consumer_ids(cluster.client_config(), s["output_topic"], "read_uncommitted")
        assert committed.records == 60 and committed.duplicated == s["duplicated"] == 0
        assert uncommitted.records - committed.records == s["aborted_reads"] > 0


def test_consumer_input_matches_console_consumer(cluster):
    r = run_consumer(ConsumerExperiment(model="at-most-once", messages=80,
                                        crash=CrashSpec("after-commit", every=20)), cluster, keep=True)
    with kept(cluster, r, "topic") as s:
        # 6 s without a record ends the reader: 3 s was too short on a loaded 2-core machine
        w = console_consumer_ids(cluster.client_config(), s["topic"], timeout_ms=6000)
        assert w.records == s["input_records"] == s["sent"] == 80 and w.duplicated == 0
        # each crash after a commit skips what the commit covered: the lab says skipped by the
        # consumer (poll-skip), not gone from the log, and Kafka's own reader finds every one
        skipped = r.messages.loc[r.messages.anomaly == "poll-skip", "msg_id"].tolist()
        assert len(skipped) == s["skipped_by_consumer"] == s["lost"] > 0
        assert s["gone_from_log"] == 0 and s["anomalies"] == ["poll-skip"]
        assert all(w.ids[m] == 1 for m in skipped)


def test_gone_from_the_log_is_absent_by_console_consumer(cluster):
    # acks=1 while the followers lag, then the leader dies: acknowledged (Persisted, as
    # Confluent.Kafka would report it) and gone: Jepsen's lost-write. Kafka's reader agrees.
    r = run_producer(ProducerExperiment(messages=1500, config={"acks": "1"},
                                        fault=seeded_fault("kill-leader-lagging-followers", 1500, 1)),
                     cluster, keep=True)
    with kept(cluster, r, "topic") as s:
        gone = r.messages[(r.messages.status == "persisted") & ~r.messages.in_log]
        assert len(gone) == s["lost_writes"] == s["acked_but_lost"] > 0
        w = console_consumer_ids(cluster.client_config(), s["topic"], timeout_ms=6000)
        assert w.records == s["stored_records"] > 0  # it read the whole log, and found none
        assert not any(w.ids[m] for m in gone.msg_id)

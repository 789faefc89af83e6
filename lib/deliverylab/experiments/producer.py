"""Producer experiments: the learner's producer settings (librdkafka keys, verbatim) under a
broker fault. The producer worker sends N messages and records every delivery report; the topic
is read back once the cluster is whole again, and each message's outcome is counted from what
the application was told and what the log holds (counts.producer_result).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from ..catalog import ACKS_ALL
from ..cluster import DEFAULT_BROKERS, Cluster, connect, default_min_insync_replicas
from ..config_check import acks_all, check_producer_config
from ..counts import WITNESS, producer_result
from ..crash import CrashSpec
from ..errors import LabError, require_seconds, require_whole
from ..fields import check_fields
from ..ids import check_messages
from ..kafka_tool import console_records
from ..nemesis import READ_WHILE_HEALING, BrokerNemesis, FaultSpec
from ..results import Result
from ..runs import Progress, Run
from ..topics import MAX_PARTITIONS, PARTITIONS_FIX
from ..vocabulary import PRODUCER

# The ranges of ProducerExperiment's numbers (fields.check_fields)
RANGES = {"partitions": (1, MAX_PARTITIONS, PARTITIONS_FIX), "keys": (1, 10_000),
          "rate": (0, 1_000_000, "Use e.g. rate=1000 messages per second, or 0 for as fast as "
                   "the producer can."),
          "replication_factor": (1, 3, "Use 1 or 3 (the lab's clusters have 1 or 3 brokers), or "
                                 "None: 3 on three brokers."),
          "time_limit_s": (None, 3600)}


@dataclass
class ProducerExperiment:
    """Producer settings (librdkafka keys, verbatim) under a broker fault."""

    messages: int = 1000
    config: dict[str, Any] = field(default_factory=lambda: dict(ACKS_ALL))
    fault: FaultSpec | None = None
    crash: CrashSpec | None = None  # before-flush
    # the application resends: restarted after a crash, the worker first sends again every
    # message it never saw confirmed (same message id, new producer id; workers/producer.py)
    resend: bool = False
    rate: float = 1000.0  # messages per second; 0 = as fast as the producer can
    partitions: int = 1
    replication_factor: int | None = None  # default: 3 on three brokers
    topic_config: dict[str, str] = field(default_factory=dict)  # e.g. {"min.insync.replicas": "2"}
    keys: int = 8
    time_limit_s: float = 90.0
    seed: int = 1
    label: str | None = None
    # After the read-back, Kafka's own ConsoleConsumer (a Java client) reads the topic too, and
    # the Result says whether it found the same record at every offset (summary "witness_*").
    witness: bool = False

    def check(self) -> "ProducerExperiment":
        check_fields(self, RANGES)
        check_messages(self.messages, "Use e.g. messages=1000.")
        require_whole("partitions", self.partitions, "Use 1 (ordering is per partition) or a few.")
        require_whole("keys", self.keys, "Use e.g. keys=8.")
        if not isinstance(self.rate, (int, float)) or self.rate < 0:
            raise LabError(f"rate={self.rate!r} must be ≥ 0 messages per second.",
                           "Use e.g. rate=1000, or 0 for as fast as possible.")
        if self.crash is not None:
            self.crash.check(PRODUCER)
        if not isinstance(self.resend, bool):
            raise LabError(f"resend={self.resend!r} is not True or False.",
                           "Use resend=True (resend unconfirmed messages after a crash) or False.")
        if self.resend and self.crash is None:
            raise LabError("resend=True resends what a crashed producer had not seen confirmed, "
                           "but this run has no crash, so it would never resend.",
                           'Give it a crash to recover from: crash=CrashSpec("before-flush", '
                           "every=K) in Python, --crash-every K on the command line; or leave "
                           "resend off.")
        if self.fault is not None:
            self.fault.check()
            self._check_alone()
        require_seconds("time_limit_s", self.time_limit_s, "Use e.g. time_limit_s=60.")
        check_producer_config(self.config)
        return self

    def _check_alone(self) -> None:
        """kill-leader-alone waits for the leader to acknowledge writes alone in the ISR; an
        acks=all write needs min.insync.replicas replicas in the ISR (the lab's brokers: 2 on
        the three a broker fault needs), so it would wait for the whole run and strike at no
        moment."""
        if self.fault.kind != "kill-leader-alone":
            return
        min_isr = str(self.topic_config.get("min.insync.replicas",
                                            default_min_insync_replicas(DEFAULT_BROKERS))).strip()
        if acks_all(self.config) and min_isr != "1":
            raise LabError(f"Fault 'kill-leader-alone' with acks=all and min.insync.replicas="
                           f"{min_isr}: the leader alone in the ISR refuses every acks=all write "
                           "(NOT_ENOUGH_REPLICAS), so the fault would wait for acknowledgements "
                           "that never come.",
                           "Let the topic acknowledge with one in-sync replica (what unclean "
                           'election is about): topic_config={"min.insync.replicas": "1"} in '
                           "Python, --min-insync-replicas 1 on the command line; or use acks=1.")


# --- consumer experiments ----------------------------------------------------------------------
def run_producer(spec: ProducerExperiment, cluster: Cluster | None = None,
                 progress: Progress | None = None, keep: bool = False) -> Result:
    spec.check()
    cluster = cluster or connect(min_brokers=3 if spec.fault and spec.fault.kind != "none" else 1)
    if spec.fault:
        spec.fault.check(cluster)
    with Run(cluster, PRODUCER, keep) as run:
        topic = run.topic("lab-producer", spec.partitions, spec.replication_factor, spec.topic_config)
        cluster.wait_for_leader(topic)
        deadline = time.time() + spec.time_limit_s
        run.write_spec({**asdict(spec), "topic": topic, "deadline": deadline,
                        "producer_config": spec.config,
                        "crash": asdict(spec.crash) if spec.crash else None,
                        "flush_timeout_s": max(5.0, spec.time_limit_s - 5)})
        run.ledger.set_meta(kind=PRODUCER, topic=topic, t0=run.t0)

        def sent() -> int:
            return run.ledger.conn.execute("SELECT COUNT(DISTINCT msg_id) FROM sends").fetchone()[0]

        def reported() -> int:  # the fault is armed by delivery reports: the log is really growing
            return run.ledger.conn.execute("SELECT COUNT(*) FROM acks").fetchone()[0]
        faulted = bool(spec.fault and spec.fault.kind != "none")

        def read_back() -> None:
            cluster.wait_for_leader(topic)
            run.read_back(topic, spec.partitions, reader="topic", after_fault=faulted)
            if spec.witness:
                run.ledger.readback(WITNESS, [(topic, *row) for row in
                                              console_records(cluster.client_config(), topic)])
        early = spec.fault is not None and spec.fault.kind in READ_WHILE_HEALING
        tick = run.ticker(sent, spec.messages, progress)
        nemeses = [BrokerNemesis(cluster, spec.fault, topic, run.ledger.path, reported)] if faulted else []
        report = run.with_nemeses(nemeses, lambda: run.supervise(PRODUCER, deadline, tick=tick),
                                  meanwhile=read_back if early else None)
        tick.finish()
        cluster.wait_for_full_isr(topic, spec.partitions)  # the next run starts on a whole cluster
        if not early:
            read_back()  # the old leader is back in the ISR: it has truncated to the new one's log
        result = producer_result(run.dir, spec, cluster.bootstrap_servers, report.timed_out)
        result.summary.update(run.kept())
        return result

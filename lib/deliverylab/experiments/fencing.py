"""Zombie fencing: a second transactional producer with the same transactional.id fences the first.

The first producer opens a transaction and writes a record; the second starts with the same
transactional.id and calls init_transactions(), which bumps the producer epoch and aborts the
first one's open transaction. The first producer's commit then fails with a fenced error, and a
read_committed reader sees only the second producer's record.
"""
from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaException, Producer

from ..cluster import Cluster, connect
from ..ids import value_of
from ..runs import Run

__all__ = ["fencing_demo"]


def _record(producer: str, n: int) -> bytes:
    # A lab record (id, key, seq), as the read-back of every topic of the lab expects.
    return value_of({"id": f"{producer}-{n}", "key": producer, "seq": n})


def _error(exc: KafkaException) -> dict[str, Any]:
    err = exc.args[0]
    return {"error": err.name(), "fatal": bool(err.fatal()), "message": err.str()}


def fencing_demo(cluster: Cluster | None = None, timeout: float = 30.0) -> dict[str, Any]:
    """Run the fencing demo on a fresh topic; describe what each producer saw.

    Returns {"transactional_id", "topic", "first": {...}, "second": {...},
    "read_committed": [record ids], "read_uncommitted": [record ids]}; "first" holds the
    error its commit_transaction() raised (error name, fatal flag, message).
    """
    cluster = cluster or connect()
    with Run(cluster, "fencing", keep=False) as run:
        topic = run.topic("fencing-demo", 1)
        tid = run.transactional_id(topic)
        cluster.wait_for_leader(topic)
        conf = run.client_config(**{"transactional.id": tid})
        first: dict[str, Any] = {"name": "first"}
        second: dict[str, Any] = {"name": "second"}
        p1 = p2 = None
        try:
            p1 = Producer(conf)
            p1.init_transactions(timeout)
            p1.begin_transaction()
            p1.produce(topic, _record("first", 0))
            p1.flush(timeout)
            first["wrote"] = "first-0 (transaction open)"

            p2 = Producer(conf)
            p2.init_transactions(timeout)  # same id: bumps the epoch, aborts the first's transaction
            second["init_transactions"] = "ok: epoch bumped, open transaction of the same id aborted"
            p2.begin_transaction()
            p2.produce(topic, _record("second", 0))
            p2.commit_transaction(timeout)
            second["commit_transaction"] = "committed"

            try:
                p1.commit_transaction(timeout)
                first["commit_transaction"] = "committed"  # would mean no fencing happened
            except KafkaException as exc:
                first["commit_transaction"] = "failed"
                first.update(_error(exc))
            committed = [r[3] for r in run.read_back(topic, 1, isolation="read_committed")]
            uncommitted = [r[3] for r in run.read_back(topic, 1, isolation="read_uncommitted")]
            return {"transactional_id": tid, "topic": topic, "first": first, "second": second,
                    "read_committed": committed, "read_uncommitted": uncommitted}
        finally:
            del p1, p2  # a fenced producer is fatal: nothing left to flush or abort

"""A hanging transaction stalls every read_committed reader of its partition.

A transactional producer (its own OS process, workers/hanging.py) opens a transaction, writes to
the run's partition and hangs there (SIGSTOP). A second producer then commits records to the
same partition. Meanwhile two live readers read it: `read_committed` (librdkafka's default) and
`read_uncommitted`. The partition's last stable offset cannot pass the open transaction, so the
read_committed reader gets nothing past it — not even the second producer's committed records —
until the coordinator aborts the hanging transaction, once its `transaction.timeout.ms` has
passed (checked every transaction.abort.timed.out.transaction.cleanup.interval.ms on the
brokers). The read_uncommitted reader is not stalled. The hung process is then killed; the
counts come from the ledger and the read-backs (stall_counts.hanging_result).
"""
from __future__ import annotations

import json
import os
import signal
import threading
import time
from dataclasses import dataclass
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from ..cluster import Cluster, connect
from ..errors import LabError
from ..fields import check_fields
from ..ids import record_of, value_of
from ..ledger import Ledger
from ..members import broker_settings
from ..results import Result
from ..runs import Progress, Run
from ..stall_counts import MARGIN_S, READ_COMMITTED, READ_UNCOMMITTED, hanging_result
from ..vocabulary import HANGING, READ, STOP, TXN_COMMITTED, TXN_OPEN

__all__ = ["HangingTransaction", "run_hanging", "ABORT_CHECK_KEY"]

ABORT_CHECK_KEY = "transaction.abort.timed.out.transaction.cleanup.interval.ms"
# librdkafka's range for transaction.timeout.ms starts at 1000 (CONFIGURATION.md); the brokers'
# transaction.max.timeout.ms (default 900000) is the ceiling init_transactions() enforces.
RANGES = {"transaction_timeout_ms": (1000, 900_000, "Use e.g. transaction_timeout_ms=5000 "
                                     "(librdkafka's and the Java client's default is 60000)."),
          "records": (1, 1000), "time_limit_s": (5, 3600)}


@dataclass
class HangingTransaction:
    """A transaction that is never ended, and a commit after it on the same partition."""

    transaction_timeout_ms: int = 5000  # the hanging producer's transaction.timeout.ms
    records: int = 5  # the hanging transaction writes this many, the second producer as many
    time_limit_s: float = 60.0
    label: str | None = None

    def check(self) -> "HangingTransaction":
        check_fields(self, RANGES)
        if self.time_limit_s * 1000 <= self.transaction_timeout_ms:
            raise LabError(f"time_limit_s={self.time_limit_s} ends the run before "
                           f"transaction_timeout_ms={self.transaction_timeout_ms} has passed: "
                           "the stall could never be seen to end.",
                           "Give the run a time limit well past the timeout, e.g. "
                           f"time_limit_s={self.transaction_timeout_ms // 1000 + 20}.")
        return self


def abort_check_interval_ms(cluster: Cluster) -> int | None:
    """The brokers' abort-check interval as a broker reports it (None: it does not say)."""
    got = broker_settings(cluster, (ABORT_CHECK_KEY,))
    return int(got[0]) if got and got[0] is not None else None


def _read(run: Run, topic: str, isolation: str, stop: threading.Event) -> None:
    """A live reader of partition 0: every record it gets, with its time, into the ledger.
    No group of its own (assign(), nothing committed): nothing is left to delete."""
    ledger = Ledger(run.ledger.path)  # this thread's own connection
    consumer = Consumer(run.client_config(**{
        "group.id": f"{topic}-{isolation}", "enable.auto.commit": False,
        "isolation.level": isolation, "fetch.wait.max.ms": 100}))
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        while not stop.is_set():
            for msg in consumer.consume(100, timeout=0.1):
                if msg.error() is None:
                    ledger.event(READ, -1, 0, json.dumps({
                        "reader": isolation, "msg_id": record_of(msg.value())["id"],
                        "offset": msg.offset()}))
    finally:
        consumer.close()
        ledger.close()


def _wait_for(ledger: Ledger, kind: str, deadline: float,
              gone: threading.Thread | None = None) -> tuple | None:
    """The first event of `kind` (pid, detail, t); None at the deadline, or once the thread
    supervising its writer has ended without it."""
    while time.time() < deadline and (gone is None or gone.is_alive()):
        row = ledger.conn.execute("SELECT pid, detail, t FROM events WHERE kind = ?",
                                  (kind,)).fetchone()
        if row is not None:
            return row
        time.sleep(0.02)
    return None


def _committed_read(ledger: Ledger, ids: set[str]) -> bool:
    got = {json.loads(d)["msg_id"] for (d,) in ledger.conn.execute(
        "SELECT detail FROM events WHERE kind = ?", (READ,))
        if json.loads(d)["reader"] == READ_COMMITTED}
    return ids <= got


def run_hanging(spec: HangingTransaction, cluster: Cluster | None = None,
                progress: Progress | None = None, keep: bool = False) -> Result:
    spec.check()
    cluster = cluster or connect()
    with Run(cluster, "hanging", keep) as run:
        topic = run.topic("lab-hanging", 1)
        hanging_id, second_id = run.transactional_id(topic), run.transactional_id(topic, 1)
        interval = abort_check_interval_ms(cluster)
        deadline = time.time() + spec.time_limit_s
        run.write_spec({"topic": topic, "transactional_id": hanging_id, "records": spec.records,
                        "transaction_timeout_ms": spec.transaction_timeout_ms,
                        "deadline": deadline, "crash": None})
        run.ledger.set_meta(kind=HANGING, topic=topic, t0=run.t0,
                            abort_check_interval_ms=interval)
        cluster.wait_for_leader(topic)
        stop = threading.Event()
        readers = [threading.Thread(target=_read, args=(run, topic, iso, stop),
                                    name=f"deliverylab-{iso}", daemon=True)
                   for iso in (READ_COMMITTED, READ_UNCOMMITTED)]
        for t in readers:
            t.start()
        failure: list[BaseException] = []
        halt = threading.Event()  # stopped before the producer said where it is: its supervisor kills it

        def supervise() -> None:
            ledger = Ledger(run.ledger.path)
            try:
                run.supervise(HANGING, deadline, ledger=ledger, stop=halt)
            except BaseException as exc:  # the worker's error: raised below, in this thread
                failure.append(exc)
            finally:
                ledger.close()
        worker = threading.Thread(target=supervise, name="deliverylab-hanging", daemon=True)
        worker.start()
        pid = 0
        try:
            opened = _wait_for(run.ledger, TXN_OPEN, deadline, worker)
            if opened is None or failure:
                raise failure[0] if failure else LabError(
                    "The hanging producer never opened its transaction within the run's time "
                    "limit, so nothing of the run is counted.",
                    "Check `deliverylab cluster status`, and run it again with keep=True.")
            pid = int(opened[0])
            ids = _commit_after(run, topic, second_id, spec.records)
            # The stall ends when the coordinator aborts the hanging transaction: wait for the
            # read_committed reader to get the committed records, up to the bound and a margin.
            bound = (spec.transaction_timeout_ms + (interval or 10_000)) / 1000 + 2 * MARGIN_S
            until = min(deadline, time.time() + bound)
            while time.time() < until and not _committed_read(run.ledger, ids):
                if progress:
                    progress(0, 1)
                time.sleep(0.05)
            time.sleep(0.2)  # the read_uncommitted reader's last fetch
        finally:
            stop.set()
            if pid:
                run.ledger.event(STOP, 0, pid, HANGING)  # ours, not a crash: the supervisor ends
                try:
                    os.kill(pid, signal.SIGKILL)  # a stopped process dies of SIGKILL too
                except ProcessLookupError:
                    pass
            else:  # an error or an interrupt before the transaction opened
                halt.set()
            worker.join(15)
            for t in readers:
                t.join(10)
        if failure:
            raise failure[0]
        run.read_backs({READ_COMMITTED: (topic, "read_committed"),
                        READ_UNCOMMITTED: (topic, "read_uncommitted")}, 1)
        if progress:
            progress(1, 1)
        result = hanging_result(run.dir, spec, cluster.bootstrap_servers)
        result.summary.update(run.kept())
        return result


def _commit_after(run: Run, topic: str, transactional_id: str, records: int) -> set[str]:
    """A second transactional producer commits `records` records to the partition, after the
    hanging transaction's; its commit time goes into the ledger."""
    producer = Producer(run.client_config(**{"transactional.id": transactional_id}))
    producer.init_transactions(30)
    producer.begin_transaction()
    ids = [f"committed-{n}" for n in range(records)]
    for n, msg_id in enumerate(ids):
        producer.produce(topic, key=b"committed", value=value_of({"id": msg_id, "key": "committed",
                                                                  "seq": n}))
    producer.commit_transaction(30)
    run.ledger.event(TXN_COMMITTED, 0, os.getpid(), json.dumps(ids))
    del producer
    return set(ids)

"""A transactional producer that hangs mid-transaction: it opens a transaction, writes its
records (flushed: they are in the log, uncommitted), says so in the ledger and stops itself
with SIGSTOP — a real pause of the whole OS process, as a long GC pause, a debugger or a stuck
call would leave it. It never ends the transaction; the coordinator aborts it once
`transaction.timeout.ms` (.NET `TransactionTimeoutMs`) has passed, and the experiment then
kills it (experiments/hanging.py).
"""
from __future__ import annotations

import json
import os
import signal

from confluent_kafka import Producer

from ..ids import value_of
from ..vocabulary import TXN_OPEN
from .common import WorkerContext, prime_metadata


def run(ctx: WorkerContext) -> None:
    spec = ctx.spec
    producer = Producer(ctx.client(**{"transactional.id": spec["transactional_id"],
                                      "transaction.timeout.ms": spec["transaction_timeout_ms"]}))
    prime_metadata(producer, spec["topic"])
    producer.init_transactions(30)
    producer.begin_transaction()
    ids = [f"hanging-{n}" for n in range(spec["records"])]
    for n, msg_id in enumerate(ids):
        producer.produce(spec["topic"], key=b"hanging",
                         value=value_of({"id": msg_id, "key": "hanging", "seq": n}))
    producer.flush(30)  # in the log now, inside the open transaction
    ctx.ledger.event(TXN_OPEN, ctx.worker, os.getpid(), json.dumps(ids))
    os.kill(os.getpid(), signal.SIGSTOP)  # hangs here until the experiment kills it

"""The process a checked function runs in: ``python -m deliverylab.check.worker RUN_DIR WORKER``.

Started (and restarted after each crash) by the lab's supervisor. It builds the real clients,
hands them to the learner's function and watches the calls (check/clients.py, check/witness.py):
every record handed out goes to the ledger's deliveries table, every process() to the store's
effects table, every commit to the commits table, every crash to the events table with what was
at stake. When the input is finished and the loop comes back for more, the next poll raises
InputDone — the learner's loop ends as it would on a shutdown, its `finally` blocks run.
"""
from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Iterator

import confluent_kafka
from confluent_kafka import KafkaException, Message, TopicPartition

from ..cluster.processes import die_with_parent
from ..clients import client_from_env
from ..ids import index_of, record, record_of, value_for
from ..ledger import Ledger, Store
from ..payloads import payment_for
from ..workers.common import prime_metadata, wait_for_turn
from ..workers.producer import ReportBook
from . import mistakes
from .clients import CheckedConsumer, CheckedProducer, InputDone
from .records import lab_id
from .schedule import CrashPlan
from .shipping import unpack
from .witness import Witness
from ..vocabulary import ASSIGNED, CRASH, REVOKED

# A loop at the end of the input with offsets still uncommitted gets this long to commit them
# (a timer, an asynchronous commit on its way) before the lab ends it anyway.
TAIL_GRACE_S = 2.0
COMMITTED_EVERY_S = 0.3  # how often the idle loop asks whether its commits reached the end
LAB_DIRS = (str(Path(__file__).resolve().parents[1]), str(Path(confluent_kafka.__file__).parent))


class Session:
    """One incarnation of the process under check: its ledger, its store, its witness."""

    def __init__(self, run_dir: Path, worker: int, spec: dict[str, Any], ledger: Ledger) -> None:
        self.run_dir, self.worker, self.spec, self.ledger = run_dir, worker, spec, ledger
        self.mode = spec["mode"]
        self.topic, self.output = spec["topic"], spec.get("output_topic")
        self.ends = {int(p): int(e) for p, e in spec["ends"].items()}
        conf = spec.get("consumer_config") or {}
        self.auto_store = str(conf.get("enable.auto.offset.store", True)).lower() == "true"
        self.handed_count: dict[str, int] = dict(ledger.conn.execute(
            "SELECT msg_id, COUNT(*) FROM deliveries GROUP BY msg_id").fetchall())
        before = [m for (m,) in ledger.conn.execute("SELECT DISTINCT msg_id FROM sends WHERE topic = ?",
                                                    (self.topic,))] \
            if self.mode == "producer" else list(self.handed_count)
        fired = ledger.conn.execute("SELECT COUNT(*) FROM events WHERE kind = ?",
                                    (CRASH,)).fetchone()[0]
        self.witness = Witness(CrashPlan(spec["crashes"], spec["messages"], spec["seed"]), fired,
                               before, self._record_crash)
        self.witness.committing_known = not _truthy(conf.get("enable.auto.commit", False))
        self.store = Store(run_dir / "store.sqlite")
        self.book = ReportBook(self)  # a producer's sends and delivery reports, batched
        self.consumer: CheckedConsumer | None = None
        self.records: dict[str, dict[str, Any]] = {}  # id -> the input record, while in hand
        self.last_handed: dict[int, int] = {}  # partition -> offset after the last record handed out
        self.stored_offsets: dict[int, int] = {}
        self.txn_offsets: dict[int, int] = {}
        self.caught_up_at: float | None = None
        self.next_committed_ask = 0.0
        self.done_raised = 0

    # --- the learner's calls -------------------------------------------------------------------
    def before(self, call: str) -> None:
        self.witness.before(call)

    def after(self, call: str) -> None:
        self.witness.after(call)

    def got(self, call: str, msgs: list[Message]) -> None:
        rows, handed = [], []
        for m in msgs:
            if m.error() is not None or m.topic() != self.topic:
                continue
            ident = lab_id(m.value())
            if ident is None:
                continue
            p, o = m.partition(), m.offset()
            self.handed_count[ident] = self.handed_count.get(ident, 0) + 1
            rows.append((self.worker, ident, p, o, self.handed_count[ident]))
            handed.append((ident, p, o))
            self.last_handed[p] = o + 1
            if self.mode == "transactional":  # its key and seq, for the output's effect row
                self.records[ident] = record_of(m.value())
        if handed:
            self.ledger.deliveries(rows)
            self.witness.handed_out(handed)
            self.caught_up_at = None
            self.witness.after(call)
        else:
            self.witness.after(call, did_something=False)
            self._maybe_done()

    def process(self, msg: Any) -> None:
        """The lab's effect, handed to the learner's function as `process`."""
        self.before("process")
        if not isinstance(msg, Message):
            mistakes.report(f"process() was given {type(msg).__name__} {str(msg)[:60]!r}, not a "
                            "message.", "Pass it the Message that poll() or consume() returned: "
                            "process(msg).")
        if msg.error() is not None:
            mistakes.report(f"process() was given an event, not a record: {msg.error()}.",
                            "Check msg.error() before processing, as confluent-kafka's examples "
                            "do: `if msg.error(): continue` (or raise for a fatal one).")
        ident = lab_id(msg.value())
        if msg.topic() != self.topic or ident is None:
            mistakes.report(f"process() was given a record of topic {msg.topic()!r} that is not "
                            "one of the check's input records.",
                            "Process the records your consumer polled from its subscription.")
        if self.spec.get("processing_ms"):
            time.sleep(self.spec["processing_ms"] / 1000)
        rec = record_of(msg.value())
        self.store.conn.execute(
            'INSERT INTO effects (msg_id, key, seq, topic, partition, "offset", worker, t) '
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (ident, rec.get("key"), rec.get("seq"), msg.topic(), msg.partition(), msg.offset(),
             self.worker, time.time()))
        self.witness.done_with(ident)
        self.after("process")

    def commit_offsets(self, message: Any, offsets: Any) -> dict[int, int]:
        """The offsets a commit() call asks for, by librdkafka's rules: the message's offset+1;
        the listed offsets; or, with neither, the stored offsets (with the default
        enable.auto.offset.store=true, stored as each record is handed out)."""
        if isinstance(message, Message):
            return {message.partition(): message.offset() + 1} if message.topic() == self.topic else {}
        if offsets:
            return {tp.partition: tp.offset for tp in offsets if tp.topic == self.topic}
        return dict(self.last_handed if self.auto_store else self.stored_offsets)

    def commit_answered(self, meant: dict[int, int], asynchronous: bool, result: Any,
                        exc: BaseException | None) -> None:
        if exc is not None:
            err = exc.args[0] if exc.args else None
            name = err.name() if hasattr(err, "name") else str(exc)[:200]
            for p, o in meant.items():
                self.ledger.commit(self.worker, self.topic, p, o, False, name)
            self.after("commit")
            return
        done = meant
        if isinstance(result, list):  # a synchronous commit: what the broker stored
            done = {tp.partition: tp.offset for tp in result
                    if tp.topic == self.topic and tp.error is None and tp.offset >= 0}
        for p, o in done.items():
            self.ledger.commit(self.worker, self.topic, p, o, True, "asynchronous" if asynchronous else None)
        self.witness.committed_to(done)
        self.after("commit")

    def stored(self, message: Any, offsets: Any) -> None:
        if isinstance(message, Message):
            self.stored_offsets[message.partition()] = message.offset() + 1
        for tp in offsets or []:
            if tp.topic == self.topic:
                self.stored_offsets[tp.partition] = tp.offset
        self.after("store_offsets")

    # --- producers -----------------------------------------------------------------------------
    def wrap_report(self, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        """produce()'s arguments with the lab's delivery report first, then the learner's own."""
        if self.mode != "producer":
            return args, kwargs
        args, kwargs = list(args), dict(kwargs)
        theirs = args.pop(4) if len(args) > 4 else kwargs.pop("on_delivery", kwargs.pop("callback", None))
        book = self.book

        def on_delivery(err: Any, msg: Message) -> None:
            book.on_delivery(err, msg)
            if err is None:
                self.witness.in_hand.pop(lab_id(msg.value()) or "", None)
            if theirs is not None:
                theirs(err, msg)
        kwargs["on_delivery"] = on_delivery
        return tuple(args), kwargs

    def produced(self, topic: str, value: Any, key: Any) -> None:
        ident = lab_id(value)
        if self.mode == "producer":
            if topic == self.topic and ident is not None:
                rec = self.records.get(ident) or {}
                self.book.sends.append((ident, rec.get("key"), rec.get("seq"), topic))
                self.witness.handed_out([(ident, 0, index_of(ident))])
                self.book.write()
        elif topic == self.output:
            if ident is None:
                mistakes.report(f"Your produce() to the output topic wrote a value without an "
                                f"input record's id: {_head(value)}.",
                                "Copy the input record's value (msg.value()) into the output "
                                "record, or write JSON with its \"id\" field.")
            rec = self.records.get(ident) or {}
            self.store.conn.execute(
                'INSERT INTO effects (msg_id, key, seq, topic, partition, "offset", worker, t) '
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (ident, rec.get("key"), rec.get("seq"), topic, -1, -1, self.worker, time.time()))
            self.witness.done_with(ident, transactional=True)
        self.after("produce")

    def offsets_sent(self, positions: list[TopicPartition]) -> None:
        self.txn_offsets.update({tp.partition: tp.offset for tp in positions if tp.topic == self.topic})
        self.after("send_offsets_to_transaction")

    def transaction_ended(self, committed: bool) -> None:
        if committed:
            for p, o in self.txn_offsets.items():
                self.ledger.commit(self.worker, self.topic, p, o, True, "transaction")
        self.witness.transaction_ended(committed, self.txn_offsets)
        self.txn_offsets = {}
        self.after("commit_transaction" if committed else "abort_transaction")

    # --- the end of the input ---------------------------------------------------------------------
    def _maybe_done(self) -> None:
        """An empty poll with nothing in hand and every partition read to its end: the loop is
        idle. Once its commits reach the end (or the grace for its tail is over) it is ended."""
        w, c = self.witness, self.consumer
        if c is None or w.in_hand or w.in_txn:
            return
        try:
            tps = c.position([TopicPartition(self.topic, p) for p in self.ends])
        except KafkaException:
            return
        if any(tp.offset < self.ends[tp.partition] for tp in tps if self.ends[tp.partition]):
            return
        now = time.monotonic()
        if self.caught_up_at is None:
            self.caught_up_at = now
        if now >= self.next_committed_ask:
            self.next_committed_ask = now + COMMITTED_EVERY_S
            if self._committed_at_end() or now - self.caught_up_at > TAIL_GRACE_S:
                self._end()

    def _committed_at_end(self) -> bool:
        try:
            got = self.consumer.committed([TopicPartition(self.topic, p) for p in self.ends], timeout=5)
        except KafkaException:
            return False
        return all(tp.offset >= self.ends[tp.partition] for tp in got if self.ends[tp.partition])

    def _end(self) -> None:
        self.done_raised += 1
        if self.done_raised > 3:  # the loop swallowed InputDone (a bare except): end it here
            self.finish()
            os._exit(0)
        raise InputDone()

    # --- lifecycle --------------------------------------------------------------------------------
    def _record_crash(self, info: dict[str, Any]) -> None:
        self.book.write(force=True)
        self.ledger.event(CRASH, self.worker, os.getpid(), json.dumps(info))

    def _assigned(self, consumer: Any, parts: list[TopicPartition]) -> None:
        self.ledger.event(ASSIGNED, self.worker, os.getpid(),
                          json.dumps({"partitions": sorted(p.partition for p in parts)}))
        try:
            committed = consumer.committed(parts, timeout=5)
        except KafkaException:
            return
        self.witness.committed_to({tp.partition: tp.offset for tp in committed if tp.offset >= 0})

    def _revoked(self, consumer: Any, parts: list[TopicPartition]) -> None:
        self.ledger.event(REVOKED, self.worker, os.getpid(),
                          json.dumps({"partitions": sorted(p.partition for p in parts)}))

    def new_consumer(self, **overrides: Any) -> CheckedConsumer:
        conf = client_from_env(**{"group.id": self.spec["group_id"], "auto.offset.reset": "earliest",
                              "enable.auto.commit": False,
                              # Static membership: a restart after a crash takes the dead
                              # member's place at once, with no rebalance (KIP-345).
                              "group.instance.id": self.spec["instance_id"],
                              **overrides, **(self.spec.get("consumer_config") or {})})
        if conf.get("group.protocol", "classic") == "classic" and "session.timeout.ms" not in \
                (self.spec.get("consumer_config") or {}):
            # A static member is the group's until its session times out, even after close():
            # the broker's shortest (group.min.session.timeout.ms, 6 s) lets the check delete
            # the group soon after the end (Kafka keeps a non-empty group from deletion).
            conf["session.timeout.ms"] = 6000
        consumer = CheckedConsumer(conf)
        consumer.session = self
        prime_metadata(consumer, self.topic)
        consumer.subscribe([self.topic], on_assign=self._assigned, on_revoke=self._revoked,
                           on_lost=self._revoked)
        self.consumer = consumer
        return consumer

    def new_producer(self, **overrides: Any) -> CheckedProducer:
        producer = CheckedProducer(client_from_env(**overrides, **(self.spec.get("producer_config") or {})))
        producer.session = self
        prime_metadata(producer, self.output or self.topic)
        return producer

    def outbox(self, producer: CheckedProducer) -> Iterator[tuple[bytes, bytes]]:
        """The producer's input: (key, value) of every record not yet acknowledged (a restart
        sends again what its outbox still holds), at `rate` per second; while the next one is
        not due, delivery reports are served (producer.poll, as a paced app does)."""
        acked = {m for (m,) in self.ledger.conn.execute(
            "SELECT DISTINCT msg_id FROM acks WHERE error IS NULL AND topic = ?", (self.topic,))}
        rate, t0, n = float(self.spec.get("rate") or 0), time.monotonic(), 0
        for index in range(self.spec["messages"]):
            rec = record(index, self.spec["keys"])
            if rec["id"] in acked:
                continue
            if rate:
                while (wait := t0 + n / rate - time.monotonic()) > 0:
                    confluent_kafka.Producer.poll(producer, wait)
            n += 1
            self.records[rec["id"]] = rec
            yield rec["key"].encode(), value_for(index, self.spec["keys"], payment_for(index))

    def finish(self) -> None:
        self.book.write(force=True)
        if self.consumer is not None:
            try:
                self.consumer.lab_close()
            except RuntimeError:
                pass  # the learner closed it already
        self.store.close()


def _truthy(value: Any) -> bool:
    return str(value).lower() in ("true", "1")


def _head(value: Any) -> str:
    return repr(value[:40] if isinstance(value, (bytes, str)) else value)


def run(session: Session, fn: Callable[..., Any]) -> None:
    mode = session.mode
    if mode == "consumer":
        fn(session.new_consumer(), session.process)
    elif mode == "transactional":
        producer = session.new_producer(**{"transactional.id": session.spec["transactional_id"]})
        producer.init_transactions(30)  # fences an earlier incarnation, aborts its transaction
        consumer = session.new_consumer(**{"isolation.level": "read_committed"})
        fn(consumer, producer, session.output)
    else:
        producer = session.new_producer()
        fn(producer, session.topic, session.outbox(producer))


def main(argv: list[str]) -> int:
    run_dir, worker = Path(argv[0]), int(argv[1])
    die_with_parent()
    wait_for_turn()  # a standby: imports done, waiting for "go"
    spec = json.loads((run_dir / "spec.json").read_text())
    ledger = Ledger(run_dir / "ledger.sqlite")
    name = spec.get("function_name", "your function")
    try:
        fn, source = unpack(run_dir / "function.pkl")
    except Exception as exc:
        mistakes.report(f"{name} could not be loaded in the process that runs it: {exc}.",
                        "Define the function (and what it uses) in the notebook or script that "
                        "calls the check, or in a module that is importable there.")
    session = Session(run_dir, worker, spec, ledger)
    started = time.monotonic()
    try:
        run(session, fn)
    except InputDone:
        pass
    except Exception as exc:
        traceback.print_exc()  # the whole story, in the worker's log
        where = mistakes.learner_frame(exc.__traceback__, LAB_DIRS, source)
        mistakes.report(f"{name} raised {type(exc).__name__}: {exc}" + (f" at {where}" if where else "")
                        + f", {time.monotonic() - started:.1f} s into its run.",
                        "Fix the function and check it again; the whole traceback is in the "
                        "run folder's log (keep=True keeps it).")
    session.finish()
    ledger.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

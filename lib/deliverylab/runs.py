"""The one run scaffold: what every kind of run does alike around the code under test.

A run owns a folder (``spec.json`` for its processes, ``ledger.sqlite``, the learner's store),
the ledger every process of the run writes, the cluster's client settings handed to those
processes through their environment (they may hold a password: never a file), the topics,
consumer groups and transactional ids it makes, the supervised processes, the nemeses that
strike while they run, and the read-back of its topics. At the end it removes what the learner
did not ask to keep. A new kind of run — a learner's own program under the lab's crashes, say —
uses it like this::

    with Run(cluster, "my-run", keep=keep) as run:
        topic = run.topic("lab-my-run", partitions=1)      # created now, deleted at the end
        group = run.group(topic)                           # deleted at the end too
        deadline = time.time() + time_limit_s
        run.write_spec({"topic": topic, "group_id": group, "deadline": deadline, "crash": None})
        run.ledger.set_meta(kind="my-run", topic=topic, t0=run.t0)
        tick = run.ticker(count_done, total, progress)     # progress(done, total), throttled
        report = run.with_nemeses(
            [nemesis],                                     # e.g. nemesis.BrokerNemesis(...)
            lambda: run.supervise("my-role", deadline, tick=tick))
        tick.finish()
        run.read_back(topic, partitions=1, reader="input")  # rows into the ledger's readback
        result = count_my_run(run.dir)                     # counting reads the folder only
        result.summary.update(run.kept())                  # keep=True: the names to inspect it

The API, kept stable for the kinds of runs built on it:

- ``Run(cluster, name, keep=False)``; attributes ``cluster``, ``keep``, ``dir``, ``ledger``,
  ``t0`` (time.time() at the start), ``worker_env`` (the environment a process of the run needs
  to reach the cluster: ``clients.client_from_env()`` reads it there), ``group_linger_s`` (how
  long the cleanup waits for a killed member to leave its group, which cannot be deleted before).
- ``topic(prefix, partitions, replication_factor=None, config=None)`` → a fresh topic's name;
  ``create_topics(names, partitions, …)`` several named ones in one request; ``group(topic)``
  and ``transactional_id(topic, member=None)`` → the names the run's clients use. Each is
  remembered: deleted at the end (a transactional id expires on its own), listed by ``names()``.
- ``client_config(**overrides)`` for a client in this process.
- ``write_spec(spec)``: spec.json, the one file every process of the run reads.
- ``supervise(role, deadline, tick=None, ledger=None, stop=None)``: one worker role, restarted
  after each crash, stopped at the deadline (``supervisor.supervise``); ``supervise_members(…)``
  the members of one group, each supervised (``members.supervise_members``); its
  ``once_standing`` runs once the group stands (a group run writes its input there).
- ``with_nemeses(nemeses, work, meanwhile=None)``: ``work()`` while the nemeses strike; each
  is told to heal once the work is done, ``meanwhile()`` runs while they heal, and a nemesis
  that failed is the run's error (see the protocol below).
- ``ticker(count, total, progress)``: a progress tick for the supervisors; ``.finish()``.
- ``read_back(topic, partitions, reader=None, …)`` and ``read_backs(views, partitions, …)``:
  the topic read to its end (readback.read_topic); with a reader name the rows go into the
  ledger's readback table.
- ``names()`` and ``kept()``: every name a learner needs to inspect the run with Kafka's own
  tools (kafka-topics, kafka-consumer-groups, kafka-console-consumer) and the folder;
  ``kept()`` is ``{"kept": names()}`` with keep=True and ``{}`` otherwise.
- ``close(wait=False)``: the folder goes at once, topics and groups off the learner's wait
  (``wait=True``: before it returns).

A nemesis, as ``with_nemeses`` drives it, has ``start()``, ``halt`` (a threading.Event: set,
the nemesis heals now), ``stop()`` (heal if still broken, and wait for it), ``error`` (what went
wrong in its thread, or None) and ``failure()`` (that error as the LabError the learner reads).
"""
from __future__ import annotations

import errno
import json
import shutil
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol, Sequence, TypeVar

from confluent_kafka import KafkaException
from confluent_kafka.admin import NewTopic

from .clients import client_env, quiet
from .cluster import Cluster
from .errors import LabError
from .ledger import Ledger
from .members import supervise_members
from .paths import check_writable_folder, home_dir
from .readback import read_topic
from .supervisor import Supervision, supervise
from .topics import check_topic_name, group_for, transactional_id, unique_topic

T = TypeVar("T")
FOLDER_FIX = ("Each run writes its ledger under DELIVERYLAB_HOME/runs: make that folder writable, "
              "free some space, or point DELIVERYLAB_HOME at a folder you can write (it is the "
              "local cluster's home too: `deliverylab cluster down` first).")
FULL_FIX = ("Free some space on that disk (`deliverylab cluster down` removes the cluster's "
            "data too), or point DELIVERYLAB_HOME at a larger disk, and run it again.")
Progress = Callable[[int, int], None]  # progress(done, total): panels draw a bar, the CLI a line


class Nemesis(Protocol):
    halt: threading.Event
    error: Exception | None

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def failure(self) -> LabError: ...


class Ticker:
    """The progress tick a supervisor calls while its worker runs: progress(done, total) at most
    every 0.1 s, with done = count() capped at total; finish() reports the run complete."""

    def __init__(self, count: Callable[[], int], total: int, progress: Progress | None) -> None:
        self.count, self.total, self.progress = count, total, progress
        self._last = 0.0

    def __call__(self) -> None:
        if self.progress and time.monotonic() - self._last > 0.1:
            self._last = time.monotonic()
            self.progress(min(self.count(), self.total), self.total)

    def finish(self) -> None:
        if self.progress:
            self.progress(self.total, self.total)


class Run:
    """One run's folder, ledger, client settings, names and processes (see the module doc)."""

    def __init__(self, cluster: Cluster, name: str, keep: bool = False) -> None:
        self.cluster, self.keep, self.name = cluster, keep, name
        runs = check_writable_folder(home_dir() / "runs", "run folder", FOLDER_FIX)
        self.dir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=runs))
        self.ledger = Ledger(self.dir / "ledger.sqlite")
        self.topics: list[str] = []
        self.groups: list[str] = []
        self.transactional_ids: list[str] = []
        self.group_linger_s = 15.0  # how long a killed member may keep a group non-empty
        self.t0 = time.time()
        self.worker_env = client_env(cluster.client_config())

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: object) -> None:
        # asked before the folder goes: its removal frees the space the probe would miss
        full = exc is not None and not isinstance(exc, KeyboardInterrupt) and self._out_of_space(exc)
        self.close()
        if full:
            # whatever the full disk broke first (a ledger write, a worker, a read-back): one
            # paragraph, and the half-written run is gone with its folder, never counted
            raise LabError(f"The disk under the run folder {self.dir.parent} filled up during the "
                           f"run ({self.name}), so its ledger is incomplete: the run was stopped "
                           "and nothing of it is counted.", FULL_FIX) from None

    def _out_of_space(self, exc: BaseException) -> bool:
        """The error came from a full disk: ENOSPC/EDQUOT or SQLite's "disk is full" anywhere
        in its chain, or (a worker's or thread's error that lost the reason) a folder that
        takes no new file now."""
        seen: BaseException | None = exc
        while seen is not None:
            if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
                return True
            if any(word in str(seen) for word in ("disk is full", "No space left on device")):
                return True
            seen = seen.__cause__ or seen.__context__
        try:
            check_writable_folder(self.dir.parent, "run folder", FOLDER_FIX)
        except LabError as probe:
            return "No space left" in probe.problem or "quota" in probe.problem.lower()
        return False

    # --- names ------------------------------------------------------------------------------
    def topic(self, prefix: str, partitions: int = 1, replication_factor: int | None = None,
              config: dict[str, str] | None = None) -> str:
        """A fresh topic (its name is the prefix and a random suffix), created now."""
        name = unique_topic(prefix)
        self.create_topics([name], partitions, replication_factor, config)
        return name

    def create_topics(self, names: Sequence[str], partitions: int = 1,
                      replication_factor: int | None = None,
                      config: dict[str, str] | None = None) -> list[str]:
        """Topics with these names, created in one request (replication factor 3 on three
        brokers unless given)."""
        for name in names:
            check_topic_name(name)
        rf = replication_factor or min(3, self.cluster.size)
        admin = self.cluster.admin()  # kept alive until the answers are in
        futures = admin.create_topics(
            [NewTopic(n, num_partitions=partitions, replication_factor=rf, config=config or {})
             for n in names], operation_timeout=15, request_timeout=15)
        for name, fut in futures.items():
            try:
                fut.result(timeout=20)
            except KafkaException as exc:
                err = exc.args[0]
                if err.name() != "TOPIC_ALREADY_EXISTS":
                    raise LabError(f"Creating topic {name!r} ({partitions} partitions, replication "
                                   f"factor {rf}) failed: {err.str()}.",
                                   "A replication factor cannot exceed the number of live brokers; "
                                   "check the topic settings and `deliverylab cluster status`.") from None
            self.topics.append(name)
        return list(names)

    def group(self, topic: str) -> str:
        """The consumer (or share) group of the run's clients reading `topic`."""
        return self._remember(self.groups, group_for(topic))

    def transactional_id(self, topic: str, member: int | None = None) -> str:
        """The transactional.id of the run's producer writing for `topic` (one per member)."""
        return self._remember(self.transactional_ids, transactional_id(topic, member))

    @staticmethod
    def _remember(names: list[str], name: str) -> str:
        if name not in names:
            names.append(name)
        return name

    def client_config(self, **overrides: Any) -> dict[str, Any]:
        """Settings for a Kafka client in this process (librdkafka's log kept quiet)."""
        return quiet({**self.cluster.client_config(), **overrides})

    def write_spec(self, spec: dict[str, Any]) -> None:
        (self.dir / "spec.json").write_text(json.dumps(spec, default=str))

    # --- processes ----------------------------------------------------------------------------
    def supervise(self, role: str, deadline: float, tick: Callable[[], None] | None = None,
                  ledger: Ledger | None = None, stop: threading.Event | None = None) -> Supervision:
        """Worker `role` of this run, restarted after each crash, until it exits or the deadline
        passes. ledger: a connection of the calling thread's own (one per thread)."""
        return supervise(role, self.dir, ledger or self.ledger, deadline, tick=tick,
                         env=self.worker_env, stop=stop)

    def supervise_members(self, role: str, deadline: float, members: int,
                          tick: Callable[[], None] | None = None,
                          processed: Callable[[], int] | None = None,
                          joining_member: int | None = None,
                          join_after: int | None = None,
                          once_standing: Callable[[], None] | None = None,
                          stands: Callable[[Any], dict | None] | None = None) -> Supervision:
        """`members` members of one group, each its own supervised process; once_standing()
        runs once `stands(events)` says the group stands (members.supervise_members)."""
        return supervise_members(role, self.dir, self.ledger.path, deadline, members,
                                 self.worker_env, tick, processed, joining_member, join_after,
                                 once_standing, stands)

    def with_nemeses(self, nemeses: Iterable[Nemesis], work: Callable[[], T],
                     meanwhile: Callable[[], None] | None = None) -> T:
        """work() while the nemeses strike and heal. Once the work is done each is told to heal
        (in its own thread) and meanwhile() runs as they do — e.g. the read-back, while a killed
        broker's JVM takes seconds to serve again. A nemesis that failed is the error: also when
        the work failed, since the work was then only waiting for the fault."""
        nemeses = list(nemeses)
        for n in nemeses:
            n.start()
        try:
            result = work()
            for n in nemeses:
                n.halt.set()
            if meanwhile:
                meanwhile()
        except LabError as work_error:
            self._stop(nemeses)
            failed = next((n for n in nemeses if n.error), None)
            if failed is not None:
                raise failed.failure() from work_error
            raise
        except BaseException:
            self._stop(nemeses)
            raise
        self._stop(nemeses)
        failed = next((n for n in nemeses if n.error), None)
        if failed is not None:
            raise failed.failure()
        return result

    @staticmethod
    def _stop(nemeses: list[Nemesis]) -> None:
        for n in nemeses:
            n.stop()

    def ticker(self, count: Callable[[], int], total: int, progress: Progress | None) -> Ticker:
        return Ticker(count, total, progress)

    # --- read-back ----------------------------------------------------------------------------
    def read_back(self, topic: str, partitions: int, reader: str | None = None,
                  isolation: str = "read_committed", after_fault: bool = False,
                  row: Callable | None = None, timeout: float | None = None) -> list:
        """Every record of `topic`, read to its end (readback.read_topic: a topic not read to
        its end within `timeout`, readback.TIMEOUT_S by default, raises). With `reader`, the
        rows go into the ledger's readback table too."""
        rows = read_topic(self.cluster.client_config(), topic, partitions, isolation, timeout,
                          after_fault=after_fault, row=row)
        if reader is not None:
            self.ledger.readback(reader, rows)
        return rows

    def read_backs(self, views: dict[str, tuple[str, str]], partitions: int,
                   after_fault: bool = False) -> dict[str, list]:
        """Several readers at once, {reader: (topic, isolation)}: independent, so side by side;
        every reader's rows go into the ledger."""
        with ThreadPoolExecutor(len(views)) as pool:
            futures = {reader: pool.submit(read_topic, self.cluster.client_config(), topic,
                                           partitions, isolation, after_fault=after_fault)
                       for reader, (topic, isolation) in views.items()}
        rows = {reader: f.result() for reader, f in futures.items()}
        for reader, got in rows.items():
            self.ledger.readback(reader, got)
        return rows

    # --- the end ------------------------------------------------------------------------------
    def names(self) -> dict[str, Any]:
        """What a learner needs to look at this run with Kafka's own tools, and its folder."""
        return {"bootstrap": self.cluster.bootstrap_servers, "run_dir": str(self.dir),
                "topics": list(self.topics), "groups": list(self.groups),
                "transactional_ids": list(self.transactional_ids)}

    def kept(self) -> dict[str, Any]:
        """{"kept": names()} when the run is kept (its summary carries it), else {}."""
        return {"kept": self.names()} if self.keep else {}

    def close(self, wait: bool = False) -> None:
        """Close the ledger; unless kept, remove the folder, and delete the topics and groups —
        off the learner's wait unless `wait` (nothing in a Result depends on them). The thread
        is not a daemon, so a process that exits right after (the CLI) still deletes them."""
        self.ledger.close()
        if self.keep:
            return
        shutil.rmtree(self.dir, ignore_errors=True)
        cleanup = threading.Thread(target=self._delete_topics_and_groups,
                                   name="deliverylab-run-cleanup")
        cleanup.start()
        if wait:
            cleanup.join()

    def _delete_topics_and_groups(self) -> None:
        try:
            self.cluster.delete_topics(self.topics)
            self.cluster.delete_groups(self.groups, within_s=self.group_linger_s)
        except Exception:
            pass  # a run's cleanup must not hide its result


__all__ = ["Run", "Ticker", "Nemesis", "Progress"]

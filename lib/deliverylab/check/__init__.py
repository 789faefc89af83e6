"""Your own code under the lab's crashes, judged against the guarantee it claims.

The lab writes the input (records whose value carries an id, like ``{"id":"m000007",...}``),
runs your code in a process of its own, kills that process with SIGKILL at seeded moments while
records are at stake, restarts it, optionally fails a broker, waits until the group has no lag,
reads the output back and counts every input id: delivered once, lost, or duplicated. The claim
(`at-most-once`, `at-least-once`, `exactly-once`) holds or it does not; a run in which no crash
struck with records at stake says so and does not pass.

A function (a notebook cell or a script)::

    from deliverylab import check

    def my_consumer(consumer, process):        # consumer: a real confluent_kafka.Consumer,
        while True:                            # already subscribed to the input
            msg = consumer.poll(1.0)
            if msg is None or msg.error():
                continue
            process(msg)                       # the lab's effect: recorded, may take time
            consumer.commit(message=msg, asynchronous=False)

    report = check.consumer(my_consumer, claim="at-least-once", crashes=5, seed=1)
    report                   # in a notebook: verdict, counts, evidence, the timeline figure
    print(report)            # the same as text;  report.as_dict(): as JSON
    report.passed, report.status   # True / 'passed' | 'failed' | 'inconclusive'

Crashes fire in *your* code, at *your* calls: the consumer's poll, consume, commit,
store_offsets and close go straight to librdkafka, but the process may die just before one of
them (or before process()), in a gap between two calls where records are in hand, processed but
not committed, or committed but not processed. The report says which crash lost or repeated
which ids ("crash 2 (1.3 s, after your commit() returned, before your process() call): ids 51–60
had been committed before their work was done, so the restart skipped them").

When the input is done and your loop polls again, that poll raises `InputDone` (a
BaseException): your loop ends as on a shutdown, its `finally` blocks run.

- ``check.consumer(fn, claim, ...)``: ``fn(consumer, process)``.
- ``check.transactional(fn, claim, ...)``: ``fn(consumer, producer, output_topic)`` — a
  consume-transform-produce loop; the producer is transactional (``init_transactions()`` done),
  the consumer reads ``read_committed``; the output is read back ``read_committed``, and each
  output record's value must carry the input's id (copy ``msg.value()``).
- ``check.producer(fn, claim, fault=...)``: ``fn(producer, topic, messages)`` — your send loop
  over ``messages`` ((key, value) pairs, at ``rate`` per second); delivery reports are recorded
  before your own callback runs; counted as acked-but-lost, failed-reported, unacked-but-stored.
  After a crash the restarted function is given what its outbox still holds (what was not
  acknowledged).
- ``check.program(argv, claim, ...)`` (the CLI: ``deliverylab check --claim at-least-once
  --crashes 8 -- python my_app.py``): any program in any language, under the contract of
  docs/CHECK.md.

The course's exercises (cells tagged ``exercise`` / ``check`` / ``solution`` in 02, 03, 06) are
read and run by ``check.exercises``; ``deliverylab check --notebook FILE.ipynb …`` runs every
exercise of learners' notebooks and prints the instructor's table.

Common options: ``crashes`` (default 5), ``seed``, ``messages`` (200), ``partitions`` (1),
``fault`` (a broker fault, e.g. "kill-leader"), ``processing_ms`` (the time process() takes),
``consumer_config`` / ``producer_config`` (librdkafka keys, verbatim; the consumer defaults to
``enable.auto.commit=false``), ``time_limit_s``, ``stall_s`` (code that makes no call the lab
sees for this long is an error, not a wait), ``keep`` (keep the run folder).

A function is sent to its process with cloudpickle, by value: what it reads from the notebook is
*copied* there. Open clients, sockets, files, locks and threads cannot be copied (make them
inside the function), and changes it makes to notebook objects are not seen by the notebook.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence

from ..ids import check_messages
from .clients import InputDone
from .guarantees import CLAIMS, guarantee
from .schedule import check_crashes
from .shipping import check_signature, pack

if TYPE_CHECKING:  # the worker process imports this package: pandas would add 0.7 s per start
    from ..cluster import Cluster
    from .report import Report

MODES = ("consumer", "transactional", "producer")


def _function(mode: str, api: str, fn: Callable[..., Any], claim: str, crashes: int, *,
              cluster: Cluster | None, **options: Any) -> Report:
    from .runner import Plan, run

    g = guarantee(claim)  # every check of the arguments comes before anything starts
    check_signature(fn, mode, api)
    messages = options.get("messages", 200)
    check_messages(messages, "Use e.g. messages=200.")
    plan = Plan(mode, f"{getattr(fn, '__name__', 'function')} (function)", g,
                crashes=check_crashes(crashes, messages if isinstance(messages, int) else 0),
                function=pack(fn, api), function_name=getattr(fn, "__name__", "your function"),
                **options)
    return run(plan, cluster)


def consumer(fn: Callable[..., Any], claim: str = "at-least-once", crashes: int = 5, *,
             seed: int = 1, messages: int = 200, partitions: int = 1, processing_ms: float = 0.0,
             fault: str | None = None, consumer_config: dict[str, Any] | None = None,
             time_limit_s: float = 120.0, stall_s: float = 15.0, keep: bool = False,
             cluster: Cluster | None = None) -> Report:
    """Check a consumer loop `fn(consumer, process)` against `claim` (see the module doc)."""
    return _function("consumer", "check.consumer", fn, claim, crashes, cluster=cluster, seed=seed,
                     messages=messages, partitions=partitions, processing_ms=processing_ms,
                     fault=fault, consumer_config=dict(consumer_config or {}),
                     time_limit_s=time_limit_s, stall_s=stall_s, keep=keep)


def transactional(fn: Callable[..., Any], claim: str = "exactly-once", crashes: int = 5, *,
                  seed: int = 1, messages: int = 200, partitions: int = 1,
                  fault: str | None = None, consumer_config: dict[str, Any] | None = None,
                  producer_config: dict[str, Any] | None = None, time_limit_s: float = 120.0,
                  stall_s: float = 15.0, keep: bool = False,
                  cluster: Cluster | None = None) -> Report:
    """Check a consume-transform-produce loop `fn(consumer, producer, output_topic)`."""
    return _function("transactional", "check.transactional", fn, claim, crashes, cluster=cluster,
                     seed=seed, messages=messages, partitions=partitions, fault=fault,
                     consumer_config=dict(consumer_config or {}),
                     producer_config=dict(producer_config or {}), time_limit_s=time_limit_s,
                     stall_s=stall_s, keep=keep)


def producer(fn: Callable[..., Any], claim: str = "at-least-once", crashes: int = 0, *,
             fault: str | None = None, seed: int = 1, messages: int = 1000, rate: float = 500.0,
             config: dict[str, Any] | None = None, partitions: int = 1,
             time_limit_s: float = 120.0, stall_s: float = 15.0, keep: bool = False,
             cluster: Cluster | None = None) -> Report:
    """Check a send loop `fn(producer, topic, messages)`; `config`: the producer's librdkafka
    settings (acks, enable.idempotence, …), verbatim."""
    return _function("producer", "check.producer", fn, claim, crashes, cluster=cluster, seed=seed,
                     messages=messages, rate=rate, fault=fault, partitions=partitions,
                     producer_config=dict(config or {}), time_limit_s=time_limit_s,
                     stall_s=stall_s, keep=keep)


def program(argv: Sequence[str], claim: str = "at-least-once", crashes: int = 5, *,
            seed: int = 1, messages: int = 200, partitions: int = 1, fault: str | None = None,
            time_limit_s: float = 120.0, stall_s: float = 15.0, keep: bool = False,
            cluster: Cluster | None = None) -> Report:
    """Check any program (a command line) under the contract of docs/CHECK.md."""
    from .contract import check_command
    from .runner import Plan, run

    g = guarantee(claim)
    check_messages(messages, "Use e.g. messages=200.")
    argv = check_command(list(argv))
    plan = Plan("program", f"`{' '.join(argv)}` (program)", g,
                crashes=check_crashes(crashes, messages if isinstance(messages, int) else 0),
                seed=seed, messages=messages, partitions=partitions, fault=fault,
                time_limit_s=time_limit_s, stall_s=stall_s, keep=keep, argv=argv)
    return run(plan, cluster)




def __getattr__(name: str) -> Any:
    if name in ("Report", "EXIT_CODES"):
        from . import report
        return getattr(report, name)
    raise AttributeError(name)


__all__ = ["CLAIMS", "EXIT_CODES", "InputDone", "MODES", "Report", "consumer", "producer",
           "program", "transactional"]

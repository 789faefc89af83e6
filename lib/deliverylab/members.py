"""N members of one consumer group, each its own supervised OS process.

Each member has a supervisor of its own (a thread here): it restarts that member after each of
its crashes, and the member's starts are numbered apart (member m's starts are m*1000, m*1000+1,
…), so the ledger tells the members apart. A member scheduled to join later (scale-out) starts
once the group has processed `join_after` records. The run ends when every member has exited
(the group's input is done, see workers/membership.py) or the time limit passes.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable

from .errors import LabError, require_whole
from .ledger import Ledger
from .supervisor import Supervision, supervise
from .vocabulary import (ASSIGNED, AT_LEAST_ONCE, CRASH, EXIT, GROUP_STANDS, PARTITIONS_LOST,
                         REVOKED)
from .ids import worker_number
from .workers.membership import ASSIGNORS, REFUSED_BY_CONSUMER_PROTOCOL, group_settings

SCENARIOS = ("scenario-2-applied", "scenario-2-lost")
# The most member processes a run starts (consumer and share groups): each is a Python
# interpreter with librdkafka (~40 MB and ~0.4 s of a core to start, measured here), restarted
# after every crash, beside three broker JVMs. Past a dozen, a 2-4 core laptop spends the run
# starting processes, and the timing a lesson shows is the machine's, not Kafka's.
MAX_MEMBERS = 12
MEMBERS_FIX = (f"Use 1 to {MAX_MEMBERS} members: each is its own OS process (Python and "
               "librdkafka) that a laptop starts beside the brokers; a group shows its rebalances "
               "with 2 or 3.")


def check_group(spec: Any) -> None:
    """A ConsumerExperiment's group fields, checked before any process starts: one paragraph
    naming the bad value and the fix."""
    if spec.membership not in ("assign", "group"):
        raise LabError(f"membership={spec.membership!r} is not a membership.",
                       "Use 'assign' (one worker owns every partition) or 'group' (members "
                       "subscribe() and the group coordinator assigns partitions).")
    require_whole("members", spec.members, "Use e.g. members=3 with membership='group'.")
    if spec.membership == "assign" and spec.members != 1:
        raise LabError(f"members={spec.members} needs membership='group': with assign() every "
                       "worker would own every partition.", "Add membership='group', or use members=1.")
    if spec.group_protocol not in ("classic", "consumer"):
        raise LabError(f"group_protocol={spec.group_protocol!r} is not a group protocol.",
                       "Use 'classic' (client-side assignors) or 'consumer' (KIP-848, the broker "
                       "assigns; .NET GroupProtocol = Consumer).")
    if spec.assignor is not None and spec.assignor not in ASSIGNORS:
        raise LabError(f"assignor={spec.assignor!r} is not an assignor librdkafka knows.",
                       f"Use one of {', '.join(ASSIGNORS)} (partition.assignment.strategy).")
    for name in ("session_timeout_ms", "max_poll_interval_ms"):
        if getattr(spec, name) is not None:
            require_whole(name, getattr(spec, name), f"Use e.g. {name}=6000 (milliseconds), or None.")
    conf = {**group_settings(vars(spec)), **spec.consumer_config}
    if conf.get("group.protocol") == "consumer":
        refused = [k for k in REFUSED_BY_CONSUMER_PROTOCOL if k in conf]
        if refused:
            field = {"session.timeout.ms": "session_timeout_ms",
                     "partition.assignment.strategy": "assignor"}.get(refused[0], refused[0])
            raise LabError(
                f"{refused[0]}={conf[refused[0]]!r} is refused with group.protocol=consumer "
                "(KIP-848): the broker assigns partitions and times members out, so librdkafka "
                "rejects session.timeout.ms, heartbeat.interval.ms and "
                "partition.assignment.strategy there.",
                f"Drop {field} (the group's own config governs, e.g. "
                "consumer.session.timeout.ms, default 45 s, set with kafka-configs.sh "
                "--entity-type groups), or use group_protocol='classic'.")
    if conf.get("group.protocol") == "classic" and spec.membership == "group" and \
            "max.poll.interval.ms" in conf and int(conf["max.poll.interval.ms"]) < int(conf["session.timeout.ms"]):
        # librdkafka refuses it when the consumer is made: the member would never start.
        raise LabError(f"max.poll.interval.ms={conf['max.poll.interval.ms']} is shorter than "
                       f"session.timeout.ms={conf['session.timeout.ms']}: librdkafka refuses a "
                       "classic group member whose max.poll.interval.ms is below its session timeout.",
                       f"Use max_poll_interval_ms ≥ {conf['session.timeout.ms']}, or a shorter "
                       "session_timeout_ms (the lab uses 6000, the brokers' floor).")
    if spec.membership == "assign":
        group_only = [n for n in ("static", "commit_on_revoke", "leaving_member", "joining_member")
                      if getattr(spec, n)]
        if group_only:
            raise LabError(f"{group_only[0]} needs membership='group' (it is about a group's "
                           "members).", "Add membership='group', members=3.")
    for who, after in (("leaving_member", "leave_after"), ("joining_member", "join_after")):
        m = getattr(spec, who)
        if m is not None and not (isinstance(m, int) and 0 <= m < spec.members):
            raise LabError(f"{who}={m!r} is not one of the {spec.members} members (0…{spec.members - 1}).",
                           f"Use e.g. {who}={spec.members - 1}.")
        if m is not None and getattr(spec, after) is None:
            raise LabError(f"{who}={m} needs {after}: how many records the group processes first.",
                           f"E.g. {after}={spec.messages // 3}.")
    if spec.leaving_member is not None and spec.model != AT_LEAST_ONCE:
        raise LabError(f"A member leaving mid-run is a lesson of at-least-once (its uncommitted "
                       f"tail), not of {spec.model}.", "Use model='at-least-once'.")
    if spec.scenario is not None:
        if spec.scenario not in SCENARIOS:
            raise LabError(f"Unknown scenario {spec.scenario!r}.", f"Use one of {', '.join(SCENARIOS)}.")
        if spec.model != AT_LEAST_ONCE or spec.membership != "assign":
            raise LabError(f"{spec.scenario} runs the at-least-once worker alone (assign), not "
                           f"{spec.model} with membership={spec.membership!r}.",
                           "Use model='at-least-once', membership='assign'.")
        every = spec.commit_every or 0
        if not every or spec.messages < 3 * every:
            raise LabError(f"{spec.scenario} needs commits before the one in flight "
                           f"(messages={spec.messages}, commit_every={spec.commit_every!r}).",
                           "Use e.g. messages=100, commit_every=10.")
        if spec.crash is not None and spec.crash.point != "commit-in-flight":
            raise LabError(f"{spec.scenario} crashes at commit-in-flight, not {spec.crash.point!r}.",
                           "Leave crash=None: the scenario places it.")


def check_group_on(spec: Any, cluster: Any) -> None:
    """The group settings the brokers would refuse, asked of one broker before anything starts
    (< 0.1 s): a session timeout outside group.min/max.session.timeout.ms would have every member
    refused (INVALID_SESSION_TIMEOUT) and the run consume nothing. Where the brokers' settings
    cannot be read (an external cluster without DESCRIBE_CONFIGS), the members' join is the
    check: its refusal ends the run with the same reason (workers/common.py: check_message)."""
    if spec.membership != "group":
        return
    conf = {**group_settings(vars(spec)), **spec.consumer_config}
    if conf.get("group.protocol") != "classic":
        return
    bounds = broker_settings(cluster, ("group.min.session.timeout.ms", "group.max.session.timeout.ms"))
    if bounds is None:
        return
    low, high = (int(v) for v in bounds)
    session = int(conf["session.timeout.ms"])
    if not low <= session <= high:
        given = "consumer_config['session.timeout.ms']" if "session.timeout.ms" in spec.consumer_config \
            else "session_timeout_ms"
        raise LabError(f"session.timeout.ms={session} ({given}) is outside what the brokers at "
                       f"{cluster.bootstrap_servers} accept: group.min.session.timeout.ms={low}, "
                       f"group.max.session.timeout.ms={high}. Every member's join would be refused "
                       "(INVALID_SESSION_TIMEOUT) and the run would consume nothing.",
                       f"Use a session timeout from {low} to {high} ms, e.g. {max(low, 6000)}.")


def member_linger_s(spec: dict[str, Any]) -> float:
    """How long a member killed at the run's end (a crash, the time limit) may keep its group
    non-empty, which the brokers refuse to delete (NON_EMPTY_GROUP): its session timeout, and a
    margin for the coordinator's check. KIP-848 groups: the brokers' session bound
    (group.consumer.max.session.timeout.ms, 60000 by default; the lab's brokers use 6000)."""
    if spec.get("membership") != "group":
        return 0.0
    conf = group_settings(spec)
    session_ms = int(conf["session.timeout.ms"]) if conf["group.protocol"] == "classic" else 60000
    return session_ms / 1000 + 5.0


def broker_settings(cluster: Any, keys: tuple[str, ...]) -> list[str] | None:
    """These broker settings as the first broker reports them, or None if it does not say."""
    from confluent_kafka.admin import ConfigResource

    admin = cluster.admin()  # kept until the answer is in: a dropped client aborts its futures
    try:
        broker = next(iter(admin.list_topics(timeout=5).brokers))
        resource = ConfigResource("broker", str(broker))
        got = admin.describe_configs([resource], request_timeout=5)[resource].result(timeout=10)
        return [got[k].value for k in keys]
    except Exception:  # no rights, an old broker, a timeout: the members' join checks instead
        return None


def wait_for_group(ledger_path: Path, stands: Callable[[Any], dict | None], deadline: float,
                   stop: threading.Event) -> bool:
    """Block until the group stands (`stands` over the ledger's membership events says who holds
    what: group_result.group_stands), then record it (GROUP_STANDS, detail: who holds what) and
    return True; False when the deadline passed or `stop` was set first (the members'
    supervision then says why)."""
    import json

    import pandas as pd

    ledger = Ledger(ledger_path)
    try:
        while time.time() < deadline and not stop.is_set():
            events = pd.read_sql_query(
                "SELECT kind, worker, detail, t FROM events WHERE kind IN (?, ?, ?, ?, ?)",
                ledger.conn, params=(ASSIGNED, REVOKED, PARTITIONS_LOST, CRASH, EXIT))
            holding = stands(events)
            if holding is not None:
                ledger.event(GROUP_STANDS, -1, 0, json.dumps({"holdings": holding}))
                return True
            time.sleep(0.05)
        return False
    finally:
        ledger.close()


def supervise_members(role: str, run_dir: Path, ledger_path: Path, deadline: float, members: int,
                      env: dict[str, str], tick: Callable[[], None] | None = None,
                      processed: Callable[[], int] | None = None,
                      joining_member: int | None = None, join_after: int | None = None,
                      once_standing: Callable[[], None] | None = None,
                      stands: Callable[[Any], dict | None] | None = None) -> Supervision:
    """once_standing: run (in a thread of its own) once the group stands — `stands(events)`
    says who holds what, or None while the group forms; the run writes its input there, so
    nothing is processed, crashed or faulted while the group is still forming. Its error is
    the run's error."""
    reports: list[Supervision | None] = [None] * members
    errors: list[BaseException] = []
    stop = threading.Event()  # an interrupt in this (the main) thread stops every member

    def member(m: int) -> None:
        ledger = Ledger(ledger_path)  # a connection of its own: one per thread
        try:
            if m == joining_member and join_after is not None and processed is not None:
                while processed() < join_after and time.time() < deadline and not stop.is_set():
                    time.sleep(0.02)
                if stop.is_set():
                    return
            reports[m] = supervise(role, run_dir, ledger, deadline, env=env,
                                   first_worker=worker_number(m), stop=stop)
        except BaseException as exc:  # surfaced after every member has stopped
            errors.append(exc)
            stop.set()  # this member cannot go on, so neither can the run: stop the others now
        finally:
            ledger.close()

    def standing() -> None:
        try:
            starting = [m for m in range(members) if m != joining_member]
            if wait_for_group(ledger_path, stands, deadline, stop):
                once_standing()
            elif not stop.is_set():  # the deadline: no input was written, so nothing to count
                raise LabError(
                    f"The group's {len(starting)} members did not all get partitions within the "
                    "run's time limit, so its input was never written: the run could not happen "
                    "and nothing of it is counted.",
                    "Give the run a longer time_limit_s (--time-limit), or use fewer members.")
        except BaseException as exc:
            errors.append(exc)
            stop.set()

    threads = [threading.Thread(target=member, args=(m,), name=f"member-{m}", daemon=True)
               for m in range(members)]
    if once_standing is not None and stands is not None:
        threads.append(threading.Thread(target=standing, name="group-stands", daemon=True))
    try:
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            if tick:
                tick()
            time.sleep(0.05)
    except BaseException:
        # A kernel interrupt (KeyboardInterrupt) reaches this thread only. Each member's
        # supervisor SIGKILLs its worker when told to stop; wait for all of them, so that the
        # run's cleanup (folder, topics) starts with no worker left.
        stop.set()
        for t in threads:
            t.join(30)
        raise
    if errors:
        raise errors[0]  # the first: the others are the members it stopped
    done = [r for r in reports if r is not None]
    return Supervision(role, starts=sum(r.starts for r in done), crashes=sum(r.crashes for r in done),
                       timed_out=any(r.timed_out for r in done),
                       elapsed_s=max((r.elapsed_s for r in done), default=0.0),
                       rejoins=sum(r.rejoins for r in done))

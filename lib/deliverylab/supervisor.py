"""Starts a worker process, restarts it after each crash, bounds the run in time, reaps it.

Every start, crash, restart and exit is written to the ledger with its time. No path out of
`supervise` — success, crash loop, time limit, error, KeyboardInterrupt — leaves the worker alive,
nor any process it started: a worker is killed with its whole process tree.

The worker is the lab's own (`python -m deliverylab.workers ROLE`) or any command line
(`command=`: a program under `deliverylab check`, in any language). A command runs in a session
of its own (a Ctrl-C in the terminal reaches the lab, which stops it), writes stdout and stderr
to one log in the run folder, and may exit when it has done its part: `again=` says whether to
start it once more.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import psutil

from .crash import crash_of
from .errors import LabError
from .ledger import Ledger
from .vocabulary import (CRASH, EXIT, INPUT, INTERRUPTED, REJOIN, RESTART, START, STOP, TIMEOUT,
                         WORKER_ERROR)
from .workers import exits


@dataclass
class Supervision:
    role: str
    starts: int = 0
    crashes: int = 0
    timed_out: bool = False
    elapsed_s: float = 0.0
    rejoins: int = 0  # starts again after a refusal for now (exits.REJOIN)


def worker_pythonpath() -> str:
    """PYTHONPATH for a worker process: this package first, then the caller's."""
    pkg_parent = str(Path(__file__).resolve().parents[1])
    return os.pathsep.join(p for p in (pkg_parent, os.environ.get("PYTHONPATH")) if p)


# At the time limit a worker's loop stops by itself within one poll (0.5 s), commits what it
# processed and closes its consumer, which leaves the group at once; a worker killed instead
# stays a member until its session times out, and its group cannot be deleted before that. So
# it gets this long past the deadline before the SIGKILL.
DEADLINE_GRACE_S = 3.0
# A worker refused for now (exits.REJOIN) starts again after this pause: a static member's id
# is released when its dead predecessor's session expires (seconds), so a second is at most a
# second late, and a few dozen refusals per minute are cheap.
REJOIN_PAUSE_S = 1.0


def _last_line(err_path: Path, code: int) -> str:
    lines = err_path.read_text(errors="replace").strip().splitlines() if err_path.exists() else []
    return lines[-1] if lines else f"exit code {code}"


def _reason(line: str) -> dict[str, str]:
    try:
        got = json.loads(line)
    except ValueError:
        return {}
    return got if isinstance(got, dict) else {}


def _pause(seconds: float, deadline: float, stop: threading.Event | None) -> None:
    end = min(time.time() + seconds, deadline)
    while time.time() < end and not (stop is not None and stop.is_set()):
        time.sleep(0.02)


def _recorded(ledger: Ledger, kind: str, pid: int) -> bool:
    """Whoever kills a worker on purpose writes it first: CRASH (a crash point, or the check's
    kill of a program) or STOP (the lab ended a program that does not exit by itself)."""
    return ledger.conn.execute("SELECT 1 FROM events WHERE kind = ? AND pid = ?",
                               (kind, pid)).fetchone() is not None


def kill_tree(pid: int, sig: int = signal.SIGKILL) -> None:
    """Send `sig` to the process and to every process below it (`dotnet run` and `mvn exec`
    start the app as a child; a shell script starts several). The children are listed first,
    then the parent is signalled, so it cannot start another one meanwhile."""
    try:
        parent = psutil.Process(pid)
        family = [parent, *parent.children(recursive=True)]
    except psutil.Error:
        return
    for p in family:
        try:
            p.send_signal(sig)
        except psutil.Error:
            pass


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        kill_tree(proc.pid)
        proc.wait(10)


# A restart's floor is a fresh Python process: start-up and imports take 0.1–0.2 s on a quiet
# 2-core machine, more under load. So while a worker runs, its successor is started ahead as a
# standby: imports done, waiting in WorkerContext.load (workers/common.py) for "go" on its stdin,
# before it has read the spec or made a Kafka client. A crash then costs only the client start.
STANDBY_ENV = "DELIVERYLAB_WORKER_STANDBY"


def _killed_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: a command dies with the lab even when the lab is killed outright (the lab's own
    workers ask for the same themselves, see workers/__main__.py)."""
    from .cluster.processes import die_with_parent

    die_with_parent(signal.SIGKILL)


Command = Callable[[int], Sequence[str]]  # the worker's number -> its command line


def _spawn(role: str, run_dir: Path, worker: int, env: dict[str, str],
           standby: bool, command: Command | None = None) -> subprocess.Popen:
    err_path = run_dir / f"{role}-{worker}.stderr"
    with err_path.open("w") as err:
        if command is not None:
            return subprocess.Popen(list(command(worker)), cwd=os.getcwd(),
                                    stdin=subprocess.PIPE if standby else subprocess.DEVNULL,
                                    stdout=err, stderr=subprocess.STDOUT, start_new_session=True,
                                    env={**env, STANDBY_ENV: "1"} if standby else env,
                                    preexec_fn=_killed_with_parent if sys.platform == "linux" else None)
        return subprocess.Popen([sys.executable, "-m", "deliverylab.workers", role,
                                 str(run_dir), str(worker)],
                                stdin=subprocess.PIPE if standby else subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err,
                                env={**env, STANDBY_ENV: "1"} if standby else env)


def _go(proc: subprocess.Popen) -> None:
    """Let a standby worker start (a standby that already died is reported by its exit code)."""
    if proc.stdin is None:
        return
    try:
        proc.stdin.write(b"go\n")
        proc.stdin.close()
    except OSError:
        pass


def _may_crash(role: str, run_dir: Path) -> bool:
    """Whether a successor may be needed: the run has a crash schedule (the input writer never
    crashes). A standby that is not needed is stopped at the end, unused."""
    if role == INPUT:
        return False
    try:
        return bool(crash_of(json.loads((run_dir / "spec.json").read_text()), role))
    except (OSError, ValueError):
        return False


def supervise(role: str, run_dir: Path, ledger: Ledger, deadline: float,
              tick: Callable[[], None] | None = None, max_starts: int = 10_000,
              env: dict[str, str] | None = None, first_worker: int = 0,
              stop: threading.Event | None = None, command: Command | None = None,
              standby: bool | None = None, again: Callable[[], bool] | None = None) -> Supervision:
    """Run `role` until it exits cleanly; restart it (same group / transactional.id) after crashes.

    env: extra environment for the worker only (e.g. DELIVERYLAB_CLIENT_JSON, the client
    settings, which may hold a SASL password): the caller's own os.environ is never changed.
    first_worker: the number of the first start (a group member's starts are numbered apart).
    stop: set by whoever supervises this supervisor from another thread (a group's members): the
    run was interrupted there, and this worker must stop as if the interrupt had reached here —
    a KeyboardInterrupt only ever reaches the main thread.
    command: start this command line instead of the lab's worker module (see the module doc).
    standby: start each successor ahead (it must wait for "go" on stdin, as
    workers/common.wait_for_turn does); default: the lab's workers, when the spec crashes.
    again: after a clean exit (or a recorded 'stop'), start the worker once more if this says
    so (a program that exits when it has caught up, while the group still has lag)."""
    report = Supervision(role)
    t0 = time.monotonic()
    env = {**os.environ, **(env or {}), "PYTHONPATH": worker_pythonpath()}
    ahead = _may_crash(role, run_dir) if standby is None else standby
    successor: subprocess.Popen | None = None  # the standby started ahead
    # The codes of workers/exits.py are the lab's own workers' words; a program's exit code is its own.
    lab_worker = command is None
    try:
        while True:
            if time.time() > deadline:
                report.timed_out = True
                ledger.event(TIMEOUT, report.starts, 0, role)
                break
            worker = first_worker + report.starts
            err_path = run_dir / f"{role}-{worker}.stderr"
            proc = successor or _spawn(role, run_dir, worker, env, False, command)
            successor = None
            _go(proc)
            ledger.event(RESTART if report.starts else START, worker, proc.pid, role)
            report.starts += 1
            if ahead and report.starts < max_starts:
                successor = _spawn(role, run_dir, worker + 1, env, True, command)
            try:
                while proc.poll() is None:
                    if stop is not None and stop.is_set():
                        raise KeyboardInterrupt(f"{role} worker {worker}: the run was interrupted")
                    if time.time() > deadline + DEADLINE_GRACE_S:
                        _stop(proc)
                        break
                    if tick:
                        tick()
                    time.sleep(0.02)
            except BaseException:  # KeyboardInterrupt (a kernel interrupt) included
                _stop(proc)
                ledger.event(INTERRUPTED, worker, proc.pid, role)
                raise
            code = proc.returncode
            if code == exits.DONE or _recorded(ledger, STOP, proc.pid):
                ledger.event(EXIT, worker, proc.pid, role)
                if again is not None and report.starts < max_starts and again():
                    continue
                break
            if code == -signal.SIGKILL and _recorded(ledger, CRASH, proc.pid):
                report.crashes += 1
                if report.starts >= max_starts:
                    break
                continue
            if lab_worker and code == exits.REJOIN and report.starts < max_starts:
                # Not a crash point and not a failure: refused for now. Start it again.
                ledger.event(REJOIN, worker, proc.pid, _last_line(err_path, code))
                report.rejoins += 1
                _pause(REJOIN_PAUSE_S, deadline, stop)
                continue
            if (lab_worker and code == exits.TIME_LIMIT) or time.time() > deadline:
                report.timed_out = True
                ledger.event(TIMEOUT, worker, proc.pid, role)
                break
            detail = _last_line(err_path, code)
            ledger.event(WORKER_ERROR, worker, proc.pid, json.dumps({"code": code, "detail": detail}))
            refused = _reason(detail) if lab_worker and code == exits.REFUSED else {}
            if refused.get("problem"):
                raise LabError(refused["problem"], refused.get("fix", ""))
            raise LabError(f"The {role} worker stopped with an error (exit code {code}): {detail}",
                           "Check the experiment's settings and `deliverylab cluster status`; "
                           "run it again with keep=True to keep the worker's full "
                           f"output ({err_path.name} in the run folder).")
    finally:
        _stop(successor)  # an unused successor: never told to go, it has touched nothing
    report.elapsed_s = time.monotonic() - t0
    return report

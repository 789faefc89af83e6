"""Starts a worker process, restarts it after each crash, bounds the run in time, reaps it.

Every start, crash, restart and exit is written to the ledger with its time. No path out of
`supervise` — success, crash loop, time limit, error, KeyboardInterrupt — leaves the worker alive.
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
from typing import Callable

from .errors import LabError
from .ledger import Ledger
from .vocabulary import CRASH, EXIT, INPUT, INTERRUPTED, REJOIN, RESTART, START, TIMEOUT, WORKER_ERROR
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


def _crash_recorded(ledger: Ledger, pid: int) -> bool:
    return ledger.conn.execute("SELECT 1 FROM events WHERE kind = ? AND pid = ?",
                               (CRASH, pid)).fetchone() is not None


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)


# A restart's floor is a fresh Python process: start-up and imports take 0.1–0.2 s on a quiet
# 2-core machine, more under load. So while a worker runs, its successor is started ahead as a
# standby: imports done, waiting in WorkerContext.load (workers/common.py) for "go" on its stdin,
# before it has read the spec or made a Kafka client. A crash then costs only the client start.
STANDBY_ENV = "DELIVERYLAB_WORKER_STANDBY"


def _spawn(role: str, run_dir: Path, worker: int, env: dict[str, str],
           standby: bool) -> subprocess.Popen:
    err_path = run_dir / f"{role}-{worker}.stderr"
    with err_path.open("w") as err:
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
        return bool(json.loads((run_dir / "spec.json").read_text()).get("crash"))
    except (OSError, ValueError):
        return False


def supervise(role: str, run_dir: Path, ledger: Ledger, deadline: float,
              tick: Callable[[], None] | None = None, max_starts: int = 10_000,
              env: dict[str, str] | None = None, first_worker: int = 0,
              stop: threading.Event | None = None) -> Supervision:
    """Run `role` until it exits cleanly; restart it (same group / transactional.id) after crashes.

    env: extra environment for the worker only (e.g. DELIVERYLAB_CLIENT_JSON, the client
    settings, which may hold a SASL password): the caller's own os.environ is never changed.
    first_worker: the number of the first start (a group member's starts are numbered apart).
    stop: set by whoever supervises this supervisor from another thread (a group's members): the
    run was interrupted there, and this worker must stop as if the interrupt had reached here —
    a KeyboardInterrupt only ever reaches the main thread."""
    report = Supervision(role)
    t0 = time.monotonic()
    env = {**os.environ, **(env or {}), "PYTHONPATH": worker_pythonpath()}
    ahead = _may_crash(role, run_dir)
    standby: subprocess.Popen | None = None
    try:
        while True:
            if time.time() > deadline:
                report.timed_out = True
                ledger.event(TIMEOUT, report.starts, 0, role)
                break
            worker = first_worker + report.starts
            err_path = run_dir / f"{role}-{worker}.stderr"
            proc = standby or _spawn(role, run_dir, worker, env, standby=False)
            standby = None
            _go(proc)
            ledger.event(RESTART if report.starts else START, worker, proc.pid, role)
            report.starts += 1
            if ahead and report.starts < max_starts:
                standby = _spawn(role, run_dir, worker + 1, env, standby=True)
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
            if code == exits.DONE:
                ledger.event(EXIT, worker, proc.pid, role)
                break
            if code == -signal.SIGKILL and _crash_recorded(ledger, proc.pid):
                report.crashes += 1
                if report.starts >= max_starts:
                    break
                continue
            if code == exits.REJOIN and report.starts < max_starts:
                # Not a crash point and not a failure: refused for now. Start it again.
                ledger.event(REJOIN, worker, proc.pid, _last_line(err_path, code))
                report.rejoins += 1
                _pause(REJOIN_PAUSE_S, deadline, stop)
                continue
            if code == exits.TIME_LIMIT or time.time() > deadline:
                report.timed_out = True
                ledger.event(TIMEOUT, worker, proc.pid, role)
                break
            detail = _last_line(err_path, code)
            ledger.event(WORKER_ERROR, worker, proc.pid, json.dumps({"code": code, "detail": detail}))
            refused = _reason(detail) if code == exits.REFUSED else {}
            if refused.get("problem"):
                raise LabError(refused["problem"], refused.get("fix", ""))
            raise LabError(f"The {role} worker stopped with an error (exit code {code}): {detail}",
                           "Check the experiment's settings and `deliverylab cluster status`; "
                           "run it again with keep=True (--keep) to keep the worker's full "
                           f"output ({err_path.name} in the run folder).")
    finally:
        _stop(standby)  # an unused successor: never told to go, it has touched nothing
    report.elapsed_s = time.monotonic() - t0
    return report

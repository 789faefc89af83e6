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
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .errors import LabError
from .ledger import Ledger


@dataclass
class Supervision:
    role: str
    starts: int = 0
    crashes: int = 0
    timed_out: bool = False
    elapsed_s: float = 0.0


def _pythonpath() -> str:
    pkg_parent = str(Path(__file__).resolve().parents[1])
    return os.pathsep.join(p for p in (pkg_parent, os.environ.get("PYTHONPATH")) if p)


def _crash_recorded(ledger: Ledger, pid: int) -> bool:
    return ledger.conn.execute("SELECT 1 FROM events WHERE kind = 'crash' AND pid = ?",
                               (pid,)).fetchone() is not None


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)


def supervise(role: str, run_dir: Path, ledger: Ledger, deadline: float,
              tick: Callable[[], None] | None = None, max_starts: int = 10_000,
              env: dict[str, str] | None = None, first_worker: int = 0) -> Supervision:
    """Run `role` until it exits cleanly; restart it (same group / transactional.id) after crashes.

    env: extra environment for the worker only (e.g. DELIVERYLAB_CLIENT_JSON, the client
    settings, which may hold a SASL password): the caller's own os.environ is never changed.
    first_worker: the number of the first start (a group member's starts are numbered apart)."""
    report = Supervision(role)
    t0 = time.monotonic()
    env = {**os.environ, **(env or {}), "PYTHONPATH": _pythonpath()}
    while True:
        if time.time() > deadline:
            report.timed_out = True
            ledger.event("timeout", report.starts, 0, role)
            break
        worker = first_worker + report.starts
        err_path = run_dir / f"{role}-{worker}.stderr"
        with err_path.open("w") as err:
            proc = subprocess.Popen([sys.executable, "-m", "deliverylab.workers", role,
                                     str(run_dir), str(worker)],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=err, env=env)
        ledger.event("restart" if report.starts else "start", worker, proc.pid, role)
        report.starts += 1
        try:
            while proc.poll() is None:
                if time.time() > deadline:
                    _stop(proc)
                    break
                if tick:
                    tick()
                time.sleep(0.02)
        except BaseException:  # KeyboardInterrupt (a kernel interrupt) included
            _stop(proc)
            ledger.event("interrupted", worker, proc.pid, role)
            raise
        code = proc.returncode
        if code == 0:
            ledger.event("exit", worker, proc.pid, role)
            break
        if code == -signal.SIGKILL and _crash_recorded(ledger, proc.pid):
            report.crashes += 1
            if report.starts >= max_starts:
                break
            continue
        if time.time() > deadline:
            report.timed_out = True
            ledger.event("timeout", worker, proc.pid, role)
            break
        stderr = err_path.read_text(errors="replace").strip().splitlines()
        detail = stderr[-1] if stderr else f"exit code {code}"
        ledger.event("error", worker, proc.pid, json.dumps({"code": code, "detail": detail}))
        raise LabError(f"The {role} worker stopped with an error (exit code {code}): {detail}",
                       f"The full output is in {err_path}; check the experiment's settings and "
                       "`deliverylab cluster status`.")
    report.elapsed_s = time.monotonic() - t0
    return report

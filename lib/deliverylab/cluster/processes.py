"""Linux process facts the local cluster needs: alive, paused, ours, and port checks."""
from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path


def process_state(pid: int | None) -> str:
    """running | paused | dead (a zombie counts as dead: it will never serve again)."""
    if not pid:
        return "dead"
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "dead"
    state = stat.rsplit(")", 1)[1].split()[0]
    if state in ("Z", "X"):
        _reap(pid)
        return "dead"
    return "paused" if state in ("T", "t") else "running"


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # not our child; its parent or init reaps it


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def is_ours(pid: int | None, marker: str) -> bool:
    """Guards against pid reuse: the process must be alive and name our run folder."""
    return process_state(pid) != "dead" and marker in cmdline(pid or 0)


def send(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def wait_dead(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process_state(pid) == "dead":
            return True
        time.sleep(0.05)
    return process_state(pid) == "dead"


def terminate(pid: int, grace: float = 10.0) -> None:
    """SIGTERM (a clean broker shutdown), SIGKILL if it has not exited within `grace` seconds."""
    if process_state(pid) == "dead":
        return
    send(pid, signal.SIGTERM)
    send(pid, signal.SIGCONT)  # a paused JVM cannot act on SIGTERM
    if not wait_dead(pid, grace):
        send(pid, signal.SIGKILL)
        wait_dead(pid, 5.0)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port_base(brokers: int = 3, start: int = 39092, controller_offset: int = 100) -> int:
    """The first client port from `start` (in steps of 10) where a cluster's ports are all free."""
    for base in range(start, start + 2000, 10):
        ports = [base + i for i in range(brokers)] + [base + controller_offset + i for i in range(brokers)]
        if all(port_is_free(p) for p in ports):
            return base
    raise RuntimeError(f"no free ports for a cluster between {start} and {start + 2000}")

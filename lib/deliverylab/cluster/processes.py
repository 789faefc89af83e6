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


def wait_state(pid: int, want: str, timeout: float) -> bool:
    """Wait until the process is `want` (running | paused | dead); False if it died instead or
    the time ran out. Signals reach a many-threaded JVM in a few ms: return once the OS shows it."""
    deadline = time.monotonic() + timeout
    while True:
        state = process_state(pid)
        if state in (want, "dead"):
            return state == want
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)


def wait_dead(pid: int, timeout: float) -> bool:
    return wait_state(pid, "dead", timeout)


def signal_ours(pid: int | None, marker: str, action: str) -> None:
    """kill | pause | resume the process, if it still is ours (is_ours: never a process that
    reused the pid), and return once the OS shows it dead, paused or running. The one helper
    for brokers, controllers and relays alike."""
    if not is_ours(pid, marker):
        return
    sig, want, timeout = {"kill": (signal.SIGKILL, "dead", 5.0),
                          "pause": (signal.SIGSTOP, "paused", 3.0),
                          "resume": (signal.SIGCONT, "running", 3.0)}[action]
    send(pid, sig)
    wait_state(pid, want, timeout)


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


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """Linux: when the parent process dies (even by SIGKILL), the kernel sends `sig` to this one.
    Workers ask for SIGKILL (a crash of the supervisor kills them); the lab's JupyterLab asks for
    SIGTERM (so it shuts its kernels down)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, sig)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(3)

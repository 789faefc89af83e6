"""Process facts the lab needs — alive, paused, a zombie, its command line — through psutil on
every platform (Linux, macOS), the signals that change them, port checks, and workers that die
with their parent.

psutil rather than /proc: macOS has no /proc, and there every broker read as dead.
"""
from __future__ import annotations

import os
import signal
import socket
import threading
import time

import psutil

from .host import is_linux

PAUSED = (psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP)  # SIGSTOP (Linux T, t; macOS SSTOP)
GONE = (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)  # never serves again


def process_state(pid: int | None) -> str:
    """running | paused | dead (a zombie counts as dead: it will never serve again)."""
    if not pid:
        return "dead"
    try:
        status = psutil.Process(pid).status()
    except psutil.ZombieProcess:  # macOS may refuse a zombie's status rather than name it
        status = psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return "dead"
    except psutil.AccessDenied:
        return "running"  # it exists; not ours to look into (is_ours says no)
    if status in GONE:
        _reap(pid)
        return "dead"
    return "paused" if status in PAUSED else "running"


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass  # not our child; its parent or init reaps it


def cmdline(pid: int) -> str:
    """The command line, its arguments joined by spaces ('' if gone or not ours to read)."""
    try:
        return " ".join(psutil.Process(pid).cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
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


# --- a child that dies with its parent ------------------------------------------------------------
PARENT_WATCH_THREAD = "deliverylab-parent-watch"
PARENT_WATCH_INTERVAL_S = 0.2


def die_with_parent(sig: int | None = None) -> str:
    """When the parent process dies (even by SIGKILL), this one gets `sig` (default SIGKILL).
    Workers take the default (a crash of the supervisor kills them); the lab's JupyterLab asks for
    SIGTERM (so it shuts its kernels down). Returns how: 'pdeathsig' or 'parent-watch'.

    Linux: the kernel sends it (prctl PR_SET_PDEATHSIG), at once. Elsewhere (macOS): a daemon
    thread notices that getppid() changed — an orphan is handed to init or a subreaper — within
    PARENT_WATCH_INTERVAL_S, and sends `sig` to this process."""
    parent = os.getppid()
    sig = signal.SIGKILL if sig is None else sig
    how = "pdeathsig" if is_linux() and _pdeathsig(sig) else _watch_parent(parent, sig)
    if os.getppid() != parent or parent == 1:  # the parent died before either took effect
        os._exit(3)
    return how


def _pdeathsig(sig: int) -> bool:
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, sig) == 0  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int, sig: int) -> str:
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_WATCH_INTERVAL_S)
        os.kill(os.getpid(), sig)

    threading.Thread(target=watch, name=PARENT_WATCH_THREAD, daemon=True).start()
    return "parent-watch"

"""What this machine can run of the lab's faults, and why not: the table `deliverylab cluster
doctor` and `deliverylab cluster status` print.

Each row is decided by the mechanism it needs, not by a list of platforms: POSIX signals for
crash points and process faults (Linux, WSL2, macOS; not native Windows), Linux's nftables and
cgroup v2 as root for network faults (cluster/network.py says what is missing).
"""
from __future__ import annotations

import os
import sys
from dataclasses import asdict, dataclass
from typing import Any

import psutil

from . import host, network

NO_SIGNALS = ("native Windows has no SIGKILL, SIGSTOP or SIGCONT; use WSL2 or the dev container")


@dataclass(frozen=True)
class Capability:
    what: str
    runs: bool
    detail: str  # how the lab does it here, or why it cannot

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def machine() -> dict[str, Any]:
    uid = os.geteuid() if hasattr(os, "geteuid") else None
    return {"platform": host.name(), "sys_platform": host.system(), "uid": uid,
            "python": sys.version.split()[0], "psutil": psutil.__version__}


def fault_support() -> list[Capability]:
    signals = not host.is_native_windows()
    lacking = network.missing()
    return [
        Capability("crash points", signals,
                   "a worker SIGKILLs itself at the named point" if signals else NO_SIGNALS),
        Capability("broker kill, pause, resume, restart", signals,
                   "SIGKILL, SIGSTOP and SIGCONT to the broker's JVM (on the Compose cluster: "
                   "docker kill and docker pause)" if signals else NO_SIGNALS),
        Capability("controller faults", signals,
                   "the same signals, on the 3-broker cluster, whose KRaft controller is a "
                   "process of its own" if signals else NO_SIGNALS),
        Capability("network faults (partitions, slow and lossy links)", lacking is None,
                   "nftables rules per broker JVM, each in a cgroup v2 of its own; a relay for "
                   "a slow link" if lacking is None else
                   f"{lacking} (they need Linux, root, nft and a writable cgroup v2)"),
        Capability("workers die with their supervisor", signals,
                   ("the kernel signals them (PR_SET_PDEATHSIG)" if host.is_linux() else
                    "a thread in each worker watches its parent (getppid)") if signals else NO_SIGNALS),
    ]


def support_text() -> str:
    m = machine()
    uid = "" if m["uid"] is None else f", uid {m['uid']}" + (" (root)" if m["uid"] == 0 else "")
    lines = [f"This machine: {m['platform']}{uid}, Python {m['python']}, psutil {m['psutil']}.",
             "What the lab can run here:"]
    lines += [f"  {'yes' if c.runs else 'no ':<3}  {c.what}: {c.detail}" for c in fault_support()]
    return "\n".join(lines)


def support_dict() -> dict[str, Any]:
    return {**machine(), "faults": [c.to_dict() for c in fault_support()]}

"""Stops a local cluster when the process that owns it dies, even by SIGKILL.

Run as ``python -m deliverylab.cluster.watchdog HOME OWNER_PID``. A notebook kernel that started
the cluster may be killed outright on restart; atexit does not run then, this watchdog does.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from .processes import process_state


def watch(home: Path, owner_pid: int, interval: float = 0.5) -> None:
    from .local import LocalCluster
    from .state import read_state

    while True:
        state = read_state(home)
        if state is None or state.get("owner_pid") != owner_pid:
            return  # stopped, or taken over by someone else
        if process_state(owner_pid) == "dead":
            LocalCluster(home, state).stop()
            return
        time.sleep(interval)


if __name__ == "__main__":
    watch(Path(sys.argv[1]), int(sys.argv[2]))

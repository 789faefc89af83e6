"""Cold start to ready for 1 and 3 brokers, and the brokers' resident memory.

Targets (2-core machine): 1 broker ≤ 6 s, 3 brokers ≤ 15 s, 3 brokers' total RSS ≤ 1.5 GB.
Runs in a temporary run folder on free ports; never touches a learner's cluster.
"""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import psutil

from deliverylab.cluster import LocalCluster
from deliverylab.testing.ports import free_port_base


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


def measure(brokers: int) -> dict:
    home = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    t0 = time.monotonic()
    c = LocalCluster.start(brokers=brokers, home=home, port_base=free_port_base(start=47092))
    ready = time.monotonic() - t0
    time.sleep(3)  # let the JVMs settle before reading RSS
    rss = sum(rss_mb(b.pid) for b in c.brokers())
    t1 = time.monotonic()
    c.stop()
    return {"brokers": brokers, "ready_s": round(ready, 2), "rss_mb_total": round(rss),
            "stop_s": round(time.monotonic() - t1, 2)}


if __name__ == "__main__":
    rows = [measure(1), measure(3)]
    for r in rows:
        print(json.dumps(r))

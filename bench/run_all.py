"""Run every benchmark: cluster start-up, the engine, and the latency budget of one Run
(printed as a table, lab against its bare-client floor measured in the same run)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
for script in ("cluster_start.py", "engine.py", "budget.py", "groups.py"):
    print(f"# {script}", flush=True)
    subprocess.run([sys.executable, str(HERE / script)], check=True)

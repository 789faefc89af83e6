"""Run every benchmark and print one JSON line per measurement (numbers, not pass/fail)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
for script in ("cluster_start.py", "engine.py"):
    print(f"# {script}", flush=True)
    subprocess.run([sys.executable, str(HERE / script)], check=True)

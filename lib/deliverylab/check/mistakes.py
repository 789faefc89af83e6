"""A mistake found inside the process under check, carried back as the same one paragraph.

The worker cannot raise into the notebook: it writes the LabError's problem and fix as one
marked JSON line on its stderr and exits; the check reads that line back from the worker's
log and raises it, so the learner sees the paragraph and never a worker's traceback.
"""
from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from types import TracebackType

from ..errors import LabError

MARK = "DELIVERYLAB-CHECK-MISTAKE "
EXIT_CODE = 4


def report(problem: str, fix: str) -> None:
    """In the worker: say it and stop now (no cleanup that could hide it)."""
    print(MARK + json.dumps({"problem": problem, "fix": fix}), file=sys.stderr, flush=True)
    os._exit(EXIT_CODE)


def read(log: Path) -> LabError | None:
    """In the check: the mistake a worker reported in its log, if it reported one."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        if line.startswith(MARK):
            d = json.loads(line[len(MARK):])
            return LabError(d["problem"], d["fix"])
    return None


def learner_frame(tb: TracebackType | None, lab_dirs: tuple[str, ...],
                  source: dict | None = None) -> str:
    """Where in the learner's code an exception came from: the last frame outside the lab and
    the client library ('line 7 (`value = rec["x"]`)'), or '' when there is none. `source`:
    the function's own lines, read where it was defined (see shipping.source_of)."""
    frames = [f for f in traceback.extract_tb(tb)
              if not any(f.filename.startswith(d) for d in lab_dirs)]
    if not frames:
        return ""
    f = frames[-1]
    line = f.line
    # A function pickled by value may come back with a made-up file name ('<dynamic-code>').
    if source and f.lineno is not None and (f.filename == source.get("file") or f.filename.startswith("<")):
        at = f.lineno - source["first"]
        if 0 <= at < len(source["lines"]):
            line = source["lines"][at]
    return f"line {f.lineno}" + (f" (`{line.strip()}`)" if line and line.strip() else "")


__all__ = ["MARK", "EXIT_CODE", "report", "read", "learner_frame"]

"""Recorded results (data/*.csv): a CSV whose first line names the command that made it and
when, so anyone can make it again (data/README.md lists the commands)."""
from __future__ import annotations

import datetime
from pathlib import Path

import pandas as pd

from .errors import LabError


def write_recording(frame: pd.DataFrame, out: str | Path, command: str, note: str = "") -> None:
    """`frame` as CSV under a first line ``# made by: COMMAND  (UTC time[, note])``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    with out.open("w") as f:
        f.write(f"# made by: {command}  ({stamp}{', ' + note if note else ''})\n")
        frame.to_csv(f, index=False)


def read_recording(path: str | Path) -> tuple[pd.DataFrame, str]:
    """The recorded frame and its first line (the command that made it, and when)."""
    path = Path(path)
    if not path.is_file():
        raise LabError(f"The recording {path} is missing.",
                       "Make it again with the command in data/README.md.")
    with path.open() as f:
        first = f.readline().lstrip("# ").strip()
    return pd.read_csv(path, comment="#"), first


__all__ = ["write_recording", "read_recording"]

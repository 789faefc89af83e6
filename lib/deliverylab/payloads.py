"""The sample payment events that experiments send as message values (data/payments.jsonl).

    load_payments()      # all events, as dicts
    payment_for(i)       # the value of the i-th message: compact JSON bytes, cycling the sample

The file and the command that made it are described in data/README.md.
"""
from __future__ import annotations

import json
import operator
from functools import lru_cache
from pathlib import Path

from .errors import LabError
from .paths import repo_root

PAYMENTS_FILE = repo_root() / "data" / "payments.jsonl"
_REMAKE = ("Make it again with `python data/make_payments.py` in the project folder "
           "(or restore it with `git checkout data/payments.jsonl`).")


def load_payments(path: str | Path | None = None) -> list[dict]:
    """All events of a payments JSON-lines file (default: the repository's data/payments.jsonl)."""
    path = Path(path) if path is not None else PAYMENTS_FILE
    if not path.is_file():
        raise LabError(f"The sample payments file {path} is missing.", _REMAKE)
    payments = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                payments.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise LabError(f"Line {number} of {path} is not valid JSON ({e.msg}).", _REMAKE) from None
    if not payments:
        raise LabError(f"The sample payments file {path} is empty.", _REMAKE)
    return payments


@lru_cache(maxsize=1)
def _encoded() -> tuple[bytes, ...]:
    """The default sample, read once per process and kept as ready-to-send bytes."""
    return tuple(json.dumps(p, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
                 for p in load_payments())


def payment_for(index: int) -> bytes:
    """The payment for message number ``index``, as compact UTF-8 JSON; wraps around the sample."""
    payments = _encoded()
    return payments[operator.index(index) % len(payments)]

"""The guarantees a learner's code may claim, and what each one forbids.

A claim is judged on counts the lab made itself (checker.py): how many input ids were never
delivered (lost) and how many were delivered more than once (duplicated). Kafka's own system
tests judge the same way: replication_test.py fails on a missing acked message, and
transactions_test.py on a duplicate in the read_committed output (REFERENCE.md, "How the
trusted test suites check").
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass

from ..errors import LabError


@dataclass(frozen=True)
class Guarantee:
    name: str
    allows_loss: bool
    allows_duplicates: bool
    meaning: str  # one sentence, as the report prints it


CLAIMS: dict[str, Guarantee] = {g.name: g for g in (
    Guarantee("at-most-once", allows_loss=True, allows_duplicates=False,
              meaning="no input record is delivered twice; some may be lost"),
    Guarantee("at-least-once", allows_loss=False, allows_duplicates=True,
              meaning="no input record is lost; some may be delivered twice"),
    Guarantee("exactly-once", allows_loss=False, allows_duplicates=False,
              meaning="every input record is delivered exactly once"),
)}


def guarantee(claim: object, option: str = "claim=") -> Guarantee:
    """The Guarantee named `claim`, or one LabError naming the option as the user typed it
    (`claim=` in Python, `--claim` on the CLI) and the claims there are."""
    if isinstance(claim, str) and claim in CLAIMS:
        return CLAIMS[claim]
    text = str(claim)
    close = difflib.get_close_matches(text.lower().replace("_", "-").replace(" ", "-"),
                                      list(CLAIMS), n=1, cutoff=0.6)
    shown = f"{option}{claim!r}" if option.endswith("=") else f"{option} {text}"
    raise LabError(f"{shown} is not a guarantee the lab can check.",
                   (f"Did you mean {close[0]!r}? " if close else "") +
                   f"Claim one of {', '.join(CLAIMS)}.")


def broken_by(g: Guarantee, lost: int, duplicated: int) -> list[str]:
    """What the counts show against the claim: [] when it held, else 'lost' and/or
    'duplicated'."""
    return ([] if g.allows_loss or not lost else ["lost"]) + \
           ([] if g.allows_duplicates or not duplicated else ["duplicated"])


__all__ = ["CLAIMS", "Guarantee", "guarantee", "broken_by"]

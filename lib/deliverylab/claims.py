"""A notebook's claims, checked against the run that is supposed to show them.

Every sentence of the course that describes a result is backed by a `claim(...)` right after the
run: the learner sees "✓ shown by this run: …" or, when the run did not show it, a plain
"✗ not shown by this run: …" with the reason the text gives. Under the test suite
(`DELIVERYLAB_CLAIMS=strict`, set by tests/conftest.py) a claim that does not hold raises
`ClaimNotShown`, so executing a notebook at CI size is its claims test.
"""
from __future__ import annotations

import html
import os
from dataclasses import dataclass
from typing import Any


class ClaimNotShown(AssertionError):
    """A notebook said something its own run did not show (strict mode only)."""


@dataclass
class Claim:
    holds: bool
    text: str
    evidence: str = ""
    otherwise: str = ""

    def _repr_markdown_(self) -> str:
        if self.holds:
            line = f"✓ **Shown by this run:** {self.text}"
        else:
            line = f"✗ **Not shown by this run:** {self.text}"
            if self.otherwise:
                line += f" — {self.otherwise}"
        if self.evidence:
            line += f"  \n<small>evidence: {html.escape(self.evidence)}</small>"
        return line

    def __repr__(self) -> str:
        mark = "✓" if self.holds else "✗"
        return f"{mark} {self.text}" + (f" ({self.evidence})" if self.evidence else "")


def strict() -> bool:
    return os.environ.get("DELIVERYLAB_CLAIMS", "").lower() == "strict"


# What a fault run claims when it carries no warning: producer runs warn only about their fault
# (it never struck, hit nothing in flight, was cut short), diagnose.producer_warnings.
FAULT_IN_FLIGHT = "the fault struck while records were in flight, and healed before the run ended"


def no_warnings(*results: Any, text: str = FAULT_IN_FLIGHT) -> Claim:
    """The claim that none of `results` carries a warning; the evidence names each warning
    with its run's label."""
    found = [f"{r.label}: {w}" for r in results for w in r.warnings]
    return claim(not found, text, evidence="; ".join(found) or "no warnings")


def claim(holds: bool, text: str, evidence: str = "", otherwise: str = "") -> Claim:
    """Check one claim of the text against the run; show the verdict as the cell's output.

    holds: the condition computed from the run's counts (e.g. `short["duplicated"] < long["duplicated"]`).
    text: the sentence the notebook claims, in the learner's words.
    evidence: the numbers that decide it, formatted from the run.
    otherwise: what the learner should know when this run did not show it (timing, luck, size).
    """
    c = Claim(bool(holds), text, evidence, otherwise)
    if not c.holds and strict():
        raise ClaimNotShown(f"Claim not shown by this run: {text}" +
                            (f" (evidence: {evidence})" if evidence else ""))
    return c

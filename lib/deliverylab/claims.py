"""A notebook's claims, checked against the run that is supposed to show them.

Every sentence of the course that describes a result is backed by a `claim(...)` right after the
run: the learner sees "✓ shown by this run: …" or, when the run did not show it, a plain
"✗ not shown by this run: …" with the reason the text gives. Under the test suite
(`DELIVERYLAB_CLAIMS=strict`, set by tests/conftest.py) a claim that does not hold raises
`ClaimNotShown`, so executing a notebook at CI size is its claims test.

A claim must be able to fail. Written as a condition over the run's outcome (a predicate and the
outcome it is `given`), a claim names the degenerate outcomes a broken run would produce (`trivial`:
all zeros, every crash down the same branch, no crash at all) and is checked against each: if
its condition also holds there, the claim is trivially true, and says so (strict mode: raises
`ClaimCannotFail`). `either_way` is the claim that a choice went each way at least once. A
claim over recorded data (`recording=`) says so: "shown by the recording (data/…, its command)",
never "by this run".
"""
from __future__ import annotations

import html
import os
from dataclasses import dataclass
from typing import Any


class ClaimNotShown(AssertionError):
    """A notebook said something its own run did not show (strict mode only)."""


class ClaimCannotFail(AssertionError):
    """A claim's condition also holds for a degenerate outcome it names: it could not fail."""


@dataclass
class Claim:
    holds: bool
    text: str
    evidence: str = ""
    otherwise: str = ""
    recording: str | None = None  # "data/….csv, made by `…`": a claim over recorded data
    trivially_true: str | None = None  # the degenerate outcome the condition also held for
    degenerate_checked: int = 0  # how many degenerate outcomes it was checked against

    @property
    def source(self) -> str:
        return f"the recording ({self.recording})" if self.recording else "this run"

    def _repr_markdown_(self) -> str:
        if self.trivially_true is not None:
            line = (f"✗ **Cannot fail, so shown by nothing:** {self.text} — its condition also "
                    f"holds for {self.trivially_true}")
        elif self.holds:
            line = f"✓ **Shown by {self.source}:** {self.text}"
        else:
            line = f"✗ **Not shown by {self.source}:** {self.text}"
            if self.otherwise:
                line += f" — {self.otherwise}"
        if self.evidence:
            line += f"  \n<small>evidence: {html.escape(self.evidence)}</small>"
        return line

    def __repr__(self) -> str:
        mark = "✓" if self.holds and self.trivially_true is None else "✗"
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


def claim(holds: Any, text: str, evidence: str = "", otherwise: str = "", *,
          given: Any = None, trivial: Any = (), recording: str | None = None) -> Claim:
    """Check one claim of the text against the run; show the verdict as the cell's output.

    holds: the condition computed from the run's counts (e.g. `short["duplicated"] < long["duplicated"]`),
        or a predicate over `given` (e.g. `lambda s: s["duplicated"] > 0`), which `trivial` needs.
    text: the sentence the notebook claims, in the learner's words.
    evidence: the numbers that decide it, formatted from the run.
    otherwise: what the learner should know when this run did not show it (timing, luck, size).
    given: the outcome the predicate judges (a summary, a list of per-crash counts, …).
    trivial: the degenerate outcomes a broken or uneventful run would give (`zeros(s)`,
        `same(s, crashes=0)`, every crash down one branch): the predicate must be False for each,
        or the claim could not fail — it then says so, and strict mode raises ClaimCannotFail.
    recording: the recorded data the claim is about and the command that made it (a re-run
        cannot change it: the learner is told it is the recording's, not this run's).
    """
    if callable(holds):
        check = holds
        outcomes = list(trivial) if isinstance(trivial, (list, tuple)) else [trivial]
        trivially = next((t for t in outcomes if _holds(check, t)), _NONE)
        c = Claim(bool(check(given)), text, evidence, otherwise, recording,
                  None if trivially is _NONE else _describe(trivially), len(outcomes))
    else:
        if trivial not in ((), None, []):
            raise TypeError("trivial= needs the claim as a predicate over given=, "
                            "e.g. claim(lambda s: s['lost'] == 0, …, given=summary, trivial=[…])")
        c = Claim(bool(holds), text, evidence, otherwise, recording)
    if strict():
        if c.trivially_true is not None:
            raise ClaimCannotFail(f"Claim cannot fail: {text} — its condition also holds for "
                                  f"{c.trivially_true}")
        if not c.holds:
            raise ClaimNotShown(f"Claim not shown by {c.source}: {text}" +
                                (f" (evidence: {evidence})" if evidence else ""))
    return c


_NONE = object()


def _holds(check: Any, outcome: Any) -> bool:
    try:
        return bool(check(outcome))
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, ZeroDivisionError):
        return False  # a degenerate outcome the condition cannot even be evaluated on fails it


def _describe(outcome: Any) -> str:
    text = repr(outcome)
    return text if len(text) <= 160 else text[:157] + "…"


def zeros(outcome: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """The uneventful outcome of a run shaped like `outcome`: every count 0, every list and
    mapping empty, every other value kept (labels, settings); `overrides` set fields."""
    def zero(v: Any) -> Any:
        if isinstance(v, bool):
            return False
        if isinstance(v, (int, float)):
            return 0
        if isinstance(v, (list, tuple, set, dict)):
            return type(v)()
        return v
    return {**{k: zero(v) for k, v in outcome.items()}, **overrides}


def same(outcome: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """`outcome` with some fields changed: the plausible wrong outcome a claim must fail on
    (e.g. same(s, crashes=0): the crash never happened)."""
    return {**outcome, **changes}


def either_way(values: list[Any], branches: tuple[Any, ...] | list[Any], text: str,
               evidence: str = "", otherwise: str = "") -> Claim:
    """The claim that every value is one of `branches` and each branch happened at least once
    (an "either … or" of the text shown both ways): all values down one branch fails it."""
    want = set(branches)
    return claim(lambda v: len(v) > 0 and set(v) == want, text, evidence, otherwise,
                 given=list(values), trivial=[[b] * max(len(values), 1) for b in branches] + [[]])

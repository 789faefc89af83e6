"""claim(): what a learner sees, and the strict mode that makes an executed notebook a claims test."""
from __future__ import annotations

import pytest

from deliverylab.claims import ClaimNotShown, claim


def test_a_claim_that_holds_says_so(monkeypatch):
    monkeypatch.setenv("DELIVERYLAB_CLAIMS", "strict")
    c = claim(3 < 5, "a shorter interval gives fewer duplicates", evidence="3 vs 5")
    assert c.holds
    md = c._repr_markdown_()
    assert md.startswith("✓") and "3 vs 5" in md


def test_strict_mode_fails_on_a_claim_not_shown(monkeypatch):
    monkeypatch.setenv("DELIVERYLAB_CLAIMS", "strict")
    with pytest.raises(ClaimNotShown, match="fewer duplicates.*5 vs 3"):
        claim(5 < 3, "a shorter interval gives fewer duplicates", evidence="5 vs 3")


def test_a_learner_sees_a_claim_not_shown_without_an_error(monkeypatch):
    monkeypatch.delenv("DELIVERYLAB_CLAIMS", raising=False)
    c = claim(False, "a crash after poll can lose a record", otherwise="the timer did not fire in time")
    assert not c.holds
    md = c._repr_markdown_()
    assert md.startswith("✗") and "the timer did not fire in time" in md


class _Run:
    def __init__(self, label: str, warnings: list[str]) -> None:
        self.label, self.warnings = label, warnings


def test_no_warnings_holds_only_when_no_run_warns_and_names_the_run_that_did(monkeypatch):
    from deliverylab.claims import FAULT_IN_FLIGHT, no_warnings

    monkeypatch.delenv("DELIVERYLAB_CLAIMS", raising=False)
    clean = no_warnings(_Run("acks=1", []), _Run("acks=all", []))
    assert clean.holds and clean.text == FAULT_IN_FLIGHT and clean.evidence == "no warnings"
    warned = no_warnings(_Run("acks=1", []), _Run("acks=all", ["the fault never struck"]))
    assert not warned.holds and warned.evidence == "acks=all: the fault never struck"


# --- claims that can fail (issue 20) ------------------------------------------------------------
def test_a_claim_whose_condition_holds_for_its_degenerate_outcome_is_flagged(monkeypatch):
    from deliverylab.claims import ClaimCannotFail, zeros

    s = {"label": "fix", "commit_failures": 0, "duplicated": 0, "lost": 0, "stalls": 1}
    monkeypatch.delenv("DELIVERYLAB_CLAIMS", raising=False)
    weak = claim(lambda s: s["commit_failures"] == s["duplicated"] == s["lost"] == 0,
                 "no refused commit, no duplicate, no loss", given=s, trivial=[zeros(s)])
    assert weak.holds and weak.trivially_true is not None
    assert weak._repr_markdown_().startswith("✗ **Cannot fail")
    strong = claim(lambda s: s["stalls"] >= 1 and s["commit_failures"] == s["duplicated"] == 0,
                   "the stall happened, and no refused commit, no duplicate", given=s,
                   trivial=[zeros(s)])
    assert strong.holds and strong.trivially_true is None and strong.degenerate_checked == 1
    monkeypatch.setenv("DELIVERYLAB_CLAIMS", "strict")
    with pytest.raises(ClaimCannotFail, match="no refused commit"):
        claim(lambda s: s["lost"] == 0, "no refused commit", given=s, trivial=[zeros(s)])


def test_either_way_needs_each_branch_at_least_once(monkeypatch):
    from deliverylab.claims import either_way

    monkeypatch.delenv("DELIVERYLAB_CLAIMS", raising=False)
    assert either_way([0, 10, 0, 10], (0, 10), "repeats its batch or nothing").holds
    one_branch = either_way([0, 0, 0, 0], (0, 10), "repeats its batch or nothing")
    assert not one_branch.holds  # the old `set(v) <= {0, BATCH}` passed this
    assert not either_way([0, 5], (0, 10), "repeats its batch or nothing").holds
    assert not either_way([], (0, 10), "repeats its batch or nothing").holds


def test_a_claim_over_recorded_data_names_the_recording(monkeypatch):
    monkeypatch.delenv("DELIVERYLAB_CLAIMS", raising=False)
    c = claim(True, "acks=1 loses under kill-leader", recording="data/x.csv, made by `make x`")
    assert c._repr_markdown_().startswith("✓ **Shown by the recording (data/x.csv, made by `make x`)")
    with pytest.raises(TypeError):
        claim(True, "a bool cannot be checked against degenerate outcomes", trivial=[{}])


def unchecked_claims(nb: str) -> list[str]:
    """The claim(...) calls of notebook `nb` that name no degenerate outcome (no trivial=, not
    either_way / no_warnings): claims whose ability to fail nothing checks yet."""
    import json
    import re
    from pathlib import Path

    path = next(Path(__file__).parent.parent.joinpath("notebooks").glob(f"{nb}-*.ipynb"))
    found = []
    for i, c in enumerate(json.loads(path.read_text())["cells"]):
        if c["cell_type"] != "code":
            continue
        for call in re.split(r"(?=\bclaim\()", "".join(c["source"]))[1:]:
            if "trivial=" not in call.split("\n\n")[0]:
                found.append(f"{path.name} cell {i}: {call[:80]!r}")
    return found


NOTEBOOKS = sorted(p.name[:2] for p in
                   __import__("pathlib").Path(__file__).parent.parent.joinpath("notebooks").glob("[0-9][0-9]-*.ipynb"))


@pytest.mark.parametrize("nb", NOTEBOOKS)
def test_every_claim_of_a_notebook_names_the_degenerate_outcomes_it_must_reject(nb):
    """Every claim is a predicate with trivial= (or either_way / no_warnings, which build their
    own): when the notebook runs, strict mode checks it against the outcome a broken or
    uneventful run would give (all zeros, the wrong attribution, no crash) — issue 20, part 2."""
    assert unchecked_claims(nb) == []

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

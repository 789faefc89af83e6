"""Shared assertions about the lab's error messages."""
from __future__ import annotations

import time

import pytest

from deliverylab.errors import LabError


def assert_clear(text: str, needles: tuple[str, ...]) -> None:
    assert "Traceback" not in text and "%3|" not in text, text  # no traceback, no librdkafka log
    for needle in needles:
        assert needle in text, f"{needle!r} not in: {text}"


def fails_clearly(fn, *needles: str) -> str:
    """fn raises a LabError within 10 s: one paragraph naming every needle, shown in a notebook
    as that paragraph and nothing else."""
    t0 = time.monotonic()
    with pytest.raises(LabError) as exc:
        fn()
    assert time.monotonic() - t0 < 10
    text = exc.value.paragraph()
    assert "\n" not in text
    assert_clear(text, needles)
    rendered = exc.value._render_traceback_()
    assert len(rendered) == 1 and text in rendered[0]
    return text

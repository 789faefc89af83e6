"""Shared assertions: the lab's error messages, and what a run leaves on the cluster."""
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


def left_behind(cluster, prefix: str, within_s: float = 30.0) -> tuple[set, set]:
    """The topics and consumer groups named `prefix`… still on the cluster after `within_s`
    (a run deletes them in the background, off the learner's wait)."""
    admin = cluster.admin()
    deadline = time.monotonic() + within_s
    while True:
        topics = {t for t in admin.list_topics(timeout=10).topics if t.startswith(prefix)}
        groups = {g.group_id for g in admin.list_consumer_groups(request_timeout=10).result().valid
                  if g.group_id.startswith(prefix)}
        if not (topics or groups) or time.monotonic() > deadline:
            return topics, groups
        time.sleep(0.5)

"""Zombie fencing on the real session cluster."""
from __future__ import annotations

import time

import pytest

from deliverylab.experiments import fencing_demo


@pytest.mark.kafka
def test_second_producer_fences_the_first(cluster):
    seen = fencing_demo(cluster)
    assert seen["first"]["commit_transaction"] == "failed"
    assert "FENCED" in seen["first"]["error"] or "EPOCH" in seen["first"]["error"]
    assert seen["first"]["fatal"] is True
    assert seen["second"]["commit_transaction"] == "committed"
    assert seen["read_committed"] == ["second-0"]  # the zombie's record is never visible
    assert "first-0" in seen["read_uncommitted"]  # it is in the log, in an aborted transaction
    deadline = time.monotonic() + 15  # cleaned up (metadata may lag the deletion briefly)
    while seen["topic"] in cluster.admin().list_topics(timeout=10).topics:
        assert time.monotonic() < deadline, "the demo left its topic behind"
        time.sleep(0.5)

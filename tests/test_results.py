"""A Result's events as a notebook asks for them: when the first fault struck and healed, and
what the fault event recorded — one clear error when the run has no such event."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from deliverylab.errors import LabError
from deliverylab.results import Result
from deliverylab.vocabulary import CRASH, FAULT, HEAL


def _result(events: list[tuple[float, str, str]]) -> Result:
    frame = pd.DataFrame([{"t": t, "kind": k, "worker": -1, "pid": 0, "detail": d}
                          for t, k, d in events], columns=["t", "kind", "worker", "pid", "detail"])
    return Result("producer", {"label": "acks=1"}, pd.DataFrame(), pd.DataFrame(), frame, {})


def test_event_time_and_detail_are_the_first_event_of_the_kind():
    r = _result([(0.1, "start", "producer"),
                 (1.5, FAULT, json.dumps({"kind": "kill-leader", "brokers": [2]})),
                 (4.5, HEAL, json.dumps({"kind": "kill-leader"})),
                 (6.0, FAULT, json.dumps({"kind": "kill-leader", "brokers": [3]}))])
    assert r.event_time(FAULT) == 1.5 and r.event_time(HEAL) == 4.5
    assert r.event_detail(FAULT) == {"kind": "kill-leader", "brokers": [2]}
    assert r.event_detail("start") == {}  # a detail that is not JSON


def test_a_run_without_the_event_says_so_in_one_paragraph():
    with pytest.raises(LabError, match="'acks=1' has no 'crash' event") as exc:
        _result([(0.1, "start", "producer")]).event_time(CRASH)
    assert "\n" not in exc.value.paragraph()

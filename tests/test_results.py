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


def test_a_nemesis_records_what_it_saw_after_the_heal_once_the_heal_is_done(tmp_path):
    """HEAL is written when healing begins (a restarted JVM serves seconds later); what the nemesis
    watched once every heal action had run (kill-leader-alone: the leader after the heal, the
    seconds without one) is a HEALED event after it, and a nemesis with nothing to say writes none."""
    from deliverylab.ledger import Ledger
    from deliverylab.nemesis.thread import NemesisThread
    from deliverylab.vocabulary import HEAL, HEALED

    class Watching(NemesisThread):
        def __init__(self, path, watches):
            super().__init__(path, "test-nemesis")
            self.watches, self.healed = watches, False

        def act(self, ledger):
            self.heals.append(lambda: setattr(self, "healed", True))

        def heal_detail(self):
            return {"kind": "test"}

        def after_heal(self):
            return {"healed_first": self.healed} if self.watches else None

    for watches, kinds in ((True, [HEAL, HEALED]), (False, [HEAL])):
        path = tmp_path / f"{watches}.sqlite"
        Ledger(path).close()
        nemesis = Watching(path, watches)
        nemesis.start()
        nemesis.join(10)
        events = Ledger(path).table("events")
        assert events["kind"].tolist() == kinds
        if watches:
            assert json.loads(events["detail"].iloc[1]) == {"healed_first": True}

"""Retention overtakes a lagging consumer (issue 24, item 5): the input topic's small
retention.ms deletes records the stalled consumer had not read, auto.offset.reset=earliest jumps
past them, and Kafka's own GetOffsetShell shows the log start past the committed offset."""
from __future__ import annotations

import pandas as pd
from deliverylab.counts import retention_view
from deliverylab.vocabulary import STALL


def test_retention_view_sets_the_log_start_against_the_offsets_committed_before_the_stall():
    meta = {"log_start_by_tool": '{"0": 150}'}
    commits = pd.DataFrame({"partition": [0, 0, 0], "offset": [10, 20, 150], "ok": [1, 0, 1],
                            "t": [1.0, 1.5, 9.0]})
    events = pd.DataFrame({"kind": [STALL], "t": [2.0]})
    view = retention_view(meta, commits, events)
    assert view == {"log_start_offsets": {0: 150}, "committed_at_stall": {0: 10},
                    "retention_overtook": True}
    assert not retention_view({"log_start_by_tool": '{"0": 10}'}, commits, events)["retention_overtook"]
    assert retention_view({}, commits, events) == {}  # no retention.ms: nothing asked

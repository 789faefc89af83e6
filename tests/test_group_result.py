"""group_result's pure counting of a group run: when the group stands, which partitions sat idle,
who processed the repeated records (synthetic ledgers: no Kafka, < 1 s)."""
from __future__ import annotations

import json

import pandas as pd

from deliverylab.group_result import (duplicates_by_partition, group_stands, holdings, idle_partitions,
                                      moved_partitions)


def events(*rows):
    return pd.DataFrame([{"kind": k, "worker": w, "t": t,
                          "detail": json.dumps({"partitions": p}) if p is not None else d}
                         for k, w, t, p, d in rows], columns=["kind", "worker", "t", "detail"])


def ev(kind, worker, t, parts=None, detail=""):
    return (kind, worker, t, parts, detail)


def test_the_group_stands_only_when_every_member_holds_partitions_each_once():
    forming = events(ev("assigned", 0, 1.0, [0, 1, 2, 3]))
    assert group_stands(forming, [0, 1], 4) is None  # member 1 holds nothing yet
    between = events(ev("assigned", 0, 1.0, [0, 1, 2, 3]), ev("assigned", 1000, 2.0, [2, 3]))
    assert group_stands(between, [0, 1], 4) is None  # 2 and 3 held twice: revoke not seen yet
    stood = events(ev("assigned", 0, 1.0, [0, 1, 2, 3]), ev("revoked", 0, 1.9, [2, 3]),
                   ev("assigned", 1000, 2.0, [2, 3]))
    assert group_stands(stood, [0, 1], 4) == {0: [0, 1], 1: [2, 3]}
    # the input producer's exit (worker 0 too) does not end member 0's holdings
    with_input = events(*[tuple(r) for r in stood.itertuples(index=False)][:0],
                        ev("assigned", 0, 1.0, [0, 1]), ev("assigned", 1000, 1.0, [2, 3]),
                        ev("exit", 0, 3.0, None, "input"))
    assert group_stands(with_input, [0, 1], 4) == {0: [0, 1], 1: [2, 3]}


def test_idle_partitions_are_the_gaps_no_live_member_held_them():
    e = events(ev("assigned", 0, 0.0, [0]), ev("assigned", 1000, 0.0, [1]),
               ev("crash", 0, 5.0, None, "{}"), ev("assigned", 1000, 11.0, [0]))
    held = holdings(e, 0.0, 20.0)
    idle = idle_partitions(held, 2, 1.0, 20.0).set_index("partition")
    assert idle.loc[0, "idle_s"] == 6.0 and idle.loc[0, "from"] == 5.0  # crash → reassignment
    assert idle.loc[1, "idle_s"] == 0.0  # always held


def test_a_repeated_record_is_attributed_to_who_processed_it_first_and_again():
    effects = pd.DataFrame({"msg_id": ["a", "b", "a", "c", "c"], "partition": [0, 1, 0, 2, 2],
                            "worker": [2000, 0, 1000, 1, 0], "t": [1.0, 1.1, 2.0, 2.1, 2.2]})
    d = duplicates_by_partition(effects).set_index("partition")
    assert d.loc[0, "duplicated"] == 1 and d.loc[0, "first_by"] == [2] and d.loc[0, "again_by"] == [1]
    assert d.loc[2, "first_by"] == [0] and d.loc[2, "again_by"] == [0]  # a member's restart
    assert 1 not in d.index
    assert (d.loc[2, "again_from_s"], d.loc[2, "again_to_s"]) == (2.2, 2.2)
    later = duplicates_by_partition(effects, t0=0.5).set_index("partition")
    assert (later.loc[0, "again_from_s"], later.loc[0, "again_to_s"]) == (1.5, 1.5)  # from the run's start


def test_a_partition_moved_only_if_a_second_member_held_it_while_records_were_processed():
    e = events(ev("assigned", 0, 0.0, [0, 1]), ev("assigned", 1000, 0.0, [2]),
               ev("crash", 0, 5.0, None, "{}"), ev("assigned", 1000, 11.0, [0]),
               ev("exit", 1000, 19.0, None, "{}"), ev("assigned", 0, 19.5, [2]))
    held = holdings(e, 0.0, 20.0)
    assert moved_partitions(held, 0.0, 18.0) == 1  # p0: member 0, then member 1 after the crash
    assert moved_partitions(held, 0.0, 4.0) == 0  # the input was done before the crash
    assert moved_partitions(held, 12.0, 18.0) == 0  # p0's move came before the group stood

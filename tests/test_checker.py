"""The checker on hand-made histories: every outcome, every edge, no Kafka."""
from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from deliverylab.checker import (aborted_reads, consumer_outcomes, consumer_summary,
                                 producer_outcomes, producer_summary, reordered_keys)
from deliverylab.vocabulary import (ACKED_BUT_LOST, DELIVERED_ONCE, DUPLICATED, FAILED_REPORTED,
                                    LOST, PRODUCER_OUTCOMES, UNACKED_BUT_STORED)


def sent_frame(n: int, key: str = "k") -> pd.DataFrame:
    return pd.DataFrame({"msg_id": [f"m{i}" for i in range(1, n + 1)],
                         "key": [key] * n, "seq": list(range(1, n + 1))})


def processed_frame(seqs: list[int], key: str = "k") -> pd.DataFrame:
    return pd.DataFrame({"msg_id": [f"m{s}" for s in seqs], "key": [key] * len(seqs),
                         "seq": seqs})


# --- consumer ---------------------------------------------------------------------------------
def test_at_least_once_replay_is_duplication_not_reordering() -> None:
    sent, processed = sent_frame(4), processed_frame([1, 2, 3, 2, 3, 4])
    out = consumer_outcomes(sent, processed)
    assert out["copies"].tolist() == [1, 2, 2, 1]
    assert out["outcome"].tolist() == [DELIVERED_ONCE, DUPLICATED, DUPLICATED, DELIVERED_ONCE]
    assert reordered_keys(processed) == []
    summary = consumer_summary(out, processed)
    assert summary["duplicated"] == 2
    assert summary["duplicated_messages"] == 2
    assert summary["lost"] == 0
    assert summary["processed_effects"] == 6
    assert summary["reordered_keys"] == 0
    assert summary["duplicated_rate"] == pytest.approx(0.5)


def test_duplicated_counts_extra_copies_not_messages() -> None:
    sent, processed = sent_frame(2), processed_frame([1, 1, 1, 2])
    summary = consumer_summary(consumer_outcomes(sent, processed), processed)
    assert (summary["duplicated"], summary["duplicated_messages"]) == (2, 1)
    assert summary["processed_effects"] == 4 == (summary["delivered_once"]
                                                  + summary["duplicated_messages"]
                                                  + summary["duplicated"])


def test_at_most_once_loss() -> None:
    sent, processed = sent_frame(5), processed_frame([1, 2, 5])
    out = consumer_outcomes(sent, processed)
    assert out["outcome"].tolist() == [DELIVERED_ONCE, DELIVERED_ONCE, LOST, LOST, DELIVERED_ONCE]
    summary = consumer_summary(out, processed)
    assert (summary["lost"], summary["duplicated"], summary["delivered_once"]) == (2, 0, 3)
    assert summary["lost_rate"] == pytest.approx(0.4)


def test_consumer_outcomes_columns_order_and_index() -> None:
    sent = sent_frame(3).iloc[::-1].reset_index(drop=True)  # m3, m2, m1
    out = consumer_outcomes(sent, processed_frame([1]))
    assert list(out.columns) == ["msg_id", "index", "key", "seq", "copies", "outcome"]
    assert out["msg_id"].tolist() == ["m3", "m2", "m1"]
    assert out["index"].tolist() == [0, 1, 2]  # position when sent has no index column


def test_consumer_outcomes_keeps_given_index_and_ignores_unknown_ids() -> None:
    sent = sent_frame(2).assign(index=[10, 11])
    processed = pd.DataFrame({"msg_id": ["m1", "stray", "stray", "m2"]})
    out = consumer_outcomes(sent, processed)
    assert out["index"].tolist() == [10, 11]
    assert out["copies"].tolist() == [1, 1]
    assert consumer_summary(out, processed.assign(key="k", seq=[1, 9, 9, 2]))[
        "processed_effects"] == 2


def test_repeated_send_row_is_one_message() -> None:
    sent = pd.concat([sent_frame(2), sent_frame(1)], ignore_index=True)
    out = consumer_outcomes(sent, processed_frame([1, 2]))
    assert out["msg_id"].tolist() == ["m1", "m2"]
    assert out["outcome"].tolist() == [DELIVERED_ONCE, DELIVERED_ONCE]


# --- reordering -------------------------------------------------------------------------------
def test_seq_3_before_2_is_reordered() -> None:
    assert reordered_keys(processed_frame([1, 3, 2, 4])) == ["k"]


@pytest.mark.parametrize("seqs, reordered", [
    ([1, 2, 3], False),
    ([1, 2, 3, 1, 2, 3], False),   # a full replay
    ([1, 2, 2, 2, 3], False),      # duplicates in a row
    ([2, 1], True),
    ([1, 3, 2, 3], True),          # 3 first seen before 2
    ([1, 2, 4, 3, 4], True),
    ([], False),
])
def test_reordering_looks_only_at_first_sightings(seqs: list[int], reordered: bool) -> None:
    assert (reordered_keys(processed_frame(seqs)) == ["k"]) is reordered


def test_reordering_is_per_key_and_sorted() -> None:
    observed = pd.DataFrame({"key": ["b", "a", "c", "a", "b", "c"],
                             "seq": [2, 1, 1, 2, 1, 2]})
    # c is in order; a is in order; b saw 2 before 1
    assert reordered_keys(observed) == ["b"]
    observed2 = pd.DataFrame({"key": ["z", "y", "z", "y"], "seq": [2, 2, 1, 1]})
    assert reordered_keys(observed2) == ["y", "z"]


def test_reordered_keys_empty() -> None:
    assert reordered_keys(pd.DataFrame()) == []
    assert reordered_keys(pd.DataFrame(columns=["key", "seq"])) == []


# --- producer ---------------------------------------------------------------------------------
OK = None
TIMEOUT = "_MSG_TIMED_OUT"


@pytest.mark.parametrize("reports, stored, expected", [
    ([OK], 1, DELIVERED_ONCE),
    ([OK], 2, DUPLICATED),
    ([TIMEOUT, OK], 2, DUPLICATED),        # app retried after a timeout that had succeeded
    ([], 3, DUPLICATED),                   # copies decide before reports
    ([OK], 0, ACKED_BUT_LOST),
    ([TIMEOUT], 0, FAILED_REPORTED),
    ([TIMEOUT, "_TRANSPORT"], 0, FAILED_REPORTED),
    ([TIMEOUT], 1, UNACKED_BUT_STORED),    # told it failed, stored anyway
    ([], 1, UNACKED_BUT_STORED),           # died before the report, stored anyway
    ([], 0, LOST),                         # died before the report, nothing stored
    ([TIMEOUT, OK], 1, DELIVERED_ONCE),    # a success anywhere counts as acked
    ([OK, TIMEOUT], 0, ACKED_BUT_LOST),
])
def test_producer_outcome_precedence(reports: list[str | None], stored: int,
                                     expected: str) -> None:
    sends = sent_frame(1)
    acks = pd.DataFrame({"msg_id": ["m1"] * len(reports), "partition": [0] * len(reports),
                         "offset": [-1 if r else 0 for r in reports], "error": reports})
    readback = pd.DataFrame({"msg_id": ["m1"] * stored, "partition": [0] * stored,
                             "offset": list(range(stored)), "key": ["k"] * stored,
                             "seq": [1] * stored})
    out = producer_outcomes(sends, acks, readback)
    assert out["outcome"].tolist() == [expected]
    assert out["stored_copies"].tolist() == out["copies"].tolist() == [stored]


def test_precedence_table_covers_every_producer_outcome() -> None:
    marks = test_producer_outcome_precedence.pytestmark  # type: ignore[attr-defined]
    covered = {case[2] for mark in marks if mark.name == "parametrize" for case in mark.args[1]}
    assert covered == set(PRODUCER_OUTCOMES)


def test_producer_flags_and_last_error() -> None:
    sends = sent_frame(4)
    acks = pd.DataFrame({
        "msg_id": ["m1", "m2", "m2", "m3", "m3"],
        "partition": [0, -1, 0, -1, -1], "offset": [0, -1, 1, -1, -1],
        "error": [None, TIMEOUT, float("nan"), TIMEOUT, "_TRANSPORT"]})
    readback = pd.DataFrame({"msg_id": ["m1", "m2"], "partition": [0, 0], "offset": [0, 1]})
    out = producer_outcomes(sends, acks, readback).set_index("msg_id")
    assert out["acked"].tolist() == [True, True, False, False]
    assert out["failed_reported"].tolist() == [False, False, True, False]
    assert out["error"].tolist() == ["", TIMEOUT, "_TRANSPORT", ""]
    assert out["outcome"].tolist() == [DELIVERED_ONCE, DELIVERED_ONCE, FAILED_REPORTED, LOST]
    assert list(out.reset_index().columns) == ["msg_id", "index", "key", "seq", "acked",
                                               "failed_reported", "error", "stored_copies",
                                               "copies", "outcome"]


def test_acks_0_success_with_offset_minus_one_and_nothing_stored_is_acked_but_lost() -> None:
    # With acks=0 librdkafka reports success at once, offset -1 (unknown): the app believes it.
    sends = sent_frame(2)
    acks = pd.DataFrame({"msg_id": ["m1", "m2"], "partition": [0, 0], "offset": [-1, -1],
                         "error": [None, None]})
    readback = pd.DataFrame({"msg_id": ["m2"], "partition": [0], "offset": [0],
                             "key": ["k"], "seq": [2]})
    out = producer_outcomes(sends, acks, readback)
    assert out["outcome"].tolist() == [ACKED_BUT_LOST, DELIVERED_ONCE]
    summary = producer_summary(out, readback)
    assert summary["acked"] == 2
    assert summary["acked_but_lost"] == 1
    assert summary["acked_but_lost_rate"] == pytest.approx(0.5)


def test_producer_summary_counts() -> None:
    sends = sent_frame(5)
    acks = pd.DataFrame({"msg_id": ["m1", "m2", "m3", "m4"], "partition": [0, 0, -1, -1],
                         "offset": [0, 1, -1, -1], "error": [None, None, TIMEOUT, TIMEOUT]})
    # m2 stored twice (a retried batch), m3 stored although reported failed, m4 and m5 gone;
    # log order puts seq 3 before seq 2 for key k.
    readback = pd.DataFrame({"msg_id": ["m1", "m3", "m2", "m2"], "partition": [0, 0, 0, 0],
                             "offset": [0, 1, 2, 3], "key": ["k"] * 4, "seq": [1, 3, 2, 2]})
    out = producer_outcomes(sends, acks, readback)
    s = producer_summary(out, readback.sample(frac=1, random_state=3))  # order must not matter
    assert s == {
        "sent": 5, "acked": 2, "failed_reported": 2, "stored_records": 4,
        "delivered_once": 1, "acked_but_lost": 0, "unacked_but_stored": 1, "lost": 1,
        "duplicated": 1, "duplicated_messages": 1, "reordered_keys": 1,
        "acked_but_lost_rate": 0.0, "lost_rate": 0.2, "unacked_but_stored_rate": 0.2,
        "duplicated_rate": 0.2,
    }
    assert sum(out["outcome"] == FAILED_REPORTED) == 1  # m4; m3 is unacked-but-stored


def test_producer_reordering_is_read_in_log_order_not_row_order() -> None:
    sends = sent_frame(3)
    acks = pd.DataFrame({"msg_id": ["m1", "m2", "m3"], "partition": [0] * 3,
                         "offset": [0, 1, 2], "error": [None] * 3})
    in_order = pd.DataFrame({"msg_id": ["m3", "m2", "m1"], "partition": [0] * 3,
                             "offset": [2, 1, 0], "key": ["k"] * 3, "seq": [3, 2, 1]})
    out = producer_outcomes(sends, acks, in_order)
    assert producer_summary(out, in_order)["reordered_keys"] == 0
    swapped = in_order.assign(offset=[0, 2, 1])  # m3 landed first in the log
    assert producer_summary(out, swapped)["reordered_keys"] == 1


# --- aborted reads ----------------------------------------------------------------------------
def test_aborted_reads_counts_records_only_uncommitted_readers_saw() -> None:
    committed = pd.DataFrame({"partition": [0, 0, 1], "offset": [0, 3, 0],
                              "msg_id": ["a", "b", "c"]})
    # offsets 1, 2 of partition 0 and 1 of partition 1 were in aborted transactions;
    # b's aborted first attempt (p0/o1) has the same msg_id as its committed retry.
    uncommitted = pd.DataFrame({"partition": [0, 0, 0, 0, 1, 1], "offset": [0, 1, 2, 3, 0, 1],
                                "msg_id": ["a", "b", "x", "b", "c", "y"]})
    assert aborted_reads(committed, uncommitted) == 3
    assert aborted_reads(uncommitted, uncommitted) == 0
    assert aborted_reads(uncommitted, committed) == 0


def test_aborted_reads_counts_a_record_once_even_if_read_twice() -> None:
    uncommitted = pd.DataFrame({"partition": [0, 0], "offset": [5, 5], "msg_id": ["x", "x"]})
    assert aborted_reads(pd.DataFrame(columns=["partition", "offset", "msg_id"]), uncommitted) == 1


def test_aborted_reads_empty() -> None:
    assert aborted_reads(pd.DataFrame(), pd.DataFrame()) == 0


# --- empty inputs and JSON --------------------------------------------------------------------
def test_empty_consumer_run() -> None:
    out = consumer_outcomes(pd.DataFrame(columns=["msg_id", "key", "seq"]), pd.DataFrame())
    assert out.empty
    assert list(out.columns) == ["msg_id", "index", "key", "seq", "copies", "outcome"]
    summary = consumer_summary(out, pd.DataFrame())
    assert summary["sent"] == 0 and summary["lost_rate"] == 0.0
    assert summary["duplicated_rate"] == 0.0


def test_nothing_processed_means_all_lost() -> None:
    out = consumer_outcomes(sent_frame(3), pd.DataFrame(columns=["msg_id"]))
    assert out["outcome"].tolist() == [LOST] * 3
    assert consumer_summary(out, pd.DataFrame())["lost_rate"] == 1.0


def test_empty_producer_run() -> None:
    out = producer_outcomes(pd.DataFrame(), pd.DataFrame(), pd.DataFrame())
    assert out.empty
    summary = producer_summary(out, pd.DataFrame())
    assert summary["sent"] == 0 and summary["stored_records"] == 0
    assert all(v == 0 for v in summary.values())


def test_sends_without_any_report_or_readback_are_lost() -> None:
    out = producer_outcomes(sent_frame(2), pd.DataFrame(), pd.DataFrame())
    assert out["outcome"].tolist() == [LOST, LOST]
    assert out["acked"].tolist() == [False, False]
    assert out["error"].tolist() == ["", ""]


def _plain(value: object) -> bool:
    return type(value) in (int, float) and not (isinstance(value, float) and math.isnan(value))


def test_summaries_are_json_serialisable_plain_python() -> None:
    processed = processed_frame([1, 3, 2, 3])
    consumer = consumer_summary(consumer_outcomes(sent_frame(4), processed), processed)
    readback = pd.DataFrame({"msg_id": ["m1", "m1"], "partition": [0, 0], "offset": [0, 1],
                             "key": ["k", "k"], "seq": [1, 1]})
    acks = pd.DataFrame({"msg_id": ["m1"], "partition": [0], "offset": [0], "error": [None]})
    producer = producer_summary(producer_outcomes(sent_frame(2), acks, readback), readback)
    for summary in (consumer, producer):
        assert json.loads(json.dumps(summary)) == summary
        assert all(_plain(v) for v in summary.values()), summary
    assert consumer["reordered_keys"] == 1 and consumer["lost"] == 1


def test_crash_table_counts_each_crash_loss_and_repeats():
    from deliverylab.checker import crash_table

    # one partition, 30 messages: crash A at t=1 after 0..9 (restart at 15: 10..14 lost),
    # crash B at t=2 after 15..19 (restart at 17: 17..19 repeated), then 20..29.
    order = list(range(10)) + list(range(15, 20)) + list(range(17, 30))
    times = [0.1 * i for i in range(10)] + [1.1 + 0.1 * i for i in range(5)] + \
        [2.1 + 0.05 * i for i in range(13)]
    tl = pd.DataFrame({"t": times, "index": order})
    tl["copy"] = tl.groupby("index").cumcount() + 1
    outcomes = pd.DataFrame({"index": range(30),
                             "outcome": ["lost" if 10 <= i < 15 else "delivered-once" for i in range(30)]})
    events = pd.DataFrame({"t": [1.0, 2.0], "kind": ["crash", "crash"],
                           "detail": ['{"point": "after-commit", "index": 10}',
                                      '{"point": "after-process", "index": 19}']})
    table = crash_table(outcomes, tl, events)
    assert table[["index", "restart_at", "lost", "repeated"]].values.tolist() == [[10, 15, 5, 0],
                                                                                 [19, 17, 0, 3]]
    assert crash_table(outcomes, tl, events.iloc[0:0]).empty


def test_commit_counts_from_the_ledger_commits_table():
    from deliverylab.checker import commit_counts
    assert commit_counts(pd.DataFrame()) == {"commits": 0, "failed_commits": 0}
    rows = pd.DataFrame({"worker": [0, 0, 1], "ok": [1, 0, 1], "error": [None, "REBALANCE", None]})
    assert commit_counts(rows) == {"commits": 2, "failed_commits": 1}


# --- a run out of time: its unread tail is not a loss (issue 21) -------------------------------
def test_a_timed_out_run_counts_its_unread_tail_apart_from_its_losses() -> None:
    from deliverylab.checker import unread_at_timeout
    from deliverylab.vocabulary import UNREAD

    # partition 0: m1..m6 at offsets 0..5; partition 1: m7..m10 at offsets 0..3
    sent = sent_frame(10)
    log = pd.DataFrame({"msg_id": [f"m{i}" for i in range(1, 11)],
                        "partition": [0] * 6 + [1] * 4, "offset": list(range(6)) + list(range(4))})
    # p0: m1, m2 and m4 processed: m3 was jumped over (lost), m5 and m6 not reached (unread).
    # p1: m7 processed, a commit at next offset 3: m8 and m9 were committed past (lost), m10 unread.
    processed = processed_frame([1, 2, 4, 7])
    commits = pd.DataFrame({"partition": [1, 1], "offset": [3, 9], "ok": [1, 0]})  # the refused one counts not
    out = unread_at_timeout(consumer_outcomes(sent, processed), log, processed, commits)
    got = dict(zip(out["msg_id"], out["outcome"]))
    assert [k for k, v in got.items() if v == UNREAD] == ["m5", "m6", "m10"]
    assert [k for k, v in got.items() if v == LOST] == ["m3", "m8", "m9"]
    s = consumer_summary(out, processed)
    assert (s["lost"], s["unread_at_timeout"], s["delivered_once"]) == (3, 3, 4)
    # a message the log does not hold cannot be unread: it stays lost
    out = unread_at_timeout(consumer_outcomes(sent_frame(11), processed), log, processed, commits)
    assert out.loc[out["msg_id"] == "m11", "outcome"].item() == LOST
    # a partition nobody ever read: all of it unread (the consumers could not run)
    nothing = processed_frame([])
    out = unread_at_timeout(consumer_outcomes(sent, nothing), log, nothing)
    assert set(out["outcome"]) == {UNREAD}


def test_an_application_resend_stored_twice_is_one_message_duplicated() -> None:
    # m1 sent, the process died before its report; the restarted one sent m1 again (a second
    # send row, the same id) and both copies are in the log, each acknowledged once at last
    sends = pd.DataFrame({"msg_id": ["m0", "m1", "m1"], "key": "k", "seq": [0, 1, 1]})
    acks = pd.DataFrame({"msg_id": ["m0", "m1"], "partition": 0, "offset": [0, 2],
                         "error": [None, None]})
    readback = pd.DataFrame({"msg_id": ["m0", "m1", "m1"], "partition": 0, "offset": [0, 1, 2],
                             "key": "k", "seq": [0, 1, 1]})
    out = producer_outcomes(sends, acks, readback).set_index("msg_id")
    assert len(out) == 2 and out.loc["m1", "outcome"] == DUPLICATED
    assert producer_summary(out.reset_index(), readback)["duplicated"] == 1

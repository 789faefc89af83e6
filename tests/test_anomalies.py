"""The anomaly classes over hand-made histories: for every class, one history that has it and
one that does not (pure: no Kafka)."""
from __future__ import annotations

import pandas as pd
import pytest

from deliverylab import anomalies as an
from deliverylab.checker import consumer_outcomes, producer_outcomes
from deliverylab.vocabulary import (CRASH, DUPLICATE, G1A, INCONSISTENT_OFFSETS, LOST_WRITE,
                                    NEVER_PRODUCED, NONMONOTONIC_POLL, NOT_PERSISTED, PERSISTED,
                                    POLL_SKIP, POSSIBLY_PERSISTED)


def log_of(n: int, partition: int = 0, step: int = 1) -> pd.DataFrame:
    """n records m0..m{n-1} at offsets 0, step, 2*step … (step 2: a marker between records)."""
    return pd.DataFrame({"msg_id": [f"m{i}" for i in range(n)], "partition": partition,
                         "offset": [i * step for i in range(n)]})


def polls_of(offsets: list[int], workers: list[int] | None = None, partition: int = 0) -> pd.DataFrame:
    return pd.DataFrame({"msg_id": [f"m{o}" for o in offsets], "partition": partition,
                         "offset": offsets, "worker": workers or [0] * len(offsets),
                         "t": [float(i) for i in range(len(offsets))]})


def sent_of(n: int) -> pd.DataFrame:
    return pd.DataFrame({"msg_id": [f"m{i}" for i in range(n)], "key": "k", "seq": range(n)})


# --- poll-skip --------------------------------------------------------------------------------
def test_poll_skip_found_where_reads_jump_over_logged_records():
    cases = an.poll_cases(polls_of([0, 1, 4, 5]), log_of(6))
    assert list(cases["kind"]) == [POLL_SKIP]
    case = cases.iloc[0]
    assert (case.from_offset, case.to_offset, case.skipped) == (1, 4, 2)
    assert case.skipped_ids == ["m2", "m3"]
    assert case.cause == "within one consumer's reads"


def test_no_poll_skip_in_contiguous_reads_nor_over_transaction_markers():
    assert an.poll_cases(polls_of([0, 1, 2, 3]), log_of(4)).empty
    # offsets 0, 2, 4: the odd offsets are commit markers no reader sees, not skipped records
    log = log_of(3, step=2)
    polls = polls_of([0, 2, 4])
    assert an.poll_cases(polls, log).empty


def test_poll_skip_across_a_crash_and_from_the_start_of_the_log():
    events = pd.DataFrame({"kind": [CRASH], "worker": [0], "t": [1.5]})
    cases = an.poll_cases(polls_of([2, 3, 6]), log_of(8), events)
    assert list(cases["kind"]) == [POLL_SKIP, POLL_SKIP]
    first, second = cases.iloc[0], cases.iloc[1]
    assert pd.isna(first.from_offset) and first.skipped == 2  # m0, m1 never read
    assert second.after_crash and second.skipped == 2 and "crash" in second.cause


def test_poll_skip_by_a_commit_past_the_last_read():
    commits = pd.DataFrame({"partition": [0], "offset": [5], "ok": [1]})
    cases = an.poll_cases(polls_of([0, 1]), log_of(5), commits=commits)
    assert list(cases["kind"]) == [POLL_SKIP]
    assert cases.iloc[0].skipped_ids == ["m2", "m3", "m4"]
    # a commit that only reaches what was read skips nothing; nor does a failed one
    ok_commits = pd.DataFrame({"partition": [0, 0], "offset": [2, 5], "ok": [1, 0]})
    assert an.poll_cases(polls_of([0, 1]), log_of(5), commits=ok_commits).empty


# --- nonmonotonic-poll ------------------------------------------------------------------------
def test_nonmonotonic_poll_after_a_crash_is_said_to_be_the_rewind():
    events = pd.DataFrame({"kind": [CRASH], "worker": [0], "t": [2.5]})
    cases = an.poll_cases(polls_of([0, 1, 2, 1, 2, 3]), log_of(4), events)
    assert list(cases["kind"]) == [NONMONOTONIC_POLL]
    case = cases.iloc[0]
    assert case.delta == -1 and case.after_crash and "rewound to the committed offset" in case.cause


def test_nonmonotonic_poll_without_crash_or_rebalance_is_unexplained():
    cases = an.poll_cases(polls_of([0, 1, 1, 2]), log_of(3))
    assert list(cases["kind"]) == [NONMONOTONIC_POLL]
    assert not cases.iloc[0].after_crash and cases.iloc[0].cause.startswith("unexplained")
    summary = an.consumer_anomaly_summary(
        an.consumer_anomalies(consumer_outcomes(sent_of(3), polls_of([0, 1, 1, 2])), log_of(3), None),
        cases, an.inconsistent_offsets())
    assert summary["nonmonotonic_polls"] == 1 and summary["nonmonotonic_polls_explained"] == 0


def test_nonmonotonic_across_a_rebalance_between_workers():
    cases = an.poll_cases(polls_of([0, 1, 2, 1, 2], workers=[0, 0, 0, 1, 1]), log_of(3))
    assert list(cases["kind"]) == [NONMONOTONIC_POLL]
    assert cases.iloc[0].across_rebalance and "rebalance" in cases.iloc[0].cause


def test_no_nonmonotonic_poll_in_forward_reads():
    cases = an.poll_cases(polls_of([0, 1, 2]), log_of(3))
    assert NONMONOTONIC_POLL not in set(cases["kind"])


# --- per message: skipped vs gone from the log vs never produced; duplicate --------------------
def _messages(processed: list[int], n: int = 4) -> pd.DataFrame:
    return consumer_outcomes(sent_of(n), polls_of(processed))


def test_a_lost_message_still_in_the_log_is_a_poll_skip():
    m = an.consumer_anomalies(_messages([0, 1, 3]), log_of(4), None)
    assert m.set_index("msg_id").loc["m2", "anomaly"] == POLL_SKIP
    assert bool(m.set_index("msg_id").loc["m2", "in_log"])


def test_an_acked_message_gone_from_the_log_is_a_lost_write():
    acks = pd.DataFrame({"msg_id": ["m0", "m1", "m2", "m3"], "error": [None] * 4})
    log = log_of(4)[lambda f: f.msg_id != "m2"]
    m = an.consumer_anomalies(_messages([0, 1, 3]), log, acks).set_index("msg_id")
    assert m.loc["m2", "anomaly"] == LOST_WRITE
    # and one never acknowledged, also not in the log, was never produced
    acks.loc[2, "error"] = "_MSG_TIMED_OUT"
    m = an.consumer_anomalies(_messages([0, 1, 3]), log, acks).set_index("msg_id")
    assert m.loc["m2", "anomaly"] == NEVER_PRODUCED


def test_no_message_anomaly_when_each_is_processed_once():
    m = an.consumer_anomalies(_messages([0, 1, 2, 3]), log_of(4), None)
    assert set(m["anomaly"]) == {""}
    s = an.consumer_anomaly_summary(m, an.poll_cases(polls_of([0, 1, 2, 3]), log_of(4)),
                                    an.inconsistent_offsets(log_of(4)))
    assert s["anomalies"] == [] and s["skipped_by_consumer"] == s["gone_from_log"] == 0


def test_duplicate_and_not():
    m = an.consumer_anomalies(_messages([0, 1, 1, 2, 3]), log_of(4), None).set_index("msg_id")
    assert m.loc["m1", "anomaly"] == DUPLICATE
    assert DUPLICATE not in set(an.consumer_anomalies(_messages([0, 1, 2, 3]), log_of(4), None)["anomaly"])


def test_summary_splits_skipped_from_gone():
    acks = pd.DataFrame({"msg_id": [f"m{i}" for i in range(6)], "error": [None] * 6})
    log = log_of(6)[lambda f: f.msg_id != "m4"]
    polls = polls_of([0, 3, 5])
    m = an.consumer_anomalies(consumer_outcomes(sent_of(6), polls), log, acks)
    s = an.consumer_anomaly_summary(m, an.poll_cases(polls, log), an.inconsistent_offsets(log))
    assert (s["skipped_by_consumer"], s["gone_from_log"], s["lost_writes"]) == (2, 1, 1)
    assert s["anomalies"] == [POLL_SKIP, LOST_WRITE]


# --- inconsistent-offsets ----------------------------------------------------------------------
def test_inconsistent_offsets_one_position_two_records():
    acks = pd.DataFrame({"msg_id": ["m0", "m1"], "partition": [0, 0], "offset": [0, 1]})
    log = pd.DataFrame({"msg_id": ["m0", "mX"], "partition": [0, 0], "offset": [0, 1]})
    bad = an.inconsistent_offsets(acks, log)
    assert list(bad["offset"]) == [1] and bad.iloc[0].msg_ids == ["m1", "mX"]
    s = an.consumer_anomaly_summary(an.consumer_anomalies(_messages([0]), log, None),
                                    an.poll_cases(polls_of([0]), log), bad)
    assert INCONSISTENT_OFFSETS in s["anomalies"]


def test_no_inconsistent_offsets_when_all_agree_and_failed_reports_are_ignored():
    acks = pd.DataFrame({"msg_id": ["m0", "m1", "m2"], "partition": [0, 0, 0], "offset": [0, 1, -1]})
    assert an.inconsistent_offsets(acks, log_of(2), polls_of([0, 1])).empty


# --- G1a ----------------------------------------------------------------------------------------
def test_g1a_a_read_committed_read_of_an_aborted_record():
    aborted = pd.DataFrame({"partition": [0], "offset": [3]})
    reads = pd.DataFrame({"msg_id": ["a", "b"], "partition": [0, 0], "offset": [2, 3]})
    assert list(an.g1a_reads(reads, aborted)["offset"]) == [3]
    s = an.consumer_anomaly_summary(an.consumer_anomalies(_messages([0, 1, 2, 3]), log_of(4), None),
                                    an.poll_cases(polls_of([0, 1, 2, 3]), log_of(4)),
                                    an.inconsistent_offsets(), g1a=1)
    assert s["anomalies"] == [G1A]


def test_no_g1a_when_the_reader_skips_aborted_records():
    aborted = pd.DataFrame({"partition": [0], "offset": [3]})
    reads = pd.DataFrame({"msg_id": ["a", "c"], "partition": [0, 0], "offset": [2, 5]})
    assert an.g1a_reads(reads, aborted).empty


# --- producer runs: persistence status ----------------------------------------------------------
@pytest.mark.parametrize("error,acks,status,certain", [
    (None, "all", PERSISTED, True),
    (None, "1", PERSISTED, True),
    (None, "0", POSSIBLY_PERSISTED, True),  # acks=0: no response awaited
    ("REQUEST_TIMED_OUT", "all", POSSIBLY_PERSISTED, True),
    ("NOT_ENOUGH_REPLICAS_AFTER_APPEND", "all", POSSIBLY_PERSISTED, True),
    ("_TRANSPORT", "all", POSSIBLY_PERSISTED, True),
    ("_MSG_TIMED_OUT", "all", POSSIBLY_PERSISTED, False),  # sent or still queued: unknown
    ("NOT_ENOUGH_REPLICAS", "all", NOT_PERSISTED, True),
    ("NOT_LEADER_OR_FOLLOWER", "all", NOT_PERSISTED, True),
    ("_PURGE_QUEUE", "all", NOT_PERSISTED, True),
    ("MSG_SIZE_TOO_LARGE", "all", NOT_PERSISTED, True),  # rd_kafka_err_action's default
])
def test_persistence_status_follows_librdkafkas_rules(error, acks, status, certain):
    assert an.persistence_status(error, acks) == (status, certain)


def _producer_run():
    sends = pd.DataFrame({"msg_id": ["m0", "m1", "m2", "m3", "m4"], "key": "k", "seq": range(5)})
    acks = pd.DataFrame({"msg_id": ["m0", "m1", "m2", "m3"],
                         "error": [None, "_MSG_TIMED_OUT", "_MSG_TIMED_OUT", "NOT_ENOUGH_REPLICAS"]})
    readback = pd.DataFrame({"msg_id": ["m1"], "partition": [0], "offset": [0], "key": "k", "seq": [1]})
    return producer_outcomes(sends, acks, readback)


def test_possibly_persisted_against_the_read_back():
    m = an.producer_statuses(_producer_run(), "all").set_index("msg_id")
    assert m.loc["m0", "status"] == PERSISTED and not m.loc["m0", "in_log"]  # a lost write
    assert m.loc["m1", "dotnet_status"] == "PossiblyPersisted" and m.loc["m1", "in_log"]
    assert m.loc["m3", "status"] == NOT_PERSISTED
    assert m.loc["m4", "status"] == ""  # never reported: nothing was told
    s = an.persistence_summary(m.reset_index())
    assert (s["possibly_persisted"], s["possibly_persisted_in_log"]) == (2, 1)
    assert (s["persisted"], s["lost_writes"], s["status_uncertain"]) == (1, 1, 2)


def test_no_lost_write_when_every_persisted_is_stored():
    sends = pd.DataFrame({"msg_id": ["m0"], "key": "k", "seq": [0]})
    acks = pd.DataFrame({"msg_id": ["m0"], "error": [None]})
    rb = pd.DataFrame({"msg_id": ["m0"], "partition": [0], "offset": [0], "key": "k", "seq": [0]})
    s = an.persistence_summary(an.producer_statuses(producer_outcomes(sends, acks, rb)))
    assert s["lost_writes"] == 0 and s["persisted_in_log"] == 1


def test_producer_anomalies_listed():
    s = an.persistence_summary(an.producer_statuses(_producer_run(), "all"))
    assert s["anomalies"] == [LOST_WRITE]


def test_records_a_deduping_consumer_read_and_skipped_are_no_poll_skip():
    # the producer resent m0, m1 (offsets 2, 3): a consumer that dedupes on the message id stores
    # no effect for them, so its effects jump from offset 1 to 4 without skipping anything
    log = pd.DataFrame({"msg_id": ["m0", "m1", "m0", "m1", "m2"], "partition": 0,
                        "offset": [0, 1, 2, 3, 4]})
    polls = pd.DataFrame({"msg_id": ["m0", "m1", "m2"], "partition": 0, "offset": [0, 1, 4],
                          "worker": 0, "t": [0.0, 1.0, 2.0]})
    assert an.poll_cases(polls, log).empty
    # … but a jump over one record never processed still is one
    log.loc[3, "msg_id"] = "m9"
    assert list(an.poll_cases(polls, log)["skipped_ids"]) == [["m0", "m9"]]


def test_a_commit_past_trailing_copies_a_deduping_consumer_read_is_no_poll_skip():
    # the resent m0, m1 are the log's last records (offsets 3, 4): the consumer read them, stored
    # nothing and committed offset 5, past them — past nothing it had not processed
    log = pd.DataFrame({"msg_id": ["m0", "m1", "m2", "m0", "m1"], "partition": 0,
                        "offset": [0, 1, 2, 3, 4]})
    polls = pd.DataFrame({"msg_id": ["m0", "m1", "m2"], "partition": 0, "offset": [0, 1, 2],
                          "worker": 0, "t": [0.0, 1.0, 2.0]})
    commits = pd.DataFrame({"partition": [0], "offset": [5], "ok": [1]})
    assert an.poll_cases(polls, log, commits=commits).empty
    log.loc[4, "msg_id"] = "m9"  # a record never processed behind the commit still is a skip
    assert list(an.poll_cases(polls, log, commits=commits)["skipped_ids"]) == [["m9"]]


def test_producer_offsets_an_acked_offset_holding_another_record_and_the_witness():
    """Pure: after an unclean election the new leader wrote m3 where m2 was acknowledged; a
    failed report's offset (-1) never counts; the witness agrees only on identical triples."""
    from deliverylab.counts import producer_offsets
    acks = pd.DataFrame({"msg_id": ["m1", "m2", "m3", "m4"], "partition": [0, 0, 0, 0],
                         "offset": [0, 1, 1, -1], "error": [None, None, None, "_MSG_TIMED_OUT"]})
    log = pd.DataFrame({"partition": [0, 0], "offset": [0, 1], "msg_id": ["m1", "m3"]})
    got = producer_offsets(acks.iloc[[0, 1]], log, log, witnessed=True)
    assert (got["inconsistent_offsets"], got["inconsistent_offset_list"]) == (1, [1])
    assert got["witness_agrees"] and got["witness_records"] == 2
    clean = producer_offsets(acks.iloc[[0, 2, 3]], log, log.iloc[:1], witnessed=True)
    assert clean["inconsistent_offsets"] == 0
    assert not clean["witness_agrees"] and clean["witness_differs"] == 1
    assert "witness_agrees" not in producer_offsets(acks, log, log.iloc[:0], witnessed=False)


def test_runs_that_read_no_input_back_name_duplicates_and_an_unclassified_loss():
    from deliverylab.vocabulary import UNCLASSIFIED_LOSS
    named = an.unread_input_anomalies({"duplicated": 2, "lost": 1})
    assert named["anomalies"] == [DUPLICATE, UNCLASSIFIED_LOSS]
    assert named["anomalies_not_looked_for"] == [POLL_SKIP, NONMONOTONIC_POLL]
    assert an.unread_input_anomalies({"duplicated": 0, "lost": 0})["anomalies"] == []

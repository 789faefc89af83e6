"""The check's pure parts: claims, the crash plan, the witness's bookkeeping, the verdict over
hand-made histories, the report's forms, and what a function may carry to its process."""
from __future__ import annotations

import json
import threading

import pandas as pd
import pytest

from deliverylab.check import guarantees
from deliverylab.check.records import lab_id
from deliverylab.check.report import Report
from deliverylab.check.schedule import CrashPlan, check_crashes, describe, point_name
from deliverylab.check.shipping import check_signature, pack, unpack
from deliverylab.check.verdict import id_ranges, judge
from deliverylab.check.witness import Witness
from deliverylab.errors import LabError
from deliverylab.ids import msg_id
from deliverylab.vocabulary import DELIVERED_ONCE, DUPLICATED, LOST
from deliverylab.results import Result


# --- claims --------------------------------------------------------------------------------------
def test_each_claim_forbids_what_it_says():
    c = guarantees.CLAIMS
    assert guarantees.broken_by(c["at-least-once"], lost=3, duplicated=9) == ["lost"]
    assert guarantees.broken_by(c["at-most-once"], lost=3, duplicated=9) == ["duplicated"]
    assert guarantees.broken_by(c["exactly-once"], lost=3, duplicated=9) == ["lost", "duplicated"]
    assert guarantees.broken_by(c["exactly-once"], lost=0, duplicated=0) == []


@pytest.mark.parametrize("claim, option, needle", [
    ("at-lest-once", "claim=", "claim='at-lest-once' is not a guarantee.*Did you mean 'at-least-once'"),
    ("exactly_once", "--claim", "--claim exactly_once .*Did you mean 'exactly-once'"),
    ("durable", "claim=", "Claim one of at-most-once, at-least-once, exactly-once"),
])
def test_an_unknown_claim_is_one_paragraph_naming_the_option(claim, option, needle):
    with pytest.raises(LabError, match=needle):
        guarantees.guarantee(claim, option)


# --- the crash plan ------------------------------------------------------------------------------
def test_thresholds_are_seeded_increasing_and_inside_the_input():
    a, b = CrashPlan(8, 200, 1).thresholds(), CrashPlan(8, 200, 1).thresholds()
    assert a == b and a != CrashPlan(8, 200, 2).thresholds()
    assert a == sorted(set(a)) and len(a) == 8
    assert 20 <= a[0] and a[-1] <= 180


def test_crashes_take_the_windows_in_turn():
    windows = [("commit", "process"), ("poll", "commit")]
    plan = CrashPlan(5, 200, 3)
    picked = [plan.window(k, windows) for k in range(4)]
    assert set(picked[:2]) == set(windows) and picked[:2] == picked[2:]
    assert plan.window(0, []) is None
    assert point_name(("commit", "process")) == "after-commit"
    assert describe(("commit", "process")) == "after your commit() returned, before your process() call"


@pytest.mark.parametrize("crashes, needle", [(-1, "crashes=-1"), (1.5, "crashes=1.5"),
                                             (41, "at most 40")])
def test_crash_counts_are_checked(crashes, needle):
    with pytest.raises(LabError, match=needle):
        check_crashes(crashes, 200)
    assert check_crashes(0, 200) == 0 and check_crashes(40, 200) == 40


# --- the witness ---------------------------------------------------------------------------------
def _witness(crashes=1, messages=10):
    struck: list[dict] = []

    class Died(BaseException):
        pass

    def record(info):
        struck.append(info)
        raise Died  # instead of the SIGKILL that follows the record
    return Witness(CrashPlan(crashes, messages, 1), 0, [], record), struck, Died


def test_the_witness_strikes_after_a_commit_with_the_committed_ids_in_hand():
    w, struck, died = _witness(crashes=1, messages=10)  # armed after 1..9 records
    with pytest.raises(died):
        for i in range(10):
            w.before("poll")
            w.handed_out([(msg_id(i), 0, i)])
            w.after("poll")
            w.before("commit")
            w.committed_to({0: i + 1})
            w.after("commit")
            w.before("process")  # the window (commit, process): committed, not processed
            w.done_with(msg_id(i))
            w.after("process")
    (info,) = struck
    assert info["point"] == "after-commit" and info["before"] == "process"
    assert info["committed_unprocessed"] == info["in_hand"] and len(info["in_hand"]) == 1


def test_nothing_at_stake_is_never_struck():
    w, struck, _ = _witness(crashes=1, messages=10)
    for i in range(10):  # processed and committed before the next call: nothing in flight
        w.handed_out([(msg_id(i), 0, i)])
        w.done_with(msg_id(i))
        w.committed_to({0: i + 1})
        w.after("commit")
        w.before("poll")
    assert not struck and not w.at_stake()


def test_an_aborted_transaction_puts_its_records_back_in_hand():
    w, _, _ = _witness(crashes=0)
    w.handed_out([("m000001", 0, 1)])
    w.done_with("m000001", transactional=True)
    assert w.stakes()["in_transaction"] == ["m000001"]
    w.transaction_ended(False, {})
    assert w.stakes()["in_hand"] == ["m000001"] and not w.in_txn
    w.done_with("m000001", transactional=True)
    w.transaction_ended(True, {0: 2})
    assert not w.at_stake()


# --- the verdict ---------------------------------------------------------------------------------
def _outcomes(copies: dict[int, int], n: int = 10) -> pd.DataFrame:
    rows = [{"msg_id": msg_id(i), "index": i, "copies": copies.get(i, 1)} for i in range(n)]
    df = pd.DataFrame(rows)
    df["outcome"] = df["copies"].map(lambda c: LOST if c == 0 else DELIVERED_ONCE if c == 1 else DUPLICATED)
    return df


def _events(*crashes: dict) -> pd.DataFrame:
    return pd.DataFrame([{"t": 1.0 + k, "kind": "crash", "worker": k, "pid": 1,
                          "detail": json.dumps(c)} for k, c in enumerate(crashes)])


def test_a_lost_id_is_laid_at_the_crash_that_had_it_committed_but_unprocessed():
    ev = _events({"n": 1, "point": "after-commit", "after": "commit", "before": "process",
                  "in_hand": [msg_id(5)], "committed_unprocessed": [msg_id(5)]},
                 {"n": 2, "point": "after-poll", "after": "poll", "before": "commit",
                  "in_hand": [msg_id(7)]})
    v = judge(guarantees.CLAIMS["at-least-once"], _outcomes({5: 0}), ev, "consumer", 2)
    assert not v.held and v.broken == ["lost"] and v.lost == 1 and v.status == "failed"
    assert v.causes[0].lost == [msg_id(5)] and not v.causes[1].lost and not v.unexplained
    assert "ids" not in v.causes[0].sentence() and "id 5 had been committed" in v.causes[0].sentence()
    assert "commit after it" in v.fix


def test_a_duplicate_is_laid_at_the_crash_that_had_it_processed_but_uncommitted():
    ev = _events({"n": 1, "point": "after-process", "after": "process", "before": "commit",
                  "processed_uncommitted": [msg_id(3), msg_id(4)]})
    out = _outcomes({3: 2, 4: 2, 8: 3})
    v = judge(guarantees.CLAIMS["exactly-once"], out, ev, "consumer", 1)
    assert v.duplicated == 4 and v.broken == ["duplicated"]
    assert v.causes[0].duplicated == [msg_id(3), msg_id(4)]
    assert v.unexplained == {"duplicated": [msg_id(8)]}
    assert "idempotent consumer" in v.fix
    held = judge(guarantees.CLAIMS["at-least-once"], out, ev, "consumer", 1)
    assert held.held and held.passed and held.fix == ""


def test_a_run_where_nothing_was_at_stake_does_not_pass():
    ev = _events({"n": 1, "point": "after-poll", "in_hand": [msg_id(1)], "commits_known": True})
    v = judge(guarantees.CLAIMS["at-least-once"], _outcomes({}), ev, "consumer", 3)
    assert v.held and not v.shown and not v.passed and v.status == "inconclusive"
    assert any("could not have shown a breach" in w for w in v.warnings)
    assert any("Only 1 of the 3 planned crashes" in w for w in v.warnings)
    no_crash = judge(guarantees.CLAIMS["at-least-once"], _outcomes({}), _events(), "consumer", 0)
    assert no_crash.status == "inconclusive"
    assert judge(guarantees.CLAIMS["at-least-once"], _outcomes({}), _events(), "producer", 0,
                 faults=1).passed  # a broker fault struck: the run could have shown a loss


def test_auto_commit_losses_name_the_offset_store():
    ev = _events({"n": 1, "point": "after-poll", "in_hand": [msg_id(2)], "commits_known": False})
    v = judge(guarantees.CLAIMS["at-least-once"], _outcomes({2: 0}), ev, "consumer", 1)
    assert v.causes[0].lost == [msg_id(2)] and "enable.auto.offset.store=false" in v.fix


def test_id_ranges_join_runs():
    assert id_ranges([msg_id(i) for i in (51, 52, 53, 60, 75, 76)]) == "ids 51–53, 60, 75–76"
    assert id_ranges([msg_id(7)]) == "id 7"


def test_the_report_has_text_markdown_html_and_json_forms():
    ev = _events({"n": 1, "point": "after-commit", "after": "commit", "before": "process",
                  "in_hand": [msg_id(5)], "committed_unprocessed": [msg_id(5)]})
    out = _outcomes({5: 0})
    v = judge(guarantees.CLAIMS["at-least-once"], out, ev, "consumer", 1)
    tl = pd.DataFrame({"t": [0.1 * i for i in range(9)], "index": [i for i in range(10) if i != 5],
                       "msg_id": [msg_id(i) for i in range(10) if i != 5], "copy": 1})
    result = Result("consumer", {}, out, tl, ev, {"sent": 10, "lost": 1, "duplicated": 0,
                                                 "crashes": 1, "elapsed_s": 1.5})
    r = Report("my_loop (function)", "consumer", v, result, {"claim": "at-least-once"})
    text = str(r)
    assert "✗ at-least-once does NOT hold: 1 lost" in text and "crash 1 (1.0 s, after your commit()" in text
    assert "Likely fix:" in text and r.exit_code == 1
    assert "<img src='data:image/png;base64," in r._repr_html_()
    assert "**✗ at-least-once" in r._repr_markdown_()
    d = json.loads(r.to_json())
    assert d["status"] == "failed" and d["verdict"]["lost"] == 1 and d["summary"]["sent"] == 10


# --- records and functions -----------------------------------------------------------------------
def test_an_output_record_carries_an_id_by_copy_or_json_field():
    assert lab_id(b'{"id":"m000007","index":7}') == "m000007"
    assert lab_id(b'{"copy": true, "id": "m000012"}') == "m000012"
    assert lab_id("{\"id\":\"m000003\"}") == "m000003"
    assert lab_id(b"hello") is None and lab_id(b'{"id": "payment-7"}') is None and lab_id(None) is None


def test_a_function_with_the_wrong_parameters_is_refused():
    def two(consumer, process):
        pass

    def one(consumer):
        pass
    check_signature(two, "consumer", "check.consumer")
    check_signature(lambda *a: None, "transactional", "check.transactional")
    with pytest.raises(LabError, match=r"calls your function as one\(consumer, process\)"):
        check_signature(one, "consumer", "check.consumer")
    with pytest.raises(LabError, match="needs your function"):
        check_signature("my_consumer", "consumer", "check.consumer")


def test_a_function_travels_by_value_with_its_plain_globals(tmp_path):
    def loop(consumer, process):
        return SETTINGS["n"] + len(consumer)
    path = tmp_path / "fn.pkl"
    path.write_bytes(pack(loop, "check.consumer"))
    fn, source = unpack(path)
    assert fn("ab", None) == 5 and "SETTINGS" in "".join(source["lines"])


def test_a_function_using_confluent_kafkas_own_types_travels(tmp_path):
    """TopicPartition and KafkaError say they live in `cimpl`, which cannot be imported by that
    name: copied by value they cannot be rebuilt; they must go by reference."""
    from confluent_kafka import KafkaError, TopicPartition

    def loop(consumer, process):
        return TopicPartition("t", 1, 5), KafkaError._PARTITION_EOF
    path = tmp_path / "fn.pkl"
    path.write_bytes(pack(loop, "check.consumer"))
    fn, _ = unpack(path)
    tp, eof = fn(None, None)
    assert type(tp) is TopicPartition and (tp.partition, tp.offset) == (1, 5)
    assert eof == KafkaError._PARTITION_EOF


def test_a_function_over_an_open_client_or_lock_is_one_paragraph():
    lock = threading.Lock()

    def loop(consumer, process):
        with lock:
            pass
    with pytest.raises(LabError, match="cannot send loop to the process it runs in.*Create such objects"):
        pack(loop, "check.consumer")


SETTINGS = {"n": 3}


def test_a_programs_aftermath_joins_its_crash():
    """What a killed program had sent reaches the log (or the group) just after the kill: the
    watcher's aftermath event adds it to that crash, so a loss is laid at the kill that caused
    it and not at a later one that also sees it committed and never written."""
    ev = pd.concat([_events({"n": 1, "point": "after-commit", "where": "while committed",
                             "committed_unprocessed": [], "working": True},
                            {"n": 2, "point": "after-commit", "where": "while committed",
                             "committed_unprocessed": [msg_id(4), msg_id(6)], "working": True}),
                    pd.DataFrame([{"t": 1.1, "kind": "aftermath", "worker": -1, "pid": 1,
                                   "detail": json.dumps({"n": 1, "committed_unprocessed": [msg_id(4)],
                                                         "processed_uncommitted": [msg_id(8)]})}])])
    v = judge(guarantees.CLAIMS["at-least-once"], _outcomes({4: 0, 6: 0, 8: 2}), ev, "program", 2)
    assert v.causes[0].lost == [msg_id(4)] and v.causes[0].duplicated == [msg_id(8)]
    assert v.causes[1].lost == [msg_id(6)] and v.causes[1].where == "while committed"
    assert not v.unexplained and "flush" in v.fix

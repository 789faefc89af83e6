"""deliverylab check on real brokers: it catches each broken example and passes each correct one,
for functions and for programs (ours, and Kafka's own Java TransactionalMessageCopier).

CI size: 100 input records and 3 crashes per check (the plan spreads them over the input and
strikes only while records are at stake, so 3 are enough to catch a wrong order every time: the
crashes take the loop's windows in turn, see check/schedule.py).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from deliverylab import check
from deliverylab.kafka_dist import ensure_kafka

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))
import loops  # noqa: E402  (examples/loops.py: the functions a learner writes)

SMALL = {"messages": 100, "crashes": 3}
PROGRAM = {"messages": 200, "crashes": 3}  # a program is watched from outside: more to see
pytestmark = pytest.mark.kafka


def _struck(report, point):
    return [c for c in report.verdict.causes if c.point == point]


# --- functions -----------------------------------------------------------------------------------
def test_an_at_least_once_loop_passes_its_claim(cluster):
    r = check.consumer(loops.at_least_once, claim="at-least-once", cluster=cluster, **SMALL)
    assert r.passed and r.exit_code == 0, str(r)
    assert r.summary["lost"] == 0 and r.summary["crashes"] == 3
    assert r.verdict.shown


def test_an_at_most_once_loop_claimed_at_least_once_loses_ids(cluster):
    r = check.consumer(loops.at_most_once, claim="at-least-once", cluster=cluster, **SMALL)
    assert r.status == "failed" and r.verdict.broken == ["lost"], str(r)
    after_commit = _struck(r, "after-commit")
    assert after_commit and all(c.lost for c in after_commit)  # each such crash lost its record
    assert r.summary["lost"] == sum(len(c.lost) for c in r.verdict.causes) and not r.verdict.unexplained
    assert "process(msg) first and commit after it" in r.verdict.fix


def test_an_at_least_once_loop_claimed_exactly_once_duplicates(cluster):
    r = check.consumer(loops.at_least_once, claim="exactly-once", cluster=cluster, **SMALL)
    assert r.status == "failed" and r.verdict.broken == ["duplicated"], str(r)
    assert r.summary["lost"] == 0
    assert any(c.duplicated for c in _struck(r, "after-process"))


def test_a_transactional_copier_holds_exactly_once_and_one_committing_outside_does_not(cluster):
    good = check.transactional(loops.copy_in_transactions, claim="exactly-once", cluster=cluster,
                               **SMALL)
    assert good.passed, str(good)
    bad = check.transactional(loops.copy_committing_outside, claim="exactly-once",
                              cluster=cluster, **SMALL)
    assert bad.verdict.broken == ["duplicated"], str(bad)
    assert any(c.duplicated for c in _struck(bad, "after-commit-transaction"))
    assert "send_offsets_to_transaction" in bad.verdict.fix


def test_a_producer_with_acks_1_loses_acknowledged_writes_and_acks_all_does_not(cluster):
    fault = "kill-leader-lagging-followers"
    lossy = check.producer(loops.send_all, claim="at-least-once", config={"acks": "1"},
                           fault=fault, messages=600, rate=600, cluster=cluster)
    assert lossy.status == "failed" and lossy.summary["acked_but_lost"] > 0, str(lossy)
    assert lossy.verdict.causes[0].point == "fault" and "acks=all" in lossy.verdict.fix
    safe = check.producer(loops.send_all, claim="exactly-once", fault=fault, messages=600,
                          rate=600, config={"acks": "all", "enable.idempotence": True},
                          cluster=cluster)
    assert safe.passed and safe.summary["acked_but_lost"] == 0, str(safe)


# --- programs ------------------------------------------------------------------------------------
def _program(name: str, *args: str) -> list[str]:
    return [sys.executable, str(EXAMPLES / name), *args]


def test_a_correct_at_least_once_program_passes(cluster):
    r = check.program(_program("at_least_once.py"), claim="at-least-once", cluster=cluster,
                      **PROGRAM)
    assert r.passed, str(r)
    assert r.summary["crashes"] == 3 and r.summary["lost"] == 0


def test_the_cli_fails_an_at_most_once_program_claimed_at_least_once(cluster, tmp_path, capsys):
    """The CI use: exit code 1, the report as JSON, the figure saved. (In this process: the
    CLI's own start is test_check_bad_input's.)"""
    from deliverylab.tools.cli import main

    code = main(["check", "--claim", "at-least-once", "--crashes", "3", "--messages", "200",
                 "--json", "--figure", str(tmp_path / "t.png"), "--", *_program("at_most_once.py")])
    out = capsys.readouterr().out
    assert code == 1, out
    d = json.loads(out)
    assert d["status"] == "failed" and d["verdict"]["lost"] > 0
    assert (tmp_path / "t.png").stat().st_size > 10_000


def test_a_transactional_program_passes_exactly_once(cluster):
    r = check.program(_program("exactly_once.py"), claim="exactly-once", cluster=cluster,
                      **PROGRAM)
    assert r.passed, str(r)


def test_kafkas_transactional_message_copier_holds_exactly_once(cluster):
    # --enable-random-aborts: the copier's own aborts on top of the lab's crashes (a run
    # without them, the plain copier, took 17 s more of `make test` and checked a subset).
    libs = ensure_kafka()
    copier = ["java", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp", f"{libs}/*",
              "org.apache.kafka.tools.TransactionalMessageCopier", "--broker-list", "{bootstrap}",
              "--input-topic", "{input_topic}", "--input-partition", "0",
              "--output-topic", "{output_topic}", "--consumer-group", "{group}",
              "--transactional-id", "{transactional_id}", "--transaction-size", "10",
              # A restart in assign mode asks for its position before initTransactions() aborts
              # its dead predecessor's transaction, and waits for that transaction to time out.
              "--transaction-timeout", "2000", "--enable-random-aborts"]
    # 500 records: since the brokers abort a dead transaction within ~1 s (a 1 s abort check), a
    # restarted copier is back at work sooner, and with 300 records the second crash found no
    # observation in flight before the input ran out in 2 full-suite runs (1 crash of 2)
    r = check.program(copier, claim="exactly-once", cluster=cluster, messages=500, crashes=2,
                      stall_s=30)
    assert r.passed, str(r)
    assert r.summary["crashes"] == 2 and r.summary["delivered_once"] == 500

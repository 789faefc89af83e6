"""A bad value for EVERY option of the `deliverylab` command and EVERY field of every Spec: each
is refused with exit 2 (or a LabError) naming the option as the learner typed it (`--processing-ms`
on the command line, `processing_ms=` in Python), without a traceback, within 2 s, and leaving
nothing behind. The rows' lists are derived from argparse and the dataclasses, so a new option or
field without a row here fails test_every_option_has_a_row / test_every_field_has_a_row.

In this process: parsing and checking start nothing (a row that got past its check would try the
unreachable external cluster below and fail on its needle; conftest's guard fails an unmarked test
that starts a broker). test_bad_input.py runs a few of these as real `deliverylab` processes.
"""
from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import time

import pytest

from deliverylab.check.guarantees import guarantee
from deliverylab.check.runner import Plan
from deliverylab.crash import CrashSpec
from deliverylab.errors import LabError
from deliverylab.experiments import (Benchmark, ConsumerExperiment, HangingTransaction,
                                     ProducerExperiment, RetryPipeline, ShareExperiment, Story)
from deliverylab.nemesis import FaultSpec
from deliverylab.tools.cli import build_parser, leaf_parsers, main

LIMIT_S = 2.0
NOWHERE = "/nonexistent-dir-of-the-lab/out.csv"
SHARE = ["run", "share"]
ALO = ["run", "at-least-once"]
GROUP = [*ALO, "--membership", "group"]
PROGRAM = ["--", sys.executable, "-c", "pass"]

# "command --option": (argv, needles). The needles always include the option as typed.
CLI_ROWS: dict[str, tuple[list[str], tuple[str, ...]]] = {
    "cluster up --brokers": (["cluster", "up", "--brokers", "2"], ("2 brokers", "--brokers 3")),
    "cluster up --port-base": (["cluster", "up", "--port-base", "70000"], ("--port-base 70000", "65433")),
    "cluster up --json": (["cluster", "up", "--json=yes"], ("--json",)),
    "cluster status --json": (["cluster", "status", "--json=yes"], ("--json",)),
    "cluster doctor --json": (["cluster", "doctor", "--json=yes"], ("--json",)),
    "cluster kill broker": (["cluster", "kill", "one"], ("broker", "'one'")),
    "cluster pause broker": (["cluster", "pause", "one"], ("broker", "'one'")),
    "cluster resume broker": (["cluster", "resume", "one"], ("broker", "'one'")),
    "cluster restart broker": (["cluster", "restart", "one"], ("broker", "'one'")),
    "run model": (["run", "at_least_once"], ("'at_least_once'", "Did you mean 'at-least-once'")),
    "run --messages": ([*ALO, "--messages", "0"], ("--messages 0", "≥ 1")),
    "run --partitions": ([*ALO, "--partitions", "500"], ("--partitions 500", "32")),
    "run --retention-ms": ([*ALO, "--retention-ms", "2s"], ("--retention-ms", "'2s'")),
    "run --stall-at": ([*ALO, "--stall-at", "10"], ("--stall-at 10", "--stall-ms")),
    "run --stall-ms": ([*ALO, "--stall-at", "10", "--stall-ms", "-5"], ("--stall-ms -5",)),
    "run --input-rate": ([*ALO, "--input-rate", "-5"], ("--input-rate -5", "from 0")),
    "run --small-fetch-queue": (["run", "share", "--small-fetch-queue"], ("--small-fetch-queue", "not apply")),
    "run --input-resend-every": (["run", "idempotent-consumer", "--input-resend-every", "0"],
                                 ("--input-resend-every 0", "≥ 1")),
    "run --dedupe": ([*ALO, "--dedupe"], ("--dedupe", "run idempotent-consumer --dedupe")),
    "run --crash": ([*ALO, "--crash", "after-comit", "--crash-every", "5"], ("'after-comit'", "'after-commit'")),
    "run --crash-every": ([*ALO, "--crash", "after-process", "--crash-every", "0"], ("--crash-every 0",)),
    "run --crash-prob": ([*ALO, "--crash", "after-process", "--crash-prob", "1.5"], ("1.5", "(0, 1]")),
    "run --commit-every": ([*ALO, "--commit-every", "0"], ("--commit-every 0",)),
    "run --processing-ms": ([*ALO, "--processing-ms", "-5"], ("--processing-ms -5", "from 0")),
    "run --auto-commit-interval-ms": (["run", "at-most-once", "--auto-commit-interval-ms", "-1"],
                                      ("--auto-commit-interval-ms -1",)),
    "run --membership": ([*ALO, "--membership", "groups"], ("--membership groups", "'group'")),
    "run --members": ([*GROUP, "--members", "500"], ("--members 500", "12")),
    "run --group-protocol": ([*GROUP, "--group-protocol", "kip848"], ("--group-protocol kip848", "'consumer'")),
    "run --assignor": ([*GROUP, "--assignor", "sticky"], ("--assignor sticky", "cooperative-sticky")),
    "run --static": ([*ALO, "--static"], ("static", "--membership group")),
    "run --commit-on-revoke": ([*ALO, "--commit-on-revoke"], ("--commit-on-revoke", "--membership group")),
    "run --session-timeout-ms": ([*GROUP, "--session-timeout-ms", "0"], ("--session-timeout-ms 0",)),
    "run --max-poll-interval-ms": ([*GROUP, "--max-poll-interval-ms", "0"], ("--max-poll-interval-ms 0",)),
    "run --scenario": ([*ALO, "--scenario", "scenario-3"], ("'scenario-3'", "scenario-2-lost")),
    "run --coordinator-fault": ([*ALO, "--coordinator-fault", "explode"], ("'explode'", "kill-coordinator")),
    "run --abort-at": (["run", "exactly-once", "--abort-at", "x"], ("--abort-at 'x'", "3,17")),
    "run --no-rewind": ([*ALO, "--no-rewind"], ("--no-rewind", "--abort-at")),
    "run --transaction-timeout-ms": (["run", "hanging-transaction", "--transaction-timeout-ms", "500"],
                                     ("--transaction-timeout-ms 500", "1,000")),
    "run --records": (["run", "hanging-transaction", "--records", "0"], ("--records 0",)),
    "run --ack": ([*SHARE, "--ack", "sometimes"], ("--ack sometimes", "'explicit'")),
    "run --poison": ([*SHARE, "--poison", "x,y"], ("--poison 'x,y'", "3,17")),
    "run --poison-ack": ([*SHARE, "--poison-ack", "drop"], ("--poison-ack DROP", "REJECT")),
    "run --lock-duration-ms": ([*SHARE, "--lock-duration-ms", "10"], ("--lock-duration-ms 10", "1000–60000")),
    "run --delivery-limit": ([*SHARE, "--delivery-limit", "20"], ("--delivery-limit 20", "2–10")),
    "run --dead-letter": ([*ALO, "--dead-letter"], ("--dead-letter", "run share")),
    "run --fault": ([*ALO, "--fault", "explode"], ("'explode'", "kill-leader")),
    "run --seed": ([*ALO, "--seed", "x"], ("--seed", "'x'")),
    "run --json": ([*ALO, "--json=yes"], ("--json",)),
    "run --keep": ([*ALO, "--keep=yes"], ("--keep",)),
    "produce --messages": (["produce", "--messages", "-5"], ("--messages -5",)),
    "produce --acks": (["produce", "--acks", "2"], ("--acks 2", "'all'")),
    "produce --unclean-election": (["produce", "--unclean-election=yes"], ("--unclean-election",)),
    "produce --idempotence": (["produce", "--idempotence", "maybe"], ("'maybe'", "on or off")),
    "produce --retries": (["produce", "--idempotence", "off", "--retries", "-1"], ("--retries -1",)),
    "produce --max-in-flight": (["produce", "--max-in-flight", "6"], ("--max-in-flight 6", "1 to 5")),
    "produce --request-timeout-ms": (["produce", "--request-timeout-ms", "0"], ("--request-timeout-ms 0",)),
    "produce --rate": (["produce", "--rate", "-10"], ("--rate -10",)),
    "produce --min-insync-replicas": (["produce", "--min-insync-replicas", "0"], ("--min-insync-replicas",)),
    "produce --crash-every": (["produce", "--crash-every", "0"], ("--crash-every 0",)),
    "produce --resend": (["produce", "--resend"], ("--resend", "--crash-every")),
    "produce --fault": (["produce", "--fault", "kill-everything"], ("'kill-everything'", "pause-leader")),
    "produce --seed": (["produce", "--seed", "1.5"], ("--seed", "'1.5'")),
    "produce --json": (["produce", "--json=yes"], ("--json",)),
    "produce --keep": (["produce", "--keep=yes"], ("--keep",)),
    "matrix --repeat": (["matrix", "--repeat", "0", "--out", "/tmp/m.csv"], ("--repeat 0",)),
    "matrix --messages": (["matrix", "--messages", "0", "--out", "/tmp/m.csv"], ("--messages 0",)),
    "matrix --out": (["matrix", "--out", NOWHERE], ("--out", "does not exist")),
    "benchmark --out": (["benchmark", "--out", NOWHERE], ("--out", "does not exist")),
    "benchmark --repeat": (["benchmark", "--out", "/tmp/b.csv", "--repeat", "0"], ("--repeat 0",)),
    "benchmark --duration": (["benchmark", "--out", "/tmp/b.csv", "--duration", "0"], ("--duration 0",)),
    "validate --repeat": (["validate", "--repeat", "0"], ("--repeat 0",)),
    "validate --messages": (["validate", "--messages", "0"], ("--messages 0",)),
    "validate --only": (["validate", "--only", "no-such-scenario"], ("--only 'no-such-scenario'", "matches no")),
    "validate --out": (["validate", "--out", NOWHERE], ("--out", "does not exist")),
    "check --claim": (["check", "--claim", "maybe-once", *PROGRAM], ("--claim maybe-once", "at-least-once")),
    "check --crashes": (["check", "--claim", "at-least-once", "--crashes", "-1", *PROGRAM], ("--crashes -1",)),
    "check --fault": (["check", "--claim", "at-least-once", "--fault", "explode", *PROGRAM], ("'explode'",)),
    "check --seed": (["check", "--claim", "at-least-once", "--seed", "x", *PROGRAM], ("--seed", "'x'")),
    "check --messages": (["check", "--claim", "at-least-once", "--messages", "0", *PROGRAM], ("--messages", "0")),
    "check --partitions": (["check", "--claim", "at-least-once", "--partitions", "0", *PROGRAM], ("--partitions", "0")),
    "check --time-limit": (["check", "--claim", "at-least-once", "--time-limit", "0", *PROGRAM], ("--time-limit 0",)),
    "check --stall-s": (["check", "--claim", "at-least-once", "--stall-s", "-1", *PROGRAM], ("--stall-s -1",)),
    "check --json": (["check", "--claim", "at-least-once", "--json=yes", *PROGRAM], ("--json",)),
    "check --figure": (["check", "--claim", "at-least-once", "--figure", NOWHERE, *PROGRAM], ("--figure", "does not exist")),
    "check --json-out": (["check", "--claim", "at-least-once", "--json-out", NOWHERE, *PROGRAM], ("--json-out", "does not exist")),
    "check --notebook": (["check", "--claim", "at-least-once", "--notebook", "/no/such/nb.ipynb"], ("--notebook",)),
    "check --keep": (["check", "--claim", "at-least-once", "--keep=yes", *PROGRAM], ("--keep",)),
    "check command": (["check", "--claim", "at-least-once"], ("command",)),
    "lab --port": (["lab", "--port", "70000"], ("--port 70000", "1024")),
    "lab --no-browser": (["lab", "--no-browser=yes"], ("--no-browser",)),
    "lab --notebook-dir": (["lab", "--notebook-dir", "/nonexistent-notebooks"], ("/nonexistent-notebooks", "--notebook-dir")),
    "lab --brokers": (["lab", "--brokers", "2"], ("2 brokers", "--brokers 3")),
}


def cli_options() -> set[str]:
    """Every command's every option (and positional argument), from the parser itself."""
    found = set()
    for words, parser in leaf_parsers(build_parser()).items():
        for action in parser._actions:
            if action.dest == "help":
                continue
            name = max(action.option_strings, key=len) if action.option_strings else action.dest
            found.add(" ".join([*words, name]))
    return found


def test_every_option_has_a_row():
    missing = sorted(cli_options() - set(CLI_ROWS))
    assert not missing, f"CLI options without a bad-input row in CLI_ROWS: {missing}"
    assert not sorted(set(CLI_ROWS) - cli_options()), "rows for options that no longer exist"


def workers_alive() -> int:
    pattern = f"deliverylab.workers .*{os.environ['DELIVERYLAB_HOME']}"
    return len(subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout.split())


def home_entries() -> set[str]:
    """What the lab made under the session's home, without the running brokers' own folders
    (their data and logs change by themselves: checkpoint files, segments)."""
    home = os.environ["DELIVERYLAB_HOME"]
    brokers = re.compile(r"/(broker|controller)-\d+(/|$)")
    return {p for d, dirs, files in os.walk(home) for n in dirs + files
            if not brokers.search(p := os.path.join(d, n)[len(home):])}


@pytest.fixture()
def nowhere_cluster(monkeypatch):
    """A row that got past its check would reach for this cluster and fail on its needle."""
    monkeypatch.setenv("DELIVERYLAB_CLUSTER", "external")
    monkeypatch.setenv("DELIVERYLAB_BOOTSTRAP", "127.0.0.1:9")
    for name in ("DELIVERYLAB_CLIENT_CONFIG", "DELIVERYLAB_PORT_BASE", "DELIVERYLAB_KAFKA_VERSION"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("row", sorted(CLI_ROWS))
def test_cli_option_refused(row, nowhere_cluster, capsys):
    argv, needles = CLI_ROWS[row]
    before_workers, before_files = workers_alive(), home_entries()
    t0 = time.monotonic()
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse: usage and one `error:` line
        code = exc.code
    took = time.monotonic() - t0
    err = capsys.readouterr().err
    assert code == 2, (code, err)
    assert "Traceback" not in err and "%3|" not in err, err
    line = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(line) == 1, err
    for needle in needles:
        assert needle in line[0], f"{needle!r} not in: {line[0]}"
    assert took < LIMIT_S, f"{took:.2f} s"
    assert workers_alive() <= before_workers
    assert home_entries() <= before_files, home_entries() - before_files


# --- every Spec field -----------------------------------------------------------------------
def plan(**kw) -> Plan:
    return Plan("consumer", "a function", guarantee("at-least-once"), **kw)


SPECS = {  # how each Spec is made and checked, with one field changed
    ConsumerExperiment: lambda **kw: ConsumerExperiment(**kw).check(),
    ShareExperiment: lambda **kw: ShareExperiment(**kw).check(),
    HangingTransaction: lambda **kw: HangingTransaction(**kw).check(),
    ProducerExperiment: lambda **kw: ProducerExperiment(**kw).check(),
    RetryPipeline: lambda **kw: RetryPipeline(**kw).check(),
    Benchmark: lambda **kw: Benchmark(**kw).check(),
    Story: lambda **kw: Story(**kw).check(),
    CrashSpec: lambda **kw: CrashSpec(**{"point": "after-process", "every": 5, **kw}).check("at-least-once"),
    FaultSpec: lambda **kw: FaultSpec(**{"kind": "kill-leader", "at_index": 10, **kw}).check(),
    Plan: lambda **kw: Plan(**{"mode": "consumer", "subject": "a function",
                               "guarantee": guarantee("at-least-once"), **kw}).check(),
}

class kw(dict):
    """A row that changes several fields (the first is the one named)."""


# (Spec, field): the bad value (or kw(fields)) and, when the paragraph names it otherwise than
# `field=`, the needle.
FIELD_ROWS: dict[tuple[type, str], tuple] = {
    **{(ConsumerExperiment, k): v for k, v in {
        "model": ("exactly_once", "'exactly_once'"), "messages": (0,), "crash": ("after-process",),
        "commit_every": (0,), "commit_interval_ms": (0,), "auto_commit_interval_ms": (-1,),
        "transaction_size": (0,), "abort_at": (kw({"abort_at": (500,), "model": "exactly-once"}), "abort_at=(500,)"),
        "rewind": (False, "rewind=False"), "input_payments": (kw({"input_payments": (1, 2), "messages": 3}), "input_payments"), "processing_ms": (-5,), "partitions": (0,), "keys": (0,),
        "fault": ("kill-leader",), "consumer_config": ({"isolation.level": "read_everything"}, "isolation.level"),
        "in_flight_ms": (-1,), "membership": ("groups",), "members": (kw({"members": 500, "membership": "group"}),),
        "group_protocol": ("kip848",), "assignor": (kw({"assignor": "sticky", "membership": "group"}),),
        "static": ("yes",), "session_timeout_ms": (kw({"session_timeout_ms": 0, "membership": "group"}),),
        "max_poll_interval_ms": (kw({"max_poll_interval_ms": 0, "membership": "group"}),),
        "commit_on_revoke": (1,), "leaving_member": (kw({"leaving_member": 7, "membership": "group", "members": 3, "leave_after": 5}),),
        "leave_after": (0,), "joining_member": (kw({"joining_member": 7, "membership": "group", "members": 3, "join_after": 5}),),
        "join_after": (kw({"join_after": 500, "membership": "group", "members": 3, "joining_member": 2}),),
        "stall_at": (kw({"stall_at": 10}),), "stall_ms": (-1,), "scenario": ("scenario-3", "'scenario-3'"),
        "coordinator_fault": ("explode", "'explode'"), "coordinator_fault_at": (0,),
        "coordinator_heal_after_s": (-1,), "time_limit_s": (-1,), "seed": ("x",), "label": (5,),
        "input_resend": ("before-flush",), "dedupe": (kw({"dedupe": True, "model": "at-least-once"}),),
        "topic_config": ("retention.ms=100",), "input_rate": (-1,),
    }.items()},
    **{(HangingTransaction, k): v for k, v in {
        "transaction_timeout_ms": (500,), "records": (0,), "time_limit_s": (kw({"time_limit_s": 5}), "time_limit_s=5"),
        "label": (5,),
    }.items()},
    **{(ShareExperiment, k): v for k, v in {
        "messages": (-1,), "members": (500,), "ack": ("sometimes",), "crash": ("after-poll",),
        "poison": ((500,),), "poison_ack": ("DROP",), "lock_duration_ms": (10,),
        "delivery_limit": (20,), "max_record_locks": (5,), "processing_ms": (-1,),
        "stall_at": (kw({"stall_at": 5, "stall_ms": 0}),), "stall_ms": (-1,), "keys": (0,),
        "input_batch": (0,), "dead_letter": ("yes",), "consumer_config": ("fetch.min.bytes=1",),
        "time_limit_s": (0,), "label": (5,),
    }.items()},
    **{(ProducerExperiment, k): v for k, v in {
        "messages": (0,), "config": ({"acks": 2}, "acks=2"), "fault": ("kill-leader",),
        "crash": ("before-flush",), "rate": (-10,), "partitions": (0,), "replication_factor": (5,),
        "topic_config": ("min.insync.replicas=2",), "keys": (0,), "time_limit_s": (0,),
        "seed": (1.5,), "label": (5,), "resend": (True,), "witness": ("yes",),
    }.items()},
    **{(RetryPipeline, k): v for k, v in {
        "messages": (0,), "mode": ("retry", "'retry'"), "transient_rate": (1.5,), "poison_rate": (-0.1,),
        "max_transient_failures": (0,), "delays_ms": ((-1,), "delays_ms=(-1,)"), "processing_ms": (-1,),
        "commit_every": (0,), "crash_at": (-1,), "partitions": (0,), "keys": (0,),
        "time_limit_s": (0,), "seed": ("x",), "label": (5,),
    }.items()},
    **{(Benchmark, k): v for k, v in {
        "messages": (0,), "config": ({"linger.ms": "soon"}, "linger.ms"), "duration_s": (-1,),
        "value_bytes": (10,), "rate": (-1,), "transactional": ("yes",), "commit_every": (0,),
        "partitions": (0,), "keys": (0,), "verify": ("yes",), "time_limit_s": (0,), "label": (5,),
    }.items()},
    **{(Story, k): v for k, v in {
        "settings": ("safest", "'safest'"), "payments": (10_000,), "rate": (0,),
        "crash_every": (0,), "processing_ms": (-1,), "auto_commit_interval_ms": (0,),
        "heal_after_s": (-1,), "seed": ("x",), "time_limit_s": (0,),
    }.items()},
    **{(CrashSpec, k): v for k, v in {
        "point": ("after-comit", "'after-comit'"), "every": (0,), "prob": (kw({"prob": 1.5, "every": None}), "1.5"),
        "at": (kw({"at": (-1,), "every": None}), "[-1]"), "seed": ("x",),
    }.items()},
    **{(FaultSpec, k): v for k, v in {
        "kind": ("explode", "'explode'"), "at_index": (-1,), "at_s": (-1,), "heal_after_s": (-1,),
        "delay_ms": (0,), "loss_pct": (0,),
    }.items()},
    **{(Plan, k): v for k, v in {
        "mode": (5,), "subject": (5,), "guarantee": ("at-least-once",), "messages": (0,),
        "partitions": (0,), "crashes": ("five",), "seed": ("x",), "fault": (5,),
        "processing_ms": (-1,), "consumer_config": ("x",), "producer_config": ({"acks": 2}, "acks=2"),
        "rate": (-1,), "keys": (0,), "time_limit_s": (0,), "stall_s": (0,), "keep": ("yes",),
        "function": ("f",), "function_name": (5,), "argv": ("python app.py",),
    }.items()},
}


def test_every_field_has_a_row():
    fields = {(cls, f.name) for cls in SPECS for f in dataclasses.fields(cls)}
    missing = sorted(f"{c.__name__}.{n}" for c, n in fields - set(FIELD_ROWS))
    assert not missing, f"Spec fields without a bad-input row in FIELD_ROWS: {missing}"


@pytest.mark.parametrize("key", sorted(FIELD_ROWS, key=lambda k: (k[0].__name__, k[1])),
                         ids=lambda k: f"{k[0].__name__}.{k[1]}")
def test_spec_field_refused(key):
    cls, name = key
    bad, *needle = FIELD_ROWS[key]
    fields = bad if isinstance(bad, kw) else {name: bad}
    t0 = time.monotonic()
    with pytest.raises(LabError) as exc:
        SPECS[cls](**fields)
    assert time.monotonic() - t0 < LIMIT_S
    text = exc.value.paragraph()
    assert "\n" not in text and "Traceback" not in text
    expected = needle[0] if needle else f"{name}="
    assert expected in text, f"{expected!r} not in: {text}"

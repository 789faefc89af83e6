"""deliverylab check given bad input: one clear paragraph within seconds, no traceback, and
nothing left behind (no process, topic or group)."""
from __future__ import annotations

import subprocess
import sys
import time
import uuid

import psutil
import pytest

from deliverylab import check
from deliverylab.errors import LabError


def loop(consumer, process):
    while True:
        msg = consumer.poll(1.0)
        if msg is not None and not msg.error():
            process(msg)


# --- refused before anything starts (no broker needed: these tests carry no kafka marker) -------
@pytest.mark.parametrize("call, needle", [
    (lambda: check.consumer(lambda consumer: None), r"calls your function as <lambda>\(consumer, process\)"),
    (lambda: check.consumer(loop, claim="at-lest-once"), "Did you mean 'at-least-once'"),
    (lambda: check.transactional(loop), r"\(consumer, producer, output_topic\)"),
    (lambda: check.consumer(loop, crashes=-2), "crashes=-2 must be a whole number"),
    (lambda: check.consumer(loop, crashes=50, messages=100), "at most 20"),
    (lambda: check.consumer(loop, messages=0), "messages=0 must be a whole number"),
    (lambda: check.program(["no-such-program-here", "--x"]), "'no-such-program-here' was not found"),
    (lambda: check.program([sys.executable, "app.py", "{input}"]), r"placeholder \{input\}"),
    (lambda: check.program([]), "No program to check"),
    (lambda: check.producer(lambda producer, topic, messages: None, config={"acks": "2"}),
     "acks"),
])
def test_bad_arguments_are_one_paragraph_before_anything_starts(call, needle):
    t0 = time.monotonic()
    with pytest.raises(LabError, match=needle) as info:
        call()
    assert time.monotonic() - t0 < 2
    assert "\n" not in info.value.paragraph()


def test_a_function_over_an_open_client_cannot_travel():
    from confluent_kafka import Producer

    client = Producer({"bootstrap.servers": "127.0.0.1:1"})

    def uses_client(consumer, process):
        client.produce("t", b"x")
    with pytest.raises(LabError, match="cannot send uses_client.*cannot pickle"):
        check.consumer(uses_client)


def test_the_cli_says_it_in_one_line_and_exits_2():
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "deliverylab.tools.cli", "check", "--claim",
                          "exactly_once", "--", sys.executable, "app.py"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert "--claim exactly_once is not a guarantee" in out.stderr
    assert time.monotonic() - t0 < 10  # a fresh interpreter and the CLI's imports included


@pytest.mark.parametrize("args, needle", [
    (["--json-out", "/no/such/folder/r.json"], "--json-out '/no/such/folder/r.json': the folder '/no/such/folder' does not exist"),
    (["--figure", "/no/such/folder/t.png"], "--figure '/no/such/folder/t.png': the folder"),
    ([], "needs --claim"),
    (["--notebook", "x.ipynb"], "takes no --claim and no command"),
])
def test_the_cli_refuses_its_own_options_before_anything_starts(args, needle, capsys):
    """In this process: main() returns 2 with the paragraph on stderr, nothing started."""
    from deliverylab.tools.cli import main

    claim = [] if args == [] else ["--claim", "at-least-once"]
    t0 = time.monotonic()
    assert main(["check", *claim, *args, "--", sys.executable, "app.py"]) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err and time.monotonic() - t0 < 2


# --- found while it runs (real brokers) ----------------------------------------------------------
def _leftovers(cluster, token: str, before: tuple[set, set], within_s: float = 20.0,
               groups_too: bool = True) -> list[str]:
    """Processes carrying `token`, and topics or groups the check made that still exist.
    (A checked consumer is a static member: its group can be deleted only once its session,
    6 s, has run out — a wait one test pays for the others.)"""
    deadline = time.monotonic() + within_s
    while True:
        procs = [p.pid for p in psutil.process_iter(["cmdline"])
                 if token in " ".join(p.info["cmdline"] or [])]
        admin = cluster.admin()
        topics = {t for t in admin.list_topics(timeout=10).topics if t.startswith("check-")}
        groups = {g.group_id for g in admin.list_consumer_groups().result().valid
                  if g.group_id.startswith("check-")} if groups_too else set()
        left = [f"process {p}" for p in procs] + sorted(topics - before[0]) + sorted(groups - before[1])
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.5)


def _names(cluster) -> tuple[set, set]:
    admin = cluster.admin()
    return ({t for t in admin.list_topics(timeout=10).topics if t.startswith("check-")},
            {g.group_id for g in admin.list_consumer_groups().result().valid})


def _python(code: str, token: str) -> list[str]:
    return [sys.executable, "-c", f"{code}  # {token}"]


WRITES_NO_IDS = """
import os
from confluent_kafka import Producer
p = Producer({"bootstrap.servers": os.environ["KAFKA_BOOTSTRAP_SERVERS"]})
p.produce(os.environ["OUTPUT_TOPIC"], b"hello"); p.flush()
import time; time.sleep(60)"""


@pytest.mark.kafka
@pytest.mark.parametrize("code, options, needle, within", [
    ("pass", {}, r"exited \(code 0\) after .* without committing an offset or writing an output "
                 r"record; it printed nothing", 15),
    ("import sys; print('cannot reach the database'); sys.exit(3)", {},
     "stopped with exit code 3; its last line of output: 'cannot reach the database'", 15),
    ("import time; time.sleep(60)", {"stall_s": 2},
     "ran 2 s without writing an output record or committing an offset", 15),
    (WRITES_NO_IDS, {}, r"wrote an output record without an input record's id .*b'hello'", 15),
], ids=["exits-at-once", "fails", "never-reads", "no-ids"])
def test_a_program_that_breaks_the_contract_is_one_paragraph_and_leaves_nothing(
        cluster, code, options, needle, within):
    token = f"deliverylab-bad-{uuid.uuid4().hex[:8]}"
    before = _names(cluster)
    t0 = time.monotonic()
    with pytest.raises(LabError, match=needle) as info:
        check.program(_python(code, token), crashes=1, messages=20, cluster=cluster, **options)
    assert time.monotonic() - t0 < within
    assert "Traceback" not in info.value.paragraph()
    assert _leftovers(cluster, token, before) == []


def _raises(consumer, process):
    while True:
        msg = consumer.poll(1.0)
        if msg is not None:
            record = {"amount": 1}
            process(record["customer"])


def _returns(consumer, process):
    consumer.poll(0.01)


def _hangs(consumer, process):
    import time as clock

    while consumer.poll(1.0) is None:
        pass
    clock.sleep(60)  # stuck in its own work, never polling again


def _wrong_thing(consumer, process):
    while True:
        msg = consumer.poll(1.0)
        if msg is not None and not msg.error():
            process(msg.value())


@pytest.mark.kafka
@pytest.mark.parametrize("fn, options, needle", [
    (_raises, {}, r"_raises raised KeyError: 'customer' at line \d+ \(`process\(record\[\"customer\"\]\)`\)"),
    (_returns, {}, "_returns returned after .* s without polling a single record"),
    (_hangs, {"stall_s": 2}, "_hangs made no call the lab could see for 2 s"),
    (_wrong_thing, {}, "process\\(\\) was given bytes .*Pass it the Message"),
], ids=["raises", "returns-at-once", "hangs", "process-given-bytes"])
def test_a_function_that_goes_wrong_is_one_paragraph_and_leaves_nothing(cluster, fn, options,
                                                                         needle):
    before = _names(cluster)
    t0 = time.monotonic()
    with pytest.raises(LabError, match=needle):
        check.consumer(fn, crashes=1, messages=20, cluster=cluster, **options)
    assert time.monotonic() - t0 < 15
    assert _leftovers(cluster, "deliverylab.check.worker", before,
                      groups_too=fn is _wrong_thing) == []

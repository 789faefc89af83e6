"""The run scaffold (deliverylab.runs): a kept run names everything Kafka's own tools need to
inspect it, and a nemesis that failed is the run's error."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from deliverylab.errors import LabError
from deliverylab.kafka_tool import CONSUMER_GROUP_COMMAND, run_tool
from deliverylab.runs import Run
from deliverylab.tools.cli_experiments import kept_text


@pytest.mark.kafka
def test_a_kept_run_names_what_kafkas_own_tools_need_to_inspect_it(cluster):
    """`--keep --json` names the run folder, the topics, the group and the transactional id, and
    they are the real ones: Kafka's kafka-consumer-groups finds the group with the input's
    offsets committed, and the workers' spec (in the kept folder) used the transactional id."""
    out = subprocess.run([sys.executable, "-m", "deliverylab.tools.cli", "run", "exactly-once",
                          "--messages", "30", "--keep", "--json"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    kept = summary["kept"]
    topic, output = summary["topic"], summary["output_topic"]
    try:
        assert kept["topics"] == [topic, output]
        assert kept["groups"] == [f"{topic}-group"]
        spec = json.loads((Path(kept["run_dir"]) / "spec.json").read_text())
        assert kept["transactional_ids"] == [spec["transactional_id"]]
        assert kept["bootstrap"] == cluster.bootstrap_servers
        described = run_tool(CONSUMER_GROUP_COMMAND, ["--bootstrap-server", kept["bootstrap"],
                                                      "--describe", "--group", kept["groups"][0]])
        rows = [line.split() for line in described.stdout.splitlines() if topic in line.split()]
        assert described.returncode == 0 and rows, described.stdout + described.stderr
        assert [r[3] for r in rows] == ["30"], described.stdout  # CURRENT-OFFSET of partition 0
    finally:
        cluster.delete_topics(kept["topics"])
        cluster.delete_groups(kept["groups"])
        shutil.rmtree(kept["run_dir"], ignore_errors=True)


def test_the_kept_text_lists_every_name_and_the_commands_that_show_them():
    kept = {"bootstrap": "127.0.0.1:19092", "run_dir": "/tmp/r", "topics": ["t-in", "t-out"],
            "groups": ["t-in-group"], "transactional_ids": ["t-in-txn"]}
    text = kept_text(kept)
    for name in ("/tmp/r", "t-in", "t-out", "t-in-group", "t-in-txn"):
        assert name in text
    assert "ConsumerGroupCommand --bootstrap-server 127.0.0.1:19092 --describe --group t-in-group" in text
    assert "TopicCommand --bootstrap-server 127.0.0.1:19092 --describe --topic t-out" in text
    assert "ShareGroupCommand" in kept_text(kept, share=True)


class _Nemesis:
    """A stand-in for the scaffold's side of a nemesis (start, halt, stop, error, failure): the
    orchestration is the lab's own code; no Kafka behaviour is simulated."""

    def __init__(self, error: Exception | None = None) -> None:
        self.halt = threading.Event()
        self.error = error
        self.started = self.stopped = False

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        self.stopped = True

    def failure(self) -> LabError:
        return LabError(f"the fault could not be applied: {self.error}")


@pytest.mark.kafka
def test_a_nemesis_that_failed_is_the_runs_error_and_every_nemesis_is_stopped(cluster):
    with Run(cluster, "scaffold") as run:
        ok, broken = _Nemesis(), _Nemesis(RuntimeError("no such broker"))
        seen = []
        assert run.with_nemeses([ok], lambda: 7, meanwhile=lambda: seen.append(ok.halt.is_set())) == 7
        assert ok.started and ok.stopped and seen == [True]  # told to heal before meanwhile()
        with pytest.raises(LabError, match="no such broker"):
            run.with_nemeses([ok, broken], lambda: None)

        def worker_waited() -> None:
            raise LabError("the worker timed out")
        with pytest.raises(LabError, match="no such broker") as exc:
            run.with_nemeses([broken], worker_waited)  # the cause, not the symptom
        assert "timed out" in str(exc.value.__cause__)
        with pytest.raises(LabError, match="timed out"):
            run.with_nemeses([ok], worker_waited)
        folder = run.dir
    assert not folder.exists()  # not kept: the folder goes at once

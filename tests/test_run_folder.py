"""A run folder that cannot be written, or a disk that fills mid-run: one paragraph, and nothing
half-written is presented as a result (issue 21, item 6)."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from deliverylab import connect
from deliverylab.crash import CrashSpec
from deliverylab.errors import LabError
from deliverylab.paths import check_writable_folder
from deliverylab.experiments import ConsumerExperiment, run_consumer
from lab_asserts import fails_clearly
from test_bad_input import workers_alive


def test_a_home_under_a_file_is_one_paragraph(monkeypatch, tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("DELIVERYLAB_HOME", str(tmp_path / "a-file" / "home"))
    monkeypatch.delenv("DELIVERYLAB_CLUSTER", raising=False)
    fails_clearly(lambda: connect(), "a-file", "DELIVERYLAB_HOME")


@pytest.mark.kafka
def test_a_run_folder_under_a_file_stops_before_anything_starts(cluster, monkeypatch, tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("DELIVERYLAB_HOME", str(tmp_path / "a-file" / "home"))
    before = set(cluster.admin().list_topics(timeout=10).topics)
    fails_clearly(lambda: run_consumer(ConsumerExperiment(messages=10), cluster),
                  "run folder", "a-file", "DELIVERYLAB_HOME")
    assert set(cluster.admin().list_topics(timeout=10).topics) <= before  # no topic was made


@pytest.mark.skipif(os.geteuid() != 0, reason="drops to another user (needs root)")
def test_a_read_only_run_folder_is_refused_for_a_user_who_cannot_write_it():
    """chmod 555 means nothing to root: the check runs in a forked child that became `nobody`
    (this machine's Python lives under /root, which nobody may execute from)."""
    top = Path(tempfile.mkdtemp(prefix="deliverylab-ro-"))
    try:
        top.chmod(0o755)
        (top / "runs").mkdir()
        (top / "runs").chmod(0o555)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            try:
                os.setgid(65534)
                os.setuid(65534)
                check_writable_folder(top / "runs", "run folder", "Fix it.")
                os.write(write, b"written")
            except LabError as exc:
                os.write(write, exc.paragraph().encode())
            finally:
                os._exit(0)
        os.close(write)
        said = os.read(read, 4096).decode()
        os.waitpid(pid, 0)
        os.close(read)
        assert "cannot be written (Permission denied)" in said, said
        assert not [p for p in (top / "runs").iterdir()]  # the probe left nothing
    finally:
        (top / "runs").chmod(0o755)
        subprocess.run(["rm", "-rf", str(top)], check=True)


@pytest.fixture()
def small_disk(tmp_path, monkeypatch):
    """A run folder of its own on a 700 KB tmpfs (DELIVERYLAB_HOME points there for this test;
    the session's cluster is handed to the run directly): a 3000-message run's ledger (~850 KB)
    fills it while its workers run. Root only; nothing of the real disk is filled."""
    runs = tmp_path / "home" / "runs"
    runs.mkdir(parents=True)
    monkeypatch.setenv("DELIVERYLAB_HOME", str(runs.parent))
    if os.geteuid() != 0:
        pytest.skip("mounts a small tmpfs over the run folder (needs root)")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=700k", "tmpfs", str(runs)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        yield runs
    finally:
        subprocess.run(["umount", str(runs)], check=True)


@pytest.mark.kafka
def test_a_disk_that_fills_mid_run_is_one_paragraph_and_no_result(cluster, small_disk):
    def lab_topics() -> set[str]:
        return {t for t in cluster.admin().list_topics(timeout=10).topics if t.startswith("lab-")}
    before, topics = workers_alive(), lab_topics()
    t0 = time.monotonic()
    spec = ConsumerExperiment(messages=3000, crash=CrashSpec("after-process", every=1000))
    fails_clearly(lambda: run_consumer(spec, cluster), "filled up during the run",
                  "nothing of it is counted", "DELIVERYLAB_HOME")
    assert time.monotonic() - t0 < 30
    assert list(small_disk.iterdir()) == []  # the half-written run is gone, not left to count
    assert workers_alive() <= before
    deadline = time.monotonic() + 30  # its topics go off the learner's wait
    while lab_topics() - topics and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not lab_topics() - topics

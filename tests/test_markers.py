"""`pytest -m "not kafka"` starts no broker: the conftest guards catch a test that would."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CONFTEST = Path(__file__).with_name("conftest.py")


def _run_pytest(tmp_path: Path, body: str) -> subprocess.CompletedProcess:
    (tmp_path / "conftest.py").write_text(CONFTEST.read_text())
    (tmp_path / "test_x.py").write_text(body)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-m", "not kafka", str(tmp_path)], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)


def test_unmarked_test_that_starts_a_kafka_server_fails(tmp_path):
    # A stand-in for a broker JVM: a process whose command line names kafka.Kafka (no JVM needed).
    # It waits until the child's command line shows, as a real start-up does (a CLI returns once
    # its broker answers): Popen can return before it does. The kernel wakes the parent during the
    # child's exec, before the new arguments are mapped, and its command line reads empty (1 in
    # 300 tries here; it failed this test once in CI).
    out = _run_pytest(tmp_path, (
        "import subprocess, sys, time\n"
        "import psutil\n"
        "def test_starts_a_server():\n"
        "    p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)', 'kafka.Kafka'])\n"
        "    deadline = time.monotonic() + 30\n"
        "    while 'kafka.Kafka' not in psutil.Process(p.pid).cmdline():\n"
        "        assert time.monotonic() < deadline\n"
        "        time.sleep(0.01)\n"))
    assert out.returncode == 1, out.stdout + out.stderr
    assert "started Kafka server process(es)" in out.stdout and "without @pytest.mark.kafka" in out.stdout


def test_unmarked_test_using_the_cluster_fixture_is_refused(tmp_path):
    out = _run_pytest(tmp_path, "def test_uses_cluster(cluster):\n    pass\n")
    assert out.returncode != 0
    assert "without @pytest.mark.kafka" in out.stdout + out.stderr
    assert "test_uses_cluster" in out.stdout + out.stderr


def test_marked_tests_are_deselected(tmp_path):
    out = _run_pytest(tmp_path, "import pytest\n@pytest.mark.kafka\ndef test_k(cluster):\n    pass\n"
                                "def test_plain():\n    pass\n")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 passed, 1 deselected" in out.stdout

"""Interrupts as a learner makes them: the kernel's stop button (SIGINT to the kernel) in the middle
of a long experiment, and Ctrl-C on `deliverylab lab`.

An interrupted run must leave the kernel usable, no worker process and no run folder behind, and
the next run in the same kernel must work. Ctrl-C on the lab stops JupyterLab, its kernels and
the cluster it started (test_browser.py checks that a cluster it reused keeps running).
"""
from __future__ import annotations

import json
import os
import queue
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.kafka


def _children_matching(parent: int, text: str) -> list[int]:
    """`parent`'s live children whose command line holds `text` (pgrep -P PARENT -f TEXT)."""
    try:
        children = psutil.Process(parent).children()
    except psutil.NoSuchProcess:
        return []
    return [c.pid for c in children if text in " ".join(_cmdline(c.pid))]


def _workers_of(parent: int) -> list[int]:
    """The worker processes of `parent` only (other runs may be going on)."""
    return _children_matching(parent, "deliverylab.workers")


def _cmdline(pid: int) -> list[str]:
    try:
        return psutil.Process(pid).cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):  # a zombie's is gone too
        return []


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() not in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
    except psutil.NoSuchProcess:
        return False


class Kernel:
    """A real IPython kernel (jupyter_client), as JupyterLab starts one."""

    def __init__(self, cwd: Path) -> None:
        from jupyter_client import KernelManager

        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel(cwd=str(cwd))  # inherits DELIVERYLAB_HOME: the session's cluster
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=120)

    def run(self, code: str, timeout: float = 120) -> tuple[dict, str]:
        """Execute `code`; the reply's content and the text/plain of its result (or stream)."""
        msg_id = self.kc.execute(code)
        content, outputs = self.wait(msg_id, timeout)
        text = ""
        for out in outputs:
            if out["msg_type"] == "execute_result":
                text += out["content"]["data"].get("text/plain", "")
            elif out["msg_type"] == "stream":
                text += out["content"]["text"]
            elif out["msg_type"] == "error":
                text += "\n".join(out["content"]["traceback"])
        return content, text

    def wait(self, msg_id: str, timeout: float) -> tuple[dict, list[dict]]:
        deadline = time.monotonic() + timeout
        content = None
        while content is None:
            try:
                msg = self.kc.get_shell_msg(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no execute_reply within {timeout} s") from None
            if msg["parent_header"].get("msg_id") == msg_id:
                content = msg["content"]
        outputs = []
        while True:  # the outputs of the request; 'idle' closes it
            try:
                msg = self.kc.get_iopub_msg(timeout=10)
            except queue.Empty:
                break
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
            outputs.append(msg)
        return content, outputs

    def import_lab(self) -> int:
        """Import the experiments API into the kernel; the kernel's pid (its workers' parent)."""
        content, text = self.run("import os\n"
                                 "from deliverylab.experiments import ConsumerExperiment, run_consumer\n"
                                 "os.getpid()")
        assert content["status"] == "ok", text
        return int(text)

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


@pytest.mark.timeout(400)
def test_kernel_interrupt_stops_the_run_and_leaves_no_worker(cluster, tmp_path):
    kernel = Kernel(tmp_path)
    try:
        kernel_pid = kernel.import_lab()

        # A long run: 5000 messages at 5 ms of work each (about 25 s of processing).
        long_run = kernel.kc.execute("r = run_consumer(ConsumerExperiment(model='at-least-once', "
                                     "messages=5000, processing_ms=5))")
        deadline = time.monotonic() + 120
        consumer = []
        while not consumer:  # the input producer runs first; wait for the consumer worker
            consumer = [p for p in _workers_of(kernel_pid) if "at-least-once" in _cmdline(p)]
            assert time.monotonic() < deadline, "the consumer worker never started"
            time.sleep(0.05)
        worker = consumer[0]
        run_dir = Path(_cmdline(worker)[4])  # python -m deliverylab.workers ROLE RUN_DIR N
        assert run_dir.is_dir()
        time.sleep(2.0)
        assert _alive(worker), "the run ended before the interrupt; make it longer"

        t0 = time.monotonic()
        kernel.km.interrupt_kernel()  # JupyterLab's stop button
        content, outputs = kernel.wait(long_run, timeout=60)
        stopped_s = time.monotonic() - t0
        assert content["status"] == "error" and content["ename"] == "KeyboardInterrupt", content
        print(f"interrupt -> KeyboardInterrupt reply in {stopped_s:.2f} s")

        # No worker is left: not the one that ran, not any other child of this kernel.
        assert not _alive(worker), f"worker {worker} survived the interrupt"
        assert _workers_of(kernel_pid) == [], "a worker of this kernel is still running"
        assert not run_dir.exists(), f"the interrupted run left its folder {run_dir}"

        # The kernel is still usable ...
        content, text = kernel.run("1+1")
        assert content["status"] == "ok" and text.strip() == "2", text
        # ... the lab's client settings are back as before the run ...
        content, text = kernel.run("print(os.environ.get('DELIVERYLAB_CLIENT_JSON'))")
        assert text.strip() == "None", text
        # ... and a second, small run in the same kernel works.
        t0 = time.monotonic()
        content, text = kernel.run(
            "r2 = run_consumer(ConsumerExperiment(model='at-least-once', messages=50))\n"
            "print(r2.summary['sent'], r2.summary['delivered_once'], r2.summary['lost'])",
            timeout=180)
        assert content["status"] == "ok", text
        assert text.split() == ["50", "50", "0"], text
        print(f"second run in the same kernel: {time.monotonic() - t0:.1f} s")
        assert _workers_of(kernel_pid) == []
    finally:
        kernel.close()


@pytest.mark.timeout(400)
def test_kernel_interrupt_stops_every_member_of_a_group_run(cluster, tmp_path):
    """Group mode: each member has a supervisor thread of its own, and a KeyboardInterrupt reaches
    only the kernel's main thread. JupyterLab's stop button on Linux signals the kernel's whole
    process group, workers included; a kernel interrupted by message (Windows, or a kernelspec
    with interrupt_mode "message") or a SIGINT to the kernel alone does not, and then only the
    supervisors can stop the workers. So the signal goes to the kernel process alone here. Every
    member's worker must be gone when the reply comes, the run's folder removed and its topic
    deleted, as after a normal run."""
    kernel = Kernel(tmp_path)
    try:
        kernel_pid = kernel.import_lab()

        # 3 members on 6 partitions, 3000 messages at 5 ms each: about 5 s of work per member.
        long_run = kernel.kc.execute(
            "r = run_consumer(ConsumerExperiment(model='at-least-once', messages=3000, "
            "processing_ms=5, membership='group', members=3, partitions=6))")
        deadline = time.monotonic() + 120
        members: list[int] = []
        while len(members) < 3:  # the input producer runs first; wait for all three members
            members = [p for p in _workers_of(kernel_pid) if "at-least-once" in _cmdline(p)]
            assert time.monotonic() < deadline, f"only {len(members)} members started"
            time.sleep(0.05)
        run_dir = Path(_cmdline(members[0])[4])  # python -m deliverylab.workers ROLE RUN_DIR N
        topic = json.loads((run_dir / "spec.json").read_text())["topic"]
        time.sleep(1.5)
        assert all(_alive(p) for p in members), "a member ended before the interrupt; make it longer"

        t0 = time.monotonic()
        os.kill(kernel_pid, signal.SIGINT)  # the kernel alone, not its process group
        content, _ = kernel.wait(long_run, timeout=60)
        print(f"interrupt -> KeyboardInterrupt reply in {time.monotonic() - t0:.2f} s")
        assert content["status"] == "error" and content["ename"] == "KeyboardInterrupt", content

        survivors = [p for p in members if _alive(p)]
        assert not survivors, f"members {survivors} survived the interrupt"
        assert _workers_of(kernel_pid) == [], "a worker of this kernel is still running"
        assert not run_dir.exists(), f"the interrupted run left its folder {run_dir}"
        gone_by = time.monotonic() + 60  # topics are deleted off the learner's wait, as normally
        while topic in cluster.admin().list_topics(timeout=10).topics:
            assert time.monotonic() < gone_by, f"the interrupted run's topic {topic} was not deleted"
            time.sleep(0.5)

        # The kernel still works, and so does the next group run in it.
        content, text = kernel.run(
            "r2 = run_consumer(ConsumerExperiment(model='at-least-once', messages=60, "
            "membership='group', members=2, partitions=2, commit_on_revoke=True))\n"
            "print(r2.summary['sent'], r2.summary['delivered_once'], r2.summary['lost'])",
            timeout=180)
        assert content["status"] == "ok", text
        assert text.split() == ["60", "60", "0"], text
        assert _workers_of(kernel_pid) == []
    finally:
        kernel.close()


# --- Ctrl-C on `deliverylab lab` -----------------------------------------------------------------
def _api(base: str, token: str, path: str, method: str = "GET") -> dict | list:
    req = urllib.request.Request(f"{base}{path}", method=method, data=b"{}" if method == "POST" else None,
                                 headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


@pytest.mark.timeout(400)
def test_ctrl_c_on_the_lab_stops_jupyterlab_its_kernels_and_the_cluster_it_started(tmp_path):
    from deliverylab.cluster.state import read_state
    from deliverylab.cluster.processes import port_is_free
    from deliverylab.testing.ports import free_port, free_port_base

    home, folder, log = tmp_path / "home", tmp_path / "notebooks", tmp_path / "lab.log"
    folder.mkdir()
    port, token = free_port(), secrets.token_hex(16)
    # Its own run folder and ports: no cluster runs there, so the lab starts one (1 broker: quick).
    env = {**os.environ, "DELIVERYLAB_HOME": str(home), "JUPYTER_TOKEN": token,
           "DELIVERYLAB_PORT_BASE": str(free_port_base(1, start=28592))}
    t0 = time.monotonic()
    with log.open("w") as out:
        lab = subprocess.Popen([sys.executable, "-m", "deliverylab.tools.cli", "lab", "--no-browser",
                                "--brokers", "1", "--port", str(port), "--notebook-dir", str(folder)],
                               env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    try:
        while "] ready in " not in log.read_text():
            assert lab.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() - t0 < 240, log.read_text()[-3000:]
            time.sleep(0.2)
        print(f"deliverylab lab (1 broker) ready in {time.monotonic() - t0:.1f} s")
        assert "starting a local Kafka cluster" in log.read_text()
        state = read_state(home)
        assert state and state["owner_pid"] == lab.pid
        brokers = [n["pid"] for n in state["nodes"]]
        base = f"http://127.0.0.1:{port}"
        kernel_id = _api(base, token, "/api/kernels", "POST")["id"]
        jupyter = _children_matching(lab.pid, "jupyterlab")
        assert len(jupyter) == 1
        kernels = _children_matching(jupyter[0], kernel_id)
        assert len(kernels) == 1 and all(_alive(p) for p in brokers)

        t0 = time.monotonic()
        lab.send_signal(signal.SIGINT)  # Ctrl-C
        assert lab.wait(60) == 0, log.read_text()[-3000:]
        print(f"Ctrl-C -> everything stopped in {time.monotonic() - t0:.1f} s")
        for pid in jupyter + kernels + brokers:
            assert not _alive(pid), f"pid {pid} ({' '.join(_cmdline(pid))[:120]}) is still running"
        assert port_is_free(port)
        assert read_state(home) is None, "the lab left its cluster's state file behind"
        assert "stopped the local cluster it started" in log.read_text()
    finally:
        if lab.poll() is None:
            lab.kill()
            lab.wait(10)
        leftover = read_state(home)
        if leftover:  # never leave brokers behind, even when an assertion failed
            from deliverylab.cluster import LocalCluster
            LocalCluster(home, leftover).stop()

"""The lab on every platform: process facts through psutil (no module but the Linux-only network
faults reads /proc or /sys), workers that die with their parent on Linux (the kernel) and
elsewhere (a watch on the parent, taken here on Linux with DELIVERYLAB_PLATFORM=darwin), and the
ephemeral port range asked of sysctl."""
from __future__ import annotations

import ast
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from deliverylab.cluster import processes
from deliverylab.cluster.host import PLATFORM_ENV
from deliverylab.testing import ports

LIB = Path(__file__).resolve().parents[1] / "lib" / "deliverylab"
LINUX_ONLY = {LIB / "cluster" / "network.py"}  # nftables and cgroups v2: Linux's own


def _string_constants(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def test_no_module_outside_the_network_faults_reads_proc_or_sys():
    """A path literal under /proc or /sys (also the start of an f-string) in any module of the
    library but cluster/network.py: macOS has neither, so such a read breaks the lab there."""
    offenders = [f"{path.relative_to(LIB)}:{line}: {value!r}"
                 for path in sorted(LIB.rglob("*.py")) if path not in LINUX_ONLY
                 for line, value in _string_constants(path)
                 if value == "/proc" or value.startswith(("/proc/", "/sys/")) or value == "/sys"]
    assert offenders == [], "read these through psutil (or a portable command):\n" + "\n".join(offenders)


def test_the_scan_finds_a_proc_read(tmp_path):
    """The check above can fail: a module reading /proc/PID/stat the old way is found."""
    bad = tmp_path / "bad.py"
    bad.write_text('from pathlib import Path\n\ndef state(pid):\n    return Path(f"/proc/{pid}/stat").read_text()\n')
    assert [v for _, v in _string_constants(bad)] == ["/proc/", "/stat"]


# --- process facts, through psutil -----------------------------------------------------------------
MARKER = "deliverylab-test-marker"


@pytest.fixture()
def sleeper():
    """A child whose command line names MARKER, like a broker JVM names its run folder."""
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", MARKER])
    deadline = time.monotonic() + 10  # Popen may return before the exec shows the new arguments
    while MARKER not in processes.cmdline(p.pid):
        assert time.monotonic() < deadline, "the child's command line never showed"
        time.sleep(0.01)
    yield p
    p.kill()
    p.wait()


def test_a_process_reads_running_paused_and_dead_and_a_zombie_is_reaped(sleeper):
    pid = sleeper.pid
    assert processes.process_state(pid) == "running" and processes.is_ours(pid, MARKER)
    assert not processes.is_ours(pid, "another-run-folder")
    os.kill(pid, signal.SIGSTOP)
    assert processes.wait_state(pid, "paused", 3.0)
    assert psutil.Process(pid).status() == psutil.STATUS_STOPPED
    os.kill(pid, signal.SIGCONT)
    assert processes.wait_state(pid, "running", 3.0)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:  # dead, not yet reaped
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert processes.process_state(pid) == "dead"  # a zombie will never serve again ...
    assert not psutil.pid_exists(pid)  # ... and reading it so reaped it
    assert processes.process_state(pid) == "dead" and not processes.is_ours(pid, MARKER)


def test_signal_ours_acts_only_on_a_process_that_names_the_marker(sleeper):
    pid = sleeper.pid
    processes.signal_ours(pid, "another-run-folder", "kill")  # a reused pid: left alone
    assert processes.process_state(pid) == "running"
    processes.signal_ours(pid, MARKER, "pause")
    assert processes.process_state(pid) == "paused"  # returned once the OS showed it
    processes.signal_ours(pid, MARKER, "resume")
    assert processes.process_state(pid) == "running"
    processes.signal_ours(pid, MARKER, "kill")
    assert processes.process_state(pid) == "dead"


# --- workers die with their parent -----------------------------------------------------------------
# A parent starts a child that asks to die with it, prints how, and sleeps; the test SIGKILLs the
# parent. PR_GET_PDEATHSIG (prctl option 2) shows whether the kernel was asked at all.
CHILD = """
import ctypes, json, os, sys, threading, time
from deliverylab.cluster.processes import die_with_parent
how = die_with_parent()
got = ctypes.c_int()
ctypes.CDLL("libc.so.6").prctl(2, ctypes.byref(got))
print(json.dumps({"pid": os.getpid(), "how": how, "pdeathsig": got.value,
                  "threads": [t.name for t in threading.enumerate()]}), flush=True)
time.sleep(60)
"""
PARENT = """
import subprocess, sys, time
subprocess.Popen([sys.executable, "-c", sys.argv[1]])
time.sleep(60)
"""


@pytest.mark.parametrize("platform, how", [("linux", "pdeathsig"), ("darwin", "parent-watch")])
def test_a_child_dies_with_its_parent_killed_by_sigkill(platform, how):
    parent = subprocess.Popen([sys.executable, "-c", PARENT, CHILD], stdout=subprocess.PIPE,
                              text=True, env={**os.environ, PLATFORM_ENV: platform})
    try:
        ready, _, _ = select.select([parent.stdout], [], [], 30)
        assert ready, "the child never said how it watches its parent"
        child = json.loads(parent.stdout.readline())  # the child's line (it inherits the pipe)
        assert child["how"] == how, child
        if how == "parent-watch":  # the kernel was not asked: only the watch can kill it
            assert child["pdeathsig"] == 0 and processes.PARENT_WATCH_THREAD in child["threads"], child
        else:
            assert child["pdeathsig"] == signal.SIGKILL, child
        parent.kill()
        parent.wait()
        t0 = time.monotonic()
        assert processes.wait_dead(child["pid"], 5.0), f"the child outlived its parent ({platform})"
        took = time.monotonic() - t0
        assert took < 1.0 + processes.PARENT_WATCH_INTERVAL_S, took
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()


# --- the ephemeral port range ----------------------------------------------------------------------
def test_the_ephemeral_range_is_the_kernels():
    """Asked of sysctl; checked here against Linux's own file (a test may read it)."""
    ports.ephemeral_ports.cache_clear()
    low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    assert ports.ephemeral_ports() == range(low, high + 1)


def test_where_sysctl_cannot_say_the_range_covers_linux_and_iana_defaults(monkeypatch):
    """macOS's keys asked of Linux's sysctl fail: the fallback holds both platforms' defaults."""
    monkeypatch.setenv(PLATFORM_ENV, "darwin")
    ports.ephemeral_ports.cache_clear()
    try:
        got = ports.ephemeral_ports()
    finally:
        ports.ephemeral_ports.cache_clear()
    assert got == ports.EPHEMERAL_FALLBACK
    assert {32768, 60999, 49152, 65535} <= set(got)


# --- what this machine can run, said by the lab itself ------------------------------------------
@pytest.fixture()
def cli(tmp_path, monkeypatch, capsys):
    """`deliverylab ARGS` in this process (no interpreter start): (exit code, stdout)."""
    from deliverylab.tools.cli import main

    monkeypatch.setenv("DELIVERYLAB_HOME", str(tmp_path / "home"))

    def run(*args: str) -> tuple[int, str]:
        code = main(list(args))
        return code, capsys.readouterr().out
    return run


def _faults(machine: dict) -> dict[str, dict]:
    return {f["what"].split(" (")[0]: f for f in machine["faults"]}


def test_doctor_says_which_faults_this_machine_runs(cli):
    """This machine: Linux, so signals and the kernel's parent-death signal; network faults
    exactly when this process is root and has nft (the lab's checks, asked independently)."""
    code, out = cli("cluster", "doctor", "--json")
    assert code == 0
    machine = json.loads(out)["machine"]
    assert machine["platform"] == "Linux" and machine["uid"] == os.geteuid(), machine
    f = _faults(machine)
    assert f["crash points"]["runs"] and "SIGKILL" in f["crash points"]["detail"]
    assert f["broker kill, pause, resume, restart"]["runs"]
    assert "SIGSTOP" in f["broker kill, pause, resume, restart"]["detail"]
    assert f["controller faults"]["runs"] and "3-broker" in f["controller faults"]["detail"]
    assert "PR_SET_PDEATHSIG" in f["workers die with their supervisor"]["detail"]
    root_with_nft = os.geteuid() == 0 and any(
        Path(d, "nft").exists() for d in [*os.environ.get("PATH", "").split(os.pathsep), "/usr/sbin", "/sbin"])
    network = f["network faults"]
    assert network["runs"] == root_with_nft, network
    if not root_with_nft:
        assert "not root" in network["detail"] or "nft" in network["detail"], network
    text = cli("cluster", "doctor")[1]
    assert "yes  crash points: a worker SIGKILLs itself" in text, text
    assert f"{'yes' if root_with_nft else 'no '}  network faults" in text, text


def test_doctor_on_macos_keeps_process_faults_and_says_network_faults_need_linux(cli, monkeypatch):
    monkeypatch.setenv(PLATFORM_ENV, "darwin")
    machine = json.loads(cli("cluster", "doctor", "--json")[1])["machine"]
    f = _faults(machine)
    assert machine["platform"] == "macOS"
    assert f["crash points"]["runs"] and f["controller faults"]["runs"]
    assert not f["network faults"]["runs"] and "macOS, not Linux" in f["network faults"]["detail"]
    assert "watches its parent" in f["workers die with their supervisor"]["detail"]


def test_status_lists_the_table_beside_the_cluster(cli):
    code, text = cli("cluster", "status")
    assert code == 1  # no cluster in this run folder
    assert "No local cluster is running" in text and "What the lab can run here:" in text
    as_json = json.loads(cli("cluster", "status", "--json")[1])
    assert as_json["running"] is False and len(as_json["machine"]["faults"]) == 5


# Native Windows, as far as Linux can show it: no fcntl, no SIGKILL/SIGSTOP/SIGCONT, no uids.
WINDOWS = """
import os, signal, sys
sys.modules["fcntl"] = None
for name in ("SIGKILL", "SIGSTOP", "SIGCONT"):
    delattr(signal, name)
for name in ("geteuid", "getuid"):
    delattr(os, name)
if sys.argv[1] == "cli":
    from deliverylab.tools.cli import main
    sys.exit(main(["cluster", "up"]))
import deliverylab
try:
    deliverylab.connect()
except deliverylab.LabError as exc:
    print(exc.paragraph(), file=sys.stderr)
    sys.exit(2)
"""


@pytest.mark.parametrize("entry", ["cli", "connect"])
def test_native_windows_is_sent_to_wsl2_in_one_paragraph(tmp_path, entry):
    p = subprocess.run([sys.executable, "-c", WINDOWS, entry], capture_output=True, text=True,
                       timeout=60, env={**os.environ, PLATFORM_ENV: "win32",
                                        "DELIVERYLAB_HOME": str(tmp_path / "home")})
    assert p.returncode == 2, p.stdout + p.stderr
    assert "Traceback" not in p.stderr and p.stderr.strip().count("\n") == 0, p.stderr
    assert "native Windows" in p.stderr and "WSL2" in p.stderr and ".devcontainer" in p.stderr
    assert not (tmp_path / "home").exists()  # refused before the run folder was touched


def test_a_notebook_skips_a_fault_this_machine_cannot_run_with_the_labs_paragraph(tmp_path, monkeypatch):
    """Notebooks 07 and 08 call fault_runs_here before their network experiments: on macOS (forced
    here) it shows why in one paragraph and says skip; a process fault still runs."""
    import IPython.display

    from deliverylab.cluster import LocalCluster
    from deliverylab.widgets import fault_runs_here

    shown = []
    monkeypatch.setattr(IPython.display, "display", shown.append)
    monkeypatch.setenv(PLATFORM_ENV, "darwin")
    nodes = [{"id": i, "port": 1 + i, "controller_port": None, "pid": None, "dir": str(tmp_path)}
             for i in (1, 2, 3)]
    c = LocalCluster(tmp_path, {"nodes": nodes, "controllers": [], "cgroups": None})
    assert fault_runs_here(c, "partition-leader") is False
    assert [m.data.split(". ")[0] for m in shown] == [
        "**Skipped on this machine.** Network fault 'partition-leader' cannot run here: this is "
        "macOS, not Linux"]
    shown.clear()
    assert fault_runs_here(c, "kill-leader") is True and shown == []

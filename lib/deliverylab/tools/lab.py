"""`deliverylab lab`: the embedded cluster and JupyterLab on the course notebooks, in one command.

The cluster is reused when one is running, else started and owned by this process. JupyterLab
starts at the same time (the two boot in parallel); the browser opens, and the URL is printed, only
once both are ready: the cluster accepts an acks=all write, the Jupyter HTTP API answers with the
token, the kernel is this lab's Python and the widgets' JupyterLab extension is served.

Ctrl-C (or SIGTERM / SIGHUP) stops JupyterLab with its kernels and the cluster this command
started; a cluster that was already running keeps running.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import webbrowser
from pathlib import Path
from typing import Any, Callable

from ..cluster.host import is_linux
from ..errors import LabError

DEFAULT_PORT = 8888
PORT_TRIES = 50
WIDGETS_EXTENSION = "@jupyter-widgets/jupyterlab-manager"


class _Stop(Exception):
    """A signal asked the lab to stop (SIGTERM, SIGHUP); Ctrl-C is a KeyboardInterrupt."""


def _raise_stop(signum: int, frame: Any) -> None:
    raise _Stop(signal.Signals(signum).name)


def _say(text: str) -> None:
    print(f"[deliverylab lab] {text}", file=sys.stderr, flush=True)


def pick_port(port: int | None) -> int:
    """The port asked for (it must be free), or the first free one from 8888."""
    from ..cluster.processes import port_is_free

    if port is not None:
        if isinstance(port, bool) or not isinstance(port, int) or not 1024 <= port <= 65535:
            raise LabError(f"--port {port!r} is not a port JupyterLab can listen on.",
                           f"Use a number from 1024 to 65535, e.g. --port {DEFAULT_PORT}.")
        if not port_is_free(port):
            raise LabError(f"Port {port} on 127.0.0.1 is already in use.",
                           "Stop what uses it (another JupyterLab?), or pick another with --port.")
        return port
    for candidate in range(DEFAULT_PORT, DEFAULT_PORT + PORT_TRIES):
        if port_is_free(candidate):
            return candidate
    raise LabError(f"No free port in {DEFAULT_PORT}–{DEFAULT_PORT + PORT_TRIES - 1}.",
                   "Pick one with --port.")


def notebooks_dir(path: str | None) -> Path:
    from ..paths import repo_root

    folder = Path(path).expanduser() if path else repo_root() / "notebooks"
    if not folder.is_dir():
        raise LabError(f"The notebook folder {folder} does not exist.",
                       "Run `deliverylab lab` from the repository, or pass --notebook-dir.")
    return folder.resolve()


def _sigterm_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: JupyterLab gets SIGTERM if this command dies without cleaning up (kill -9). The
    kernel's PR_SET_PDEATHSIG survives the exec; die_with_parent's watch thread elsewhere would
    not, so on macOS only this command's own SIGTERM/SIGHUP/Ctrl-C handling stops JupyterLab."""
    from ..cluster.processes import die_with_parent

    die_with_parent(signal.SIGTERM)


def jupyter_command(port: int, root: Path) -> list[str]:
    # Always --no-browser: the lab opens the browser itself, once the cluster is ready too.
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}",
           "--ip=127.0.0.1", "--ServerApp.port_retries=0", f"--ServerApp.root_dir={root}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers and CI machines run as root
    return cmd


class _Relay(threading.Thread):
    """Copies JupyterLab's log to stderr: held back until ready (so the first URL a learner sees
    is one that works), then live. Kept in full to explain a failed start."""

    def __init__(self, stream: Any) -> None:
        super().__init__(daemon=True)
        self.stream = stream
        self.lines: list[str] = []
        self.live = False
        self.lock = threading.Lock()

    def run(self) -> None:
        for line in self.stream:
            with self.lock:
                self.lines.append(line)
                if self.live:
                    sys.stderr.write(line)
                    sys.stderr.flush()

    def go_live(self) -> None:
        with self.lock:
            sys.stderr.writelines(self.lines)
            sys.stderr.flush()
            self.live = True

    def tail(self, n: int = 15) -> str:
        with self.lock:
            return "".join(self.lines[-n:])


def _get(url: str, token: str, timeout: float = 2.0) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def jupyter_ready(base: str, token: str) -> dict[str, Any] | None:
    """What the server says once it serves the lab; None while it does not answer yet."""
    try:
        status, body = _get(f"{base}/api/status", token)
        if status != 200:
            return None
        _, version = _get(f"{base}/api", token)
        status, specs = _get(f"{base}/api/kernelspecs", token)
        lab_status, page = _get(f"{base}/lab", token)
    except (OSError, ValueError):
        return None
    if status != 200 or lab_status != 200:
        return None
    specs = json.loads(specs)
    return {"status": json.loads(body), "version": json.loads(version).get("version", ""),
            "kernelspecs": specs,
            "widgets": WIDGETS_EXTENSION.encode() in page}


def check_kernel(specs: dict[str, Any]) -> list[str]:
    """Warnings when the notebooks' kernel (python3) would not be this lab's Python."""
    spec = specs.get("kernelspecs", {}).get("python3")
    if spec is None:
        return ["JupyterLab offers no 'python3' kernel; the notebooks ask for it."]
    argv0 = spec["spec"]["argv"][0]
    if argv0 in ("python", "python3", "{python}") or Path(argv0).resolve() == Path(sys.executable).resolve():
        return []
    return [f"The 'python3' kernel runs {argv0}, not this lab's Python ({sys.executable}); "
            "`import deliverylab` may fail there. Remove the user kernelspec "
            "(`jupyter kernelspec list`) or install the lab into that Python."]


def _wait(what: str, ready: Callable[[], Any], proc: subprocess.Popen, relay: _Relay,
          timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise LabError(f"JupyterLab exited while starting (exit code {proc.returncode}):\n"
                           f"{relay.tail()}", "Check the message above; `--port` picks another port.")
        answer = ready()
        if answer is not None:
            return answer
        if time.monotonic() > deadline:
            raise LabError(f"{what} did not answer within {timeout:.0f} s:\n{relay.tail()}",
                           "A slow machine may need a second try.")
        time.sleep(0.1)


def stop_jupyter(proc: subprocess.Popen, grace: float = 15.0) -> None:
    """SIGTERM: JupyterLab shuts its kernels down and exits; SIGKILL after `grace` seconds."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def run_lab(port: int | None = None, open_browser: bool = True, notebook_dir: str | None = None,
            brokers: int | None = None, timeout: float = 180.0) -> int:
    from ..cluster import LocalCluster, find_or_start

    from ..cluster.settings import check_size

    t0 = time.monotonic()
    if brokers is not None:  # before a cluster is found or started, so a typo is always said
        check_size(brokers)
    root = notebooks_dir(notebook_dir)
    port = pick_port(port)
    token = os.environ.get("JUPYTER_TOKEN") or secrets.token_hex(24)
    base = f"http://127.0.0.1:{port}"
    previous = {s: signal.signal(s, _raise_stop) for s in (signal.SIGTERM, signal.SIGHUP)}
    # Ctrl-C stops the lab even when started from a shell that ignores SIGINT in the background.
    previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
    started = None  # the cluster this command started (and so stops)
    starting = False
    proc = None
    try:
        # Own session: a Ctrl-C in the terminal reaches this command only, which then stops
        # JupyterLab cleanly (no "Shutdown this Jupyter server (y/[n])?" prompt).
        proc = subprocess.Popen(jupyter_command(port, root), cwd=root,
                                env={**os.environ, "JUPYTER_TOKEN": token},
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True,
                                preexec_fn=_sigterm_with_parent if is_linux() else None)
        relay = _Relay(proc.stdout)
        relay.start()

        def on_start(size: int) -> None:
            nonlocal starting
            _say(f"starting a local Kafka cluster of {size} broker(s)…")
            starting = True

        cluster, new = find_or_start(brokers, on_start)
        if new:
            started = cluster
        elif cluster.kind == "local":
            _say("reusing the running local cluster (it keeps running after the lab stops)")
        cluster_s = time.monotonic() - t0
        info = _wait("JupyterLab", lambda: jupyter_ready(base, token), proc, relay, timeout)
        ready_s = time.monotonic() - t0
        for warning in check_kernel(info["kernelspecs"]):
            _say(f"warning: {warning}")
        if not info["widgets"]:
            _say(f"warning: JupyterLab does not serve {WIDGETS_EXTENSION}: the panels will show "
                 "as text. Install jupyterlab_widgets (ipywidgets>=8) into this Python.")
        relay.go_live()
        url = f"{base}/lab?token={token}"
        _say(f"{cluster.kind} cluster {cluster.bootstrap_servers} "
             f"({'started' if started else 'reused'}, ready after {cluster_s:.1f} s)")
        _say(f"JupyterLab (Jupyter Server {info['version']}) on {root}")
        _say(f"ready in {ready_s:.1f} s: {url}")
        _say("press Ctrl-C to stop JupyterLab" + (" and the cluster" if started else ""))
        if open_browser:
            webbrowser.open(url)
        while proc.poll() is None:
            time.sleep(0.5)
        _say(f"JupyterLab exited (code {proc.returncode})")
        return 0 if proc.returncode == 0 else 1
    except (KeyboardInterrupt, _Stop):
        _say("stopping…")
        return 0
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        # A second Ctrl-C while stopping must not leave JupyterLab or the brokers behind.
        old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            if proc is not None:
                stop_jupyter(proc)
            if started is None and starting:
                # Interrupted while the brokers were starting: LocalCluster.start leaves them
                # running then; they carry this process as owner.
                started = LocalCluster.find()
                if started is not None and started.state.get("owner_pid") != os.getpid():
                    started = None
            if started is not None:
                started.stop()
                _say(f"stopped the local cluster it started ({started.bootstrap_servers})")
        finally:
            signal.signal(signal.SIGINT, old_int)


def cmd_lab(args: argparse.Namespace) -> int:
    return run_lab(port=args.port, open_browser=not args.no_browser,
                   notebook_dir=args.notebook_dir, brokers=args.brokers)


def add_command(sub: Any) -> None:
    lab = sub.add_parser("lab", help="JupyterLab on the course notebooks, with the cluster up; "
                                     "Ctrl-C stops both (a cluster already running keeps running)")
    lab.add_argument("--port", type=int, default=None,
                     help=f"JupyterLab's port (default: the first free one from {DEFAULT_PORT})")
    lab.add_argument("--no-browser", action="store_true", help="print the URL, do not open a browser")
    lab.add_argument("--notebook-dir", default=None, help="default: the repository's notebooks/")
    lab.add_argument("--brokers", type=int, default=None,
                     help="size of the cluster to start when none runs (1 or 3; default 3, "
                          "or DELIVERYLAB_BROKERS)")
    lab.set_defaults(func=cmd_lab)

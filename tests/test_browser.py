"""JupyterLab as a learner uses it, in a real browser (Debian's Chromium, driven by Playwright).

`deliverylab lab` serves a temporary copy of notebooks/ on the session's cluster; Chromium opens
a notebook with a consumer panel, runs it, changes the crash point, presses Run, watches the
progress bar fill, and checks that the plot and the summary table appear and no cell shows an
error. Screenshots go to test-artifacts/.

Chromium is not downloaded by Playwright: `make browser` (a dependency of `make test`) installs
Debian's package. Without it this test fails, it does not skip.
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import nbformat
import pytest

from deliverylab.testing.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
# Debian's chromium on a machine with no network but the package registries: no background
# connections, no first-run UI, no GPU, and no sandbox (CI runs as root).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]
NOTEBOOK = "panel.ipynb"
MESSAGES, CRASH_EVERY = 60, 20
CRASH_POINT = "after-commit"  # the panel starts at after-process; the test picks this one

pytestmark = pytest.mark.kafka


def require_browser() -> None:
    """Fail (never skip) with what to run when Chromium or Playwright is missing."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"Chromium is missing ({CHROMIUM} not found): the browser tests drive Debian's "
                    "chromium. Run `make browser` as root, or: "
                    "sudo apt-get update && sudo apt-get install -y chromium", pytrace=False)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.fail("The Python package playwright is missing: pip install -e '.[test]' "
                    "(or `make setup`).", pytrace=False)


def panel_notebook(path: Path) -> None:
    """The smallest notebook with a consumer panel (the course notebooks run whole experiments
    before theirs, too slow for a browser test)."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import deliverylab.widgets as w"),
                nbformat.v4.new_code_cell(f"w.consumer_panel(messages={MESSAGES}, "
                                          f"crash_every={CRASH_EVERY})")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    nbformat.write(nb, path)


@contextmanager
def lab_server(folder: Path, log: Path, timeout: float = 180.0) -> Iterator[dict]:
    """`deliverylab lab --no-browser` on a free port with a known token, until it says ready."""
    port, token = free_port(), secrets.token_hex(16)
    # DELIVERYLAB_HOME is inherited: the session's cluster. A workspace folder of its own, so
    # JupyterLab does not restore tabs a learner (or another test) left open.
    env = {**os.environ, "JUPYTER_TOKEN": token,
           "JUPYTERLAB_WORKSPACES_DIR": str(log.parent / "workspaces")}
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "deliverylab.tools.cli", "lab", "--no-browser",
                                 "--port", str(port), "--notebook-dir", str(folder)],
                                cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT)
    t0 = time.monotonic()
    try:
        while "] ready in " not in log.read_text():
            assert proc.poll() is None, f"deliverylab lab exited early:\n{log.read_text()[-3000:]}"
            assert time.monotonic() - t0 < timeout, f"not ready in {timeout} s:\n{log.read_text()[-3000:]}"
            time.sleep(0.2)
        yield {"proc": proc, "port": port, "token": token, "base": f"http://127.0.0.1:{port}",
               "ready_s": time.monotonic() - t0, "log": log}
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # what Ctrl-C does
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def dismiss_dialog(page) -> bool:
    """Close a JupyterLab dialog that covers the notebook (once, on a loaded machine, one
    intercepted every click for 30 s). Its text goes to the test output and its screenshot to
    test-artifacts/, so a dialog that matters is seen; what the test checks comes after."""
    dialog = page.locator(".jp-Dialog")
    if not dialog.count() or not dialog.first.is_visible():
        return False
    print(f"JupyterLab dialog dismissed: {dialog.first.inner_text()!r}")
    page.screenshot(path=ARTIFACTS / "browser-dialog.png", full_page=True)
    page.keyboard.press("Escape")
    dialog.first.wait_for(state="detached", timeout=5_000)
    return True


def run_cell(page, cell, tries: int = 3) -> None:
    """Click into the cell, Ctrl+Enter; wait for its prompt number. A key press made while the
    notebook's kernel connection is still settling can be dropped (prompt stays "[ ]"): retry."""
    from playwright.sync_api import expect

    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    prompt = cell.locator(".jp-InputArea-prompt")
    for attempt in range(tries):
        dismiss_dialog(page)
        try:
            cell.locator(".jp-InputArea-editor").click(timeout=15_000)
        except PlaywrightTimeout:
            if attempt == tries - 1 or not dismiss_dialog(page):
                raise
            continue
        page.keyboard.press("Control+Enter")
        try:  # "[*]" (queued or running) or "[n]" (done)
            expect(prompt).not_to_have_text(re.compile(r"^\s*\[ \]:?\s*$"), timeout=20_000)
            break
        except AssertionError:
            if attempt == tries - 1:
                raise
    expect(prompt).to_have_text(re.compile(r"\[\d+\]"), timeout=120_000)


def _width(bar) -> float:
    style = bar.get_attribute("style") or ""
    match = re.search(r"width:\s*([0-9.]+)%", style)
    return float(match.group(1)) if match else 0.0


@pytest.mark.timeout(600)
def test_consumer_panel_runs_in_jupyterlab(cluster, tmp_path):
    require_browser()
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    folder = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", folder,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    panel_notebook(folder / NOTEBOOK)
    timings: dict[str, float] = {}
    with lab_server(folder, tmp_path / "lab.log") as lab, sync_playwright() as pw:
        timings["lab ready"] = lab["ready_s"]
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            console_errors: list[str] = []
            page.on("pageerror", lambda exc: console_errors.append(str(exc)))
            t0 = time.monotonic()
            page.goto(f"{lab['base']}/lab/tree/{NOTEBOOK}?token={lab['token']}")
            cells = page.locator(".jp-NotebookPanel .jp-Cell")
            expect(cells).to_have_count(2, timeout=90_000)
            expect(page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]')).to_be_visible(
                timeout=90_000)
            timings["notebook open, kernel idle"] = time.monotonic() - t0

            news = page.get_by_role("alert").get_by_role("button", name="No")
            if news.count():
                news.click()  # JupyterLab's "notified about official Jupyter news?" toast

            # Run the cells as a learner does: click into one, Ctrl+Enter, see its prompt number.
            t0 = time.monotonic()
            for i in range(2):
                run_cell(page, cells.nth(i))
            crash_point = page.get_by_label("crash point")
            expect(crash_point).to_be_visible(timeout=60_000)
            timings["panel shown"] = time.monotonic() - t0
            page.screenshot(path=ARTIFACTS / "browser-1-panel.png", full_page=True)

            output = page.locator(".widget-output")
            run = page.locator("button.jupyter-button", has_text="Run")
            bar = page.locator(".widget-hprogress .progress-bar")
            expect(run).to_be_enabled()
            expect(page.locator(".widget-hprogress .progress")).to_be_visible()  # the empty bar
            assert CRASH_POINT in crash_point.locator("option").all_inner_texts()
            crash_point.select_option(CRASH_POINT)
            expect(crash_point).to_have_value(CRASH_POINT)

            t0 = time.monotonic()
            run.click()
            expect(run).to_be_disabled(timeout=10_000)  # the kernel took the click
            widths, shot_mid_run = [], False
            deadline = time.monotonic() + 240
            while _width(bar) < 100.0:
                widths.append(_width(bar))
                if not shot_mid_run and 0.0 < widths[-1] < 100.0:
                    page.screenshot(path=ARTIFACTS / "browser-2-running.png", full_page=True)
                    shot_mid_run = True
                assert time.monotonic() < deadline, f"progress stuck at {widths[-1]}%"
                if output.locator("div[style*='c00000']").count():
                    pytest.fail(f"the run failed: {output.inner_text()}")
                page.wait_for_timeout(100)
            timings["progress bar full"] = time.monotonic() - t0
            image = output.locator("img")
            table = output.locator("table")
            expect(image).to_be_visible(timeout=120_000)
            expect(table).to_be_visible(timeout=60_000)
            expect(run).to_be_enabled(timeout=30_000)
            timings["plot and table shown"] = time.monotonic() - t0
            image.scroll_into_view_if_needed()
            page.screenshot(path=ARTIFACTS / "browser-3-done.png", full_page=True)
            output.screenshot(path=ARTIFACTS / "browser-4-output.png")

            # The run took more than a second, so the bar must have been seen moving, not only full.
            assert any(0.0 < x < 100.0 for x in widths), (
                f"the progress bar jumped to the end without showing progress: {widths[:20]}")
            assert image.evaluate("img => img.naturalWidth") > 100, "the plot image is empty"
            headers = table.locator("th").all_inner_texts()
            values = dict(zip(headers, table.locator("tbody td").all_inner_texts()))
            for column in ("sent", "delivered_once", "lost", "duplicated", "crashes"):
                assert column in values, f"summary table has no {column!r}: {headers}"
            assert int(values["sent"]) == MESSAGES
            assert int(values["crashes"]) >= 1, values
            # The dropdown reached the kernel: at after-commit, nothing is lost or repeated
            # (at the panel's starting point, after-process, records are repeated).
            assert int(values["lost"]) == 0 and int(values["duplicated"]) == 0, values

            # No cell shows an error: no traceback, no stderr, no widget error, no red panel text.
            assert page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
                                ).count() == 0, page.locator(".jp-OutputArea").all_inner_texts()
            assert output.locator("div[style*='c00000']").count() == 0, output.inner_text()
            assert page.get_by_text("Error displaying widget").count() == 0
            assert page.get_by_text("Traceback").count() == 0
            assert not console_errors, console_errors
            expect(page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]')).to_be_visible(
                timeout=30_000)
        finally:
            browser.close()
    print("browser timings (s):", {k: round(v, 1) for k, v in timings.items()})
    # The lab reused the session's cluster: Ctrl-C stopped JupyterLab and left the cluster running.
    assert lab["proc"].returncode == 0, lab["log"].read_text()[-2000:]
    assert "reusing the running local cluster" in lab["log"].read_text()
    assert all(b.state == "running" for b in cluster.brokers())

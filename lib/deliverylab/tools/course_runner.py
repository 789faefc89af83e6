"""The course runner: execute every notebook in order, keep what it showed.

    python -m deliverylab.tools.course_runner [--size workshop|ci] [--out out/course] [--only 03[,05]]

For each ``notebooks/NN-*.ipynb`` (in name order) papermill runs it with ``SIZE`` injected into its
"parameters" cell; the runner writes the executed notebook, an HTML page, every PNG figure of its
outputs (``figures/NN-name-K.png``) and its running time (``timings.json``). It exits non-zero,
naming the notebook, if any cell raised. It does not start or stop a cluster: the notebooks'
``connect()`` finds the running one (or starts one of its own when none runs).
"""
from __future__ import annotations

import argparse
import base64
import json
import re
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Sequence

from jupyter_client.manager import AsyncKernelManager

from ..paths import repo_root

SIZES = ("workshop", "ci")
NOTEBOOK = re.compile(r"^(\d\d)-.+\.ipynb$")


def find_notebooks(folder: Path | None = None, only: Sequence[str] = ()) -> list[Path]:
    """notebooks/NN-*.ipynb in order; `only` keeps those whose NN (or name prefix) is listed."""
    folder = folder or repo_root() / "notebooks"
    found = sorted(p for p in folder.glob("*.ipynb") if NOTEBOOK.match(p.name))
    if only:
        found = [p for p in found if any(p.name.startswith(o) for o in only)]
    return found


def save_figures(nb, figures: Path, stem: str) -> list[Path]:
    """Every image/png in the notebook's outputs, as figures/<stem>-K.png (K from 1)."""
    figures.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            png = output.get("data", {}).get("image/png")
            if png:
                path = figures / f"{stem}-{len(written) + 1}.png"
                path.write_bytes(base64.b64decode(png if isinstance(png, str) else "".join(png)))
                written.append(path)
    return written


def write_html(nb, path: Path) -> None:
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nb)
    path.write_text(body, encoding="utf-8")


class LocalKernelManager(AsyncKernelManager):
    """A headless run's kernel, reached over local (ipc) sockets instead of TCP ports: nothing
    listens on the network, and ipykernel has no unencrypted-TCP warning to print for every
    notebook. The socket files (<tmp>/deliverylab-kernel-<id>-N) go when the kernel shuts down."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("transport", "ipc")
        kwargs.setdefault("ip", str(Path(tempfile.gettempdir()) / f"deliverylab-kernel-{uuid.uuid4().hex[:8]}"))
        super().__init__(**kwargs)


def run_notebook(source: Path, out: Path, size: str, kernel: str | None = None) -> tuple[float, str | None]:
    """Execute one notebook; write its executed copy, HTML and figures. (seconds, error or None)."""
    import nbformat
    import papermill as pm

    executed = out / "notebooks" / source.name
    executed.parent.mkdir(parents=True, exist_ok=True)
    error = None
    t0 = time.monotonic()
    try:
        pm.execute_notebook(str(source), str(executed), parameters={"SIZE": size},
                            kernel_name=kernel, cwd=str(source.parent), progress_bar=False,
                            log_output=False, kernel_manager_class=LocalKernelManager)
    except pm.PapermillExecutionError as exc:
        error = f"cell {exc.exec_count}: {exc.ename}: {exc.evalue}"
    seconds = time.monotonic() - t0
    if executed.exists():
        nb = nbformat.read(executed, as_version=4)
        (out / "html").mkdir(parents=True, exist_ok=True)
        write_html(nb, out / "html" / f"{source.stem}.html")
        save_figures(nb, out / "figures", source.stem)
    return seconds, error


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deliverylab.tools.course_runner",
                                     description="Execute the course notebooks in order.")
    parser.add_argument("--size", choices=SIZES, default="workshop",
                        help="experiment sizes: workshop (the course) or ci (small and quick)")
    parser.add_argument("--out", type=Path, default=Path("out/course"),
                        help="folder for executed notebooks, html/, figures/ and timings.json")
    parser.add_argument("--only", default="",
                        help="comma-separated notebook numbers (or name prefixes), e.g. 03,05")
    parser.add_argument("--notebooks", type=Path, default=None,
                        help="folder of NN-*.ipynb (default: the checkout's notebooks/)")
    parser.add_argument("--kernel", default=None, help="Jupyter kernel name (default: the notebook's)")
    args = parser.parse_args(argv)

    only = [o.strip() for o in args.only.split(",") if o.strip()]
    notebooks = find_notebooks(args.notebooks, only)
    if not notebooks:
        print(f"No notebooks matched {args.only or 'NN-*.ipynb'} in "
              f"{args.notebooks or repo_root() / 'notebooks'}.", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    timings_path = args.out / "timings.json"
    timings: dict[str, float] = {}
    failed: list[str] = []
    for source in notebooks:
        print(f"{source.name} …", flush=True)
        seconds, error = run_notebook(source, args.out, args.size, args.kernel)
        timings[source.stem] = round(seconds, 1)
        timings_path.write_text(json.dumps(timings, indent=2) + "\n")
        status = "ok" if error is None else f"FAILED ({error})"
        print(f"{source.name}: {seconds:.1f} s {status}", flush=True)
        if error is not None:
            failed.append(source.name)
    print(f"total {sum(timings.values()):.1f} s; timings in {timings_path}")
    if failed:
        print(f"Notebook(s) with a failing cell: {', '.join(failed)} "
              f"(see {args.out / 'notebooks'}).", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

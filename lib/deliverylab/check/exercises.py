"""The course's checked exercises, read from a notebook, and run: a learner's, or the solution.

An exercise is three tagged cells of a notebook, in this order:

- ``exercise`` — a code cell that defines the learner's function (the starter: a broken loop);
- ``check``    — a code cell that checks it and leaves the report in ``report``, e.g.
  ``report = check.consumer(at_least_once_loop, claim="at-least-once", crashes=3, messages=60,
  cluster=cluster)``;
- ``solution`` — a markdown cell, ``<details>`` like the course's other solutions, whose first
  ```` ```python ```` block defines the same function correctly.

The solution is a markdown cell on purpose: it is collapsed wherever a notebook is shown
(JupyterLab, GitHub, nbviewer), "Run all" never executes it (so it cannot overwrite the
learner's function, nor cost a check at ``make run``), and the tests and the instructor's table
read it from the very cell the learner reads: one place for the starter, one for the solution,
one for the claim (the check cell).

`run` executes the exercise's (or the solution's) code and then the check cell, with only
``check`` and ``cluster`` given: an exercise's cells must stand on their own, so the same run
works in a learner's copy of the notebook (`deliverylab check --notebook`).
"""
from __future__ import annotations

import linecache
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ..errors import LabError

TAGS = ("exercise", "check", "solution")
FENCE = re.compile(r"```python\n(.*?)```", re.S)


@dataclass(frozen=True)
class Exercise:
    file: Path
    number: int  # 1, 2, … in the notebook's order
    name: str  # the function the exercise cell defines
    starter: str  # the exercise cell's source (in a learner's copy: their own code)
    check: str  # the check cell's source
    solution: str  # the python block of the solution cell ("" if the notebook has none)

    @property
    def label(self) -> str:
        return f"{self.number} ({self.name})"


def _tags(cell: Any) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def _defined(source: str, where: str) -> str:
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise LabError(f"{where}: the exercise cell is not valid Python (line {exc.lineno}: "
                       f"{exc.msg}).", "Fix the cell so that it runs, then check again.") from None
    names = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    if not names:
        raise LabError(f"{where}: the exercise cell defines no function.",
                       "Keep the cell's `def …(…):` line and change its body.")
    return names[0]


def find(path: Path) -> list[Exercise]:
    """The exercises of one notebook, in order (none: an empty list)."""
    import nbformat

    path = Path(path)
    try:
        nb = nbformat.read(path, as_version=4)
    except (OSError, ValueError) as exc:  # not found, not JSON, not a notebook
        raise LabError(f"Cannot read the notebook {path}: {exc}.",
                       "Pass a .ipynb file, e.g. deliverylab check --notebook 03-at-least-once.ipynb.") from None
    found: list[Exercise] = []
    current: dict[str, str] = {}

    def close() -> None:
        if "exercise" in current:
            where = f"{path.name}, exercise {len(found) + 1}"
            if "check" not in current:
                raise LabError(f"{where}: the exercise cell has no cell tagged 'check' after it.",
                               "Keep the course's check cell (tag 'check') below the exercise.")
            found.append(Exercise(path, len(found) + 1, _defined(current["exercise"], where),
                                  current["exercise"], current["check"],
                                  current.get("solution", "")))

    for cell in nb.cells:
        tags = [t for t in _tags(cell) if t in TAGS]
        if not tags:
            continue
        if tags[0] == "exercise":
            close()
            current = {"exercise": cell.source}
        elif current and tags[0] not in current:
            text = cell.source
            if tags[0] == "solution":
                block = FENCE.search(text)
                text = block.group(1) if block else ""
            current[tags[0]] = text
    close()
    return found


def _exec(code: str, namespace: dict[str, Any], filename: str) -> None:
    # Registered with linecache so the function's source can be read (inspect.getsource): the
    # report quotes the learner's line as it does for a notebook cell.
    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    exec(compile(code, filename, "exec"), namespace)


def run(exercise: Exercise, cluster: Any = None, *, solution: bool = False) -> Any:
    """Execute the exercise's code (or its solution's), then its check cell; the Report.
    A cell that raises is a LabError naming the exercise (a learner's copy may not even run)."""
    from .. import check

    code = exercise.solution if solution else exercise.starter
    which = "solution" if solution else "exercise"
    where = f"{exercise.file.name}, exercise {exercise.label}"
    if not code.strip():
        raise LabError(f"{where}: the notebook has no {which} code.",
                       "Tag the solution cell 'solution' and give it a ```python block.")
    namespace: dict[str, Any] = {"__name__": f"deliverylab_exercise_{exercise.number}",
                                 "check": check, "cluster": cluster}
    stem = f"<{exercise.file.stem} exercise {exercise.number}"
    try:
        _exec(code, namespace, f"{stem} {which}>")
        _exec(exercise.check, namespace, f"{stem} check>")
    except LabError:
        raise
    except Exception as exc:  # the learner's own cell: shown as one line, not a traceback
        raise LabError(f"{where}: its {which} cell raised {type(exc).__name__}: {exc}.",
                       "Run the cell in the notebook to see where.") from None
    report = namespace.get("report")
    if report is None or not hasattr(report, "status"):
        raise LabError(f"{where}: the check cell left no report.",
                       "Keep the course's check cell: `report = check.consumer(...)`.")
    return report


def grade(paths: list[Path], cluster: Any = None) -> Iterator[dict[str, str]]:
    """The instructor's table, row by row as each check ends: for every exercise of every
    notebook, its file (the path as given: learners' copies share a name), exercise, claim and
    status (passed | failed | inconclusive, or error: a
    notebook or cell that could not be run, with its one paragraph as the detail)."""
    for path in paths:
        path = Path(path)
        try:
            found = find(path)
        except LabError as exc:
            yield {"file": str(path), "exercise": "-", "claim": "-", "status": "error",
                   "detail": exc.paragraph()}
            continue
        if not found:
            yield {"file": str(path), "exercise": "-", "claim": "-", "status": "error",
                   "detail": "no cell tagged 'exercise' in this notebook."}
        for ex in found:
            row = {"file": str(path), "exercise": ex.label}
            try:
                report = run(ex, cluster)
            except LabError as exc:
                yield {**row, "claim": "-", "status": "error", "detail": exc.paragraph()}
                continue
            yield {**row, "claim": report.verdict.claim, "status": report.status,
                   "detail": report.verdict.headline()}


def exit_code(statuses: list[str]) -> int:
    """As for one check: 1 if anything failed (or could not run), else 3 if anything could not
    show its claim, else 0."""
    if any(s in ("failed", "error") for s in statuses):
        return 1
    return 3 if "inconclusive" in statuses else 0


__all__ = ["Exercise", "TAGS", "exit_code", "find", "grade", "run"]

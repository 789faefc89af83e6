"""The course's checked exercises: each starter fails its claim, each solution passes it.

Read from the notebooks themselves (cells tagged exercise / check / solution, check/exercises.py),
so what is tested is what a learner gets. Each check is CI size already (60 records, 3 crashes:
the crashes take the loop's gaps in turn, so a wrong order is struck every time).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from deliverylab.check import exercises
from deliverylab.errors import LabError

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]-*.ipynb"))
EXERCISES = [e for nb in NOTEBOOKS for e in exercises.find(nb)]


def _id(e: exercises.Exercise) -> str:
    return f"{e.file.stem[:2]}-{e.number}"


def test_the_course_has_a_checked_exercise_in_each_consumer_notebook():
    have = {e.file.stem[:2] for e in EXERCISES}
    assert {"02", "03", "06"} <= have, have
    assert all(e.solution.strip() and e.name in e.solution for e in EXERCISES)
    assert all("report = check." in e.check for e in EXERCISES)


@pytest.mark.kafka
@pytest.mark.parametrize("exercise", EXERCISES, ids=_id)
def test_the_starter_fails_its_claim_and_the_solution_passes(exercise, cluster):
    starter = exercises.run(exercise, cluster)
    assert starter.status == "failed", str(starter)
    assert starter.verdict.broken, str(starter)  # lost or duplicated ids, each laid at a crash
    solution = exercises.run(exercise, cluster, solution=True)
    assert solution.passed and solution.verdict.shown, str(solution)


def test_an_exercise_cell_that_does_not_run_is_one_paragraph(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    nb = new_notebook(cells=[new_code_cell("def loop(consumer, process):\n    undefined_name\n"
                                           "oops(", metadata={"tags": ["exercise"]}),
                             new_code_cell("report = check.consumer(loop)",
                                           metadata={"tags": ["check"]}),
                             new_markdown_cell("no solution", metadata={"tags": ["solution"]})])
    path = tmp_path / "broken.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(LabError, match="broken.ipynb, exercise 1: the exercise cell is not valid Python"):
        exercises.find(path)


def _learners_copy(tmp_path: Path, name: str, solved: bool) -> Path:
    """A learner's copy of notebook 03: its exercise cell left as given, or the solution typed in."""
    import nbformat

    source = next(p for p in NOTEBOOKS if p.name.startswith("03-"))
    nb = nbformat.read(source, as_version=4)
    if solved:
        cell = next(c for c in nb.cells if "exercise" in c.metadata.get("tags", []))
        cell.source = exercises.find(source)[0].solution
    (tmp_path / name).mkdir()
    path = tmp_path / name / source.name
    nbformat.write(nb, path)
    return path


@pytest.mark.kafka
def test_the_instructors_table_names_who_passed_and_fails_ci_when_someone_did_not(
        cluster, tmp_path, capsys):
    from deliverylab.tools.cli import main

    right = _learners_copy(tmp_path, "alice", solved=True)
    wrong = _learners_copy(tmp_path, "bob", solved=False)
    code = main(["check", "--notebook", str(right), str(wrong)])
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.startswith(str(tmp_path))]
    assert [(r[0], r[3], r[4]) for r in rows] == [(str(right), "at-least-once", "passed"),
                                                  (str(wrong), "at-least-once", "failed")], out
    assert "lost" in out and "1 passed, 1 failed" in out
    assert code == 1


def test_the_instructors_table_refuses_a_file_that_is_not_there_before_any_check(tmp_path, capsys):
    from deliverylab.tools.cli import main

    assert main(["check", "--notebook", str(tmp_path / "nobody.ipynb")]) == 2
    err = capsys.readouterr().err
    assert "--notebook" in err and "nobody.ipynb: no such file" in err and "Traceback" not in err

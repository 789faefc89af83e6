"""The course notebooks: committed clean, and each runs top to bottom at SIZE="ci" on real Kafka.

Parametrised over every notebooks/NN-*.ipynb found, so new notebooks are picked up by themselves.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(p for p in NOTEBOOK_DIR.glob("[0-9][0-9]-*.ipynb"))


def _ids(path: Path) -> str:
    return path.stem


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_notebook_is_committed_clean(path: Path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    dirty = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; strip them before committing"
    tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: needs exactly one code cell tagged 'parameters'"
    assert "SIZE" in tagged[0].source, f"{path.name}: the parameters cell must set SIZE"


@pytest.mark.kafka
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_notebook_runs_at_ci_size(path: Path, cluster, tmp_path: Path):
    import papermill as pm

    from deliverylab.tools.course_runner import LocalKernelManager

    out = tmp_path / path.name
    try:
        pm.execute_notebook(str(path), str(out), parameters={"SIZE": "ci"}, cwd=str(path.parent),
                            progress_bar=False, log_output=False,
                            kernel_manager_class=LocalKernelManager)
    except pm.PapermillExecutionError as exc:
        pytest.fail(f"{path.name}: cell {exc.exec_count} raised {exc.ename}: {exc.evalue}",
                    pytrace=False)
    executed = nbformat.read(out, as_version=4)
    errors = [o for c in executed.cells if c.cell_type == "code"
              for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{path.name}: {errors[0].get('ename')}: {errors[0].get('evalue')}"

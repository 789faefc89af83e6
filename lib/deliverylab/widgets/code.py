"""The code that ran: a delivery model's worker loop, shown in the notebook beside its pseudo-code."""
from __future__ import annotations

import importlib
import importlib.util
import inspect
from pathlib import Path
from typing import Any

from ..errors import LabError
from ..vocabulary import INPUT, MODELS


def _source(obj: Any) -> tuple[str, str]:
    """(the package-relative path of obj's file, obj's source)."""
    path = Path(inspect.getsourcefile(obj) or "").relative_to(Path(__file__).parents[1])
    return f"deliverylab/{path.as_posix()}", inspect.getsource(obj).rstrip()


def _part(module: Any, name: str) -> Any:
    """A function, class or method named in a worker's module ("ReportBook.on_delivery"), or in
    another module of workers/ ("membership.Membership")."""
    head, _, rest = name.partition(".")
    if rest and importlib.util.find_spec(f"deliverylab.workers.{head}") is not None:
        module, name = importlib.import_module(f"deliverylab.workers.{head}"), rest
    obj: Any = module
    for attr in name.split("."):
        obj = getattr(obj, attr, None)
        if obj is None:
            raise LabError(f"The worker code has no {name!r}.",
                           f"Name a function or class of {module.__name__} (e.g. 'run'), "
                           "or 'module.Name' for another module of deliverylab.workers.")
    return obj


def show_worker(model: str, *also: str) -> Any:
    """The real loop of a delivery model's worker (its `run` function in workers/), with syntax
    highlighting, so a notebook shows the code that ran, not a paraphrase that can drift.

    `also` names the other code the lesson is about, shown after the loop: a callback the loop
    hands to the client ("ReportBook.on_delivery"), a helper it calls ("commit"), or code of
    another worker module ("membership.Membership")."""
    from IPython.display import Markdown

    from ..workers.__main__ import ROLES
    if model not in ROLES or model == INPUT:
        raise LabError(f"There is no worker for {model!r}.",
                       f"Use one of {', '.join(MODELS)} or 'producer'.")
    func = ROLES[model]
    func = getattr(func, "func", func)  # a retry stage's run is a partial of run_stage
    module = inspect.getmodule(func)
    parts = [func, *(_part(module, name) for name in also)]
    blocks = []
    for obj in parts:
        path, source = _source(obj)
        blocks.append(f"`{path}`, `{obj.__qualname__}`:\n\n```python\n{source}\n```")
    return Markdown("\n\n".join(blocks))

"""The code that ran: a delivery model's worker loop, shown in the notebook beside its pseudo-code."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import LabError
from ..vocabulary import INPUT, MODELS

def show_worker(model: str) -> Any:
    """The real loop of a delivery model's worker (its `run` function in workers/), with syntax
    highlighting, so a notebook shows the code that ran, not a paraphrase that can drift."""
    import inspect

    from IPython.display import Markdown

    from ..workers.__main__ import ROLES
    if model not in ROLES or model == INPUT:
        raise LabError(f"There is no worker for {model!r}.",
                       f"Use one of {', '.join(MODELS)} or 'producer'.")
    func = ROLES[model]
    path = Path(inspect.getsourcefile(func) or "").relative_to(Path(__file__).parents[1])  # the package
    return Markdown(f"`deliverylab/{path.as_posix()}`, `{func.__name__}()`:\n\n"
                    f"```python\n{inspect.getsource(func).rstrip()}\n```")

"""What every panel shares: fields, a Run button, a progress bar and an output area, and how a
run's figure, counts, warnings or error are written there (plain display-data dicts: a PNG, an
HTML table), so a panel works the same in JupyterLab, under papermill and in a test without a
kernel."""
from __future__ import annotations

import base64
import html
import io
from typing import Any, Callable, Sequence

import ipywidgets as w
import pandas as pd
from matplotlib.figure import Figure

from .. import plots
from ..cluster import Cluster
from ..errors import LabError
from ..results import Result

NO_CRASH = "none"  # a crash-point field's "no crash"
LAYOUT = {"description_width": "160px"}
WIDE = w.Layout(width="520px")  # room for the slider track beside the 160 px description



def result_figure(result: Result) -> Figure:
    """Outcome bars and the timeline of one run, side by side, in one Figure."""
    fig = Figure(figsize=(13.0, 4.0), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=[1, 2])
    plots.outcome_bars(result, ax=left)
    plots.timeline(result, ax=right)
    return fig


def png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def show(out: w.Output, data: dict[str, str]) -> None:
    out.outputs = tuple(out.outputs) + ({"output_type": "display_data", "data": data,
                                         "metadata": {}},)


def show_error(out: w.Output, exc: BaseException) -> None:
    text = exc.paragraph() if isinstance(exc, LabError) else f"{type(exc).__name__}: {exc}"
    show(out, {"text/plain": text,
                "text/html": f'<div style="color:#c00000">{html.escape(text)}</div>'})


def warnings_html(warnings: Sequence[str]) -> str:
    items = "".join(f"<li>⚠ {html.escape(x)}</li>" for x in warnings)
    return f'<ul style="color:#9c5700">{items}</ul>'


def summary_frame(result: Result, columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame([{c: result.summary[c] for c in columns if c in result.summary}])


class Panel(w.VBox):
    """Fields, a Run button, a progress bar and an output area; subclasses build the spec."""

    columns: Sequence[str] = ()

    def __init__(self, fields: dict[str, w.Widget], runner: Callable[..., Result],
                 cluster: Cluster | None) -> None:
        self.fields = fields
        self.results: list[Result] = []
        self.cluster = cluster
        self._runner = runner
        self.button = w.Button(description="Run", button_style="primary", icon="play")
        self.progress = w.IntProgress(value=0, min=0, max=1, description="progress",
                                      style=LAYOUT)
        self.output = w.Output()
        self.button.on_click(lambda _: self.run())
        super().__init__(list(fields.values()) + [w.HBox([self.button, self.progress]),
                                                  self.output])

    def spec(self, raw: bool = False) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def _check_start(self) -> None:
        """A bad starting value is reported at once, in the output area, never raised."""
        try:
            self.spec(raw=True).check()
        except LabError as exc:
            show_error(self.output, exc)

    def _progress(self, done: int, total: int) -> None:
        self.progress.max = max(int(total), 1)
        self.progress.value = min(int(done), self.progress.max)

    def run(self) -> Result | None:
        """What the Run button does; returns the Result (None when the run failed)."""
        self.button.disabled = True
        self.output.outputs = ()
        self.progress.value = 0
        try:
            spec = self.spec()
            spec.check()
            self.progress.max = getattr(spec, "messages", 1)  # a hanging transaction has none
            result = self._runner(spec, cluster=self.cluster, progress=self._progress)
        except Exception as exc:  # a LabError is a paragraph; anything else, one line, no traceback
            show_error(self.output, exc)
            return None
        except KeyboardInterrupt:  # a kernel interrupt: the supervisor has killed the worker
            show_error(self.output, LabError("Interrupted: the run was stopped and its worker "
                                              "killed; nothing was counted.", "Press Run to start again."))
            return None
        finally:
            self.button.disabled = False
        self.results.append(result)
        self._show_result(result)
        return result

    def _figure(self, result: Any) -> Figure:
        return result_figure(result)

    def _show_result(self, result: Any) -> None:
        show(self.output, {"image/png": png(self._figure(result)),
                            "text/plain": f"<figure: {result.label}>"})
        table = summary_frame(result, self.columns)
        show(self.output, {"text/html": table.to_html(index=False),
                            "text/plain": table.to_string(index=False)})
        warnings = getattr(result, "warnings", [])
        if warnings:  # a degenerate run says so beside its counts
            show(self.output, {"text/html": warnings_html(warnings),
                                "text/plain": "\n".join(f"⚠ {x}" for x in warnings)})


def slider(description: str, value: Any, low: int, high: int, step: int = 1) -> w.IntSlider:
    value = value if isinstance(value, int) and not isinstance(value, bool) else low
    return w.IntSlider(value=min(max(value, low), high), min=low, max=high, step=step,
                       description=description, style=LAYOUT, layout=WIDE,
                       continuous_update=False)


def check_show(show: Sequence[str], allowed: Sequence[str]) -> None:
    unknown = [s for s in show if s not in allowed]
    if unknown:
        raise LabError(f"The panel has no field {unknown[0]!r}.", f"Show some of: {', '.join(allowed)}.")

"""The retry pipeline's panel (notebook 09): retry topics or blocking retries, the failure mix,
a crash of the main stage."""
from __future__ import annotations

from typing import Any, Sequence

import ipywidgets as w
from matplotlib.figure import Figure

from .. import plots
from ..cluster import Cluster
from ..experiments import RetryPipeline, run_retry_pipeline
from ..experiments.retry import MODES as RETRY_MODES
from ..errors import LabError
from .panel import LAYOUT, WIDE, Panel, show_error

RETRY_COLUMNS = ("mode", "sent", "processed", "dead_lettered", "lost", "duplicated",
                 "reordered_keys", "crashes", "anomalies", "elapsed_s", "latency_max_s")


class RetryPanel(Panel):
    """A retry pipeline panel; see `retry_panel`."""

    columns = RETRY_COLUMNS

    def __init__(self, messages: int, delays_ms: Sequence[int], cluster: Cluster | None,
                 **spec_kwargs: Any) -> None:
        self.values = {"messages": messages, "delays_ms": tuple(delays_ms)}
        self.spec_kwargs = spec_kwargs
        fields: dict[str, w.Widget] = {
            "mode": w.Dropdown(options=RETRY_MODES, value="retry-topics", description="mode",
                               style=LAYOUT),
            "transient_rate": w.FloatSlider(value=0.10, min=0, max=0.5, step=0.01,
                                            description="transient share", style=LAYOUT,
                                            layout=WIDE, continuous_update=False),
            "poison_rate": w.FloatSlider(value=0.02, min=0, max=0.2, step=0.01,
                                         description="poison share", style=LAYOUT, layout=WIDE,
                                         continuous_update=False),
            "crash": w.Checkbox(value=False, description="crash the main stage halfway",
                                style=LAYOUT),
        }
        super().__init__(fields, run_retry_pipeline, cluster)
        self._check_start()

    def spec(self, raw: bool = False) -> RetryPipeline:
        f = self.fields
        messages = self.values["messages"]
        crash_at = messages // 2 if (not raw and f["crash"].value and isinstance(messages, int)) \
            else None
        return RetryPipeline(messages=messages, mode=f["mode"].value,
                             transient_rate=f["transient_rate"].value,
                             poison_rate=f["poison_rate"].value,
                             delays_ms=self.values["delays_ms"], crash_at=crash_at,
                             **self.spec_kwargs)

    def _figure(self, result: Any) -> Figure:
        return plots.place_bars(result)

    def _show_result(self, result: Any) -> None:
        super()._show_result(result)
        if result.errors:  # a stage that stopped with an error: its counts are not the whole story
            show_error(self.output, LabError("Stage errors: " + "; ".join(result.errors)))


def retry_panel(messages: int = 200, delays_ms: Sequence[int] = (200, 500),
                cluster: Cluster | None = None, **spec_kwargs: Any) -> RetryPanel:
    """Mode, transient and poison shares, a crash switch, Run: shows where every message ended
    (and any stage errors). Every run's RetryResult is appended to `panel.results`."""
    return RetryPanel(messages, delays_ms, cluster, **spec_kwargs)


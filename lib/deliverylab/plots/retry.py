"""The retry pipeline (notebook 09): where every message ended, and how long it took.

A retry result is duck-typed here (messages, places, label)."""
from __future__ import annotations

from typing import Any, Sequence

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .base import axes_for, root_figure

retry_kind_colors: dict[str, str] = {"ok": "#2ca02c", "transient": "#ff7f0e", "poison": "#8b0000"}


def place_bars(result: Any, ax: Axes | None = None) -> Figure:
    """Bars: how many messages ended in each place (in the result's pipeline order), stacked by
    kind of message (ok / transient / poison)."""
    fig, ax = axes_for(ax, (8, 3.8))
    table = pd.crosstab(result.messages["place"], result.messages["kind"])
    table = table.reindex(result.places).reindex(
        columns=[k for k in retry_kind_colors if k in table.columns]).fillna(0)
    bottom = None
    for kind in table.columns:
        ax.bar(table.index, table[kind], bottom=bottom, label=kind, color=retry_kind_colors[kind])
        bottom = table[kind] if bottom is None else bottom + table[kind]
    if bottom is not None:
        for x, total in enumerate(bottom):
            ax.text(x, total, str(int(total)), ha="center", va="bottom")
    ax.set_ylabel("messages")
    ax.tick_params(axis="x", labelrotation=15)
    ax.set_title(f"where every message ended — {result.label}")
    ax.legend(title="message kind", fontsize="small")
    ax.margins(y=0.15)
    return root_figure(ax)


def latency_points(results: Sequence[Any], ax: Axes | None = None, title: str | None = None) -> Figure:
    """Per message: time from the pipeline's first read to the message's final topic (processed
    or DLT), by input index, one colour per run. Worker start-up is not part of it."""
    fig, ax = axes_for(ax, (8, 3.6))
    for r in results:
        m = r.messages.dropna(subset=["latency_s"])
        ax.scatter(m["index"], m["latency_s"], s=8, label=r.label)
    ax.set_xlabel("input message index")
    ax.set_ylabel("pipeline's first read → processed / DLT (s)")
    ax.set_title(title or "latency per message")
    ax.legend(fontsize="small")
    return root_figure(ax)

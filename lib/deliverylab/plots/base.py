"""What every figure of the course shares: one colour per outcome and per event kind, the axes a
figure draws into, and a placeholder where a run has nothing to draw."""
from __future__ import annotations

from typing import Any

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..vocabulary import (ACKED_BUT_LOST, ARCHIVED, CRASH, DEAD_LETTERED, DELIVERED_ONCE, DUPLICATED,
                          FAILED_REPORTED, FAULT, HEAL, LOST, RESTART, UNACKED_BUT_STORED, UNREAD)

# One colour per outcome for the whole course, so a learner reads a colour the same way in
# every notebook: green is good, reds are losses, orange is a duplicate.
outcome_colors: dict[str, str] = {
    DELIVERED_ONCE: "#2ca02c",
    LOST: "#d62728",
    DUPLICATED: "#ff7f0e",
    ACKED_BUT_LOST: "#8b0000",
    FAILED_REPORTED: "#7f7f7f",
    UNACKED_BUT_STORED: "#9467bd",
    ARCHIVED: "#b8860b",  # share groups: the broker gave up on it
    DEAD_LETTERED: "#8c564b",  # … and wrote it to the group's dead-letter topic
    UNREAD: "#c7c7c7",  # a run out of time had not read it yet: grey, neither good nor a loss
}

# Latency percentiles: colours of their own, none an outcome's (green and red mean delivered and
# lost everywhere else in the course).
latency_colors: dict[str, str] = {"p50": "#17becf", "p99": "#1f3b73"}
# p50 and p99 share a panel only while p99 is less than this many times p50: past it the p50
# bars shrink to slivers on the p99's scale.
SPLIT_PERCENTILES_AT = 10.0

# Event kinds drawn as vertical lines on a timeline; other kinds (start, exit, …) are noise there.
event_styles: dict[str, dict[str, Any]] = {
    CRASH: {"color": "red", "linestyle": "--"},
    RESTART: {"color": "green", "linestyle": ":"},
    FAULT: {"color": "black", "linestyle": "-"},
    HEAL: {"color": "blue", "linestyle": ":"},
}

# Colours for delivery-report error names on a producer timeline: none of them is an outcome
# colour, so an error is never mistaken for an outcome.
ERROR_PALETTE = ("#1f77b4", "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#393b79", "#637939")
FIRST_COLOR = "#1f77b4"


def axes_for(ax: Axes | None, figsize: tuple[float, float] = (7.0, 4.0)) -> tuple[Figure, Axes]:
    if ax is not None:
        return root_figure(ax), ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def nothing_to_draw(ax: Axes, text: str) -> None:
    """Say so in the middle of the axes, rather than draw an empty frame."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)


def root_figure(ax: Axes) -> Figure:
    """The top-level Figure even when ``ax`` lives in a SubFigure."""
    try:
        return ax.get_figure(root=True)  # matplotlib >= 3.10
    except TypeError:
        fig = ax.figure
        return getattr(fig, "figure", fig)


def draw_events(ax: Axes, events: pd.DataFrame) -> None:
    """One vertical line per crash / restart / fault / heal, each kind once in the legend."""
    if events is None or events.empty or not {"t", "kind"} <= set(events.columns):
        return
    labelled: set[str] = set()
    for t, kind in zip(events["t"], events["kind"]):
        style = event_styles.get(str(kind))
        if style is None or pd.isna(t):
            continue
        label = str(kind) if kind not in labelled else "_nolegend_"
        labelled.add(str(kind))
        ax.axvline(float(t), linewidth=1.2, label=label, **style)


def number_text(value: float) -> str:
    if pd.isna(value):
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:.3g}"

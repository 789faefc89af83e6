"""A checked run (deliverylab check): the course's timeline, with each crash labelled by where
it struck in the code under check."""
from __future__ import annotations

import json
import textwrap

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..results import Result
from ..vocabulary import CRASH
from .runs import timeline

TITLE_WIDTH = 80  # characters a line of the title holds at the timeline's width


def check_timeline(result: Result, ax: Axes | None = None, title: str | None = None) -> Figure:
    """The timeline, with each crash line labelled where it struck in the code under check
    (after-commit, after-process, …: the crash event's point)."""
    fig = timeline(result, ax=ax, title=title)
    ax = ax if ax is not None else fig.axes[0]
    # A checked run's label holds the program's command line, often a long interpreter path:
    # wrapped, it stays inside the figure instead of running off its left edge.
    ax.set_title(textwrap.fill(ax.get_title(), TITLE_WIDTH))
    if ax.get_legend() is not None:  # beside the axes: the crash labels run along the top
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", markerscale=1.5)
    ev = result.events
    if ev is None or ev.empty:
        return fig
    top = ax.get_ylim()[1]
    crashes = ev[ev["kind"] == CRASH]
    for t, detail in zip(crashes["t"], crashes["detail"]):
        info = json.loads(detail) if isinstance(detail, str) and detail.startswith("{") else {}
        if info.get("point"):
            ax.annotate(f"{info.get('n', '')} {info['point']}".strip(), (float(t), top),
                        rotation=90, fontsize=7, color="red", va="top", ha="right",
                        xytext=(-2, -2), textcoords="offset points")
    return fig

"""One run in figures: how many messages ended in each outcome, and when each was seen against
the crashes and faults (cause next to effect)."""
from __future__ import annotations

from typing import Iterable

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..results import Result
from ..vocabulary import (ACKED_BUT_LOST, CONSUMER, CONSUMER_OUTCOMES, DELIVERED_ONCE, DUPLICATED,
                          LOST, PRODUCER, PRODUCER_OUTCOMES, SHARE, SHARE_OUTCOMES)
from .base import ERROR_PALETTE, FIRST_COLOR, axes_for, draw_events, outcome_colors

def _outcome_order(result: Result) -> list[str]:
    """The course's outcomes for this kind of run, then any unexpected name, so none is hidden."""
    names = list({PRODUCER: PRODUCER_OUTCOMES, SHARE: SHARE_OUTCOMES}.get(result.kind,
                                                                              CONSUMER_OUTCOMES))
    seen = result.messages.get("outcome", pd.Series(dtype=object)).dropna().unique()
    return names + sorted(str(n) for n in seen if n not in names)


def outcome_bars(result: Result, ax: Axes | None = None) -> Figure:
    """How many messages ended in each outcome; zero bars stay so absence is visible too."""
    fig, ax = axes_for(ax)
    names = _outcome_order(result)
    counts = result.messages.get("outcome", pd.Series(dtype=object)).value_counts()
    heights = [int(counts.get(n, 0)) for n in names]
    bars = ax.bar(names, heights, color=[outcome_colors.get(n, "#444444") for n in names])
    ax.bar_label(bars, labels=[str(h) for h in heights], padding=2)
    ax.set_ylabel("messages")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # messages come whole
    ax.set_title(result.label)
    ax.margins(y=0.15)  # room for the count above the tallest bar
    if len(names) > 3:
        ax.tick_params(axis="x", labelrotation=20)
    return fig


def _report_colors(values: Iterable[str]) -> dict[str, str]:
    """'ok' and outcome names keep the course colours; error names get their own."""
    colors: dict[str, str] = {"ok": outcome_colors[DELIVERED_ONCE], **outcome_colors}
    others = sorted({str(v) for v in values} - set(colors))
    return {**colors, **{v: ERROR_PALETTE[i % len(ERROR_PALETTE)] for i, v in enumerate(others)}}


def _draw_consumer_points(ax: Axes, tl: pd.DataFrame) -> None:
    # A row without a copy number is taken as a first processing: never invent a duplicate.
    copy = tl["copy"].fillna(1) if "copy" in tl else pd.Series(1, index=tl.index)
    first, dup = tl[copy <= 1], tl[copy > 1]
    ax.scatter(first["t"], first["index"], s=6, color=FIRST_COLOR, label="processed")
    if len(dup):
        ax.scatter(dup["t"], dup["index"], s=30, color=outcome_colors[DUPLICATED],
                   edgecolors="black", linewidths=0.4, label="duplicate", zorder=3)


def _draw_producer_points(ax: Axes, tl: pd.DataFrame) -> None:
    outcome = tl["outcome"].fillna("ok").astype(str) if "outcome" in tl else \
        pd.Series("ok", index=tl.index)
    colors = _report_colors(outcome)
    for value in pd.unique(outcome):
        rows = tl[outcome == value]
        ax.scatter(rows["t"], rows["index"], s=8 if value == "ok" else 20,
                   color=colors[value], label=value.lstrip("_"))  # matplotlib hides "_"-labels


def _draw_lost(ax: Axes, result: Result) -> None:
    """A lost message was never processed, so it has no time: mark it at the right edge."""
    lost = result.messages[result.messages.get("outcome", pd.Series(dtype=object)) == LOST]
    if not len(lost):
        return
    times = [s["t"].max() for s in (result.timeline, result.events)
             if s is not None and len(s) and "t" in s]
    end = float(max(times)) if times else 0.0
    ax.scatter([end] * len(lost), lost["index"], marker="x", s=30, color=outcome_colors[LOST],
               label="lost (never processed)", zorder=3)


def _draw_acked_but_lost(ax: Axes, result: Result) -> None:
    """A producer's acked-but-lost message, marked where its (successful) delivery report came."""
    m = result.messages
    if "outcome" not in m or result.timeline is None or "msg_id" not in result.timeline:
        return
    lost = set(m.loc[m["outcome"] == ACKED_BUT_LOST, "msg_id"])
    rows = result.timeline[result.timeline["msg_id"].isin(lost)]
    if len(rows):
        ax.scatter(rows["t"], rows["index"], marker="x", s=30, color=outcome_colors[ACKED_BUT_LOST],
                   label="acked-but-lost (reported ok, not in the log)", zorder=3)


def _draw_producer_duplicates(ax: Axes, result: Result) -> None:
    """A message the read-back found more than once, ringed where its delivery report came."""
    m = result.messages
    if "stored_copies" not in m or result.timeline is None or "msg_id" not in result.timeline:
        return
    dup = set(m.loc[m["stored_copies"] > 1, "msg_id"])
    rows = result.timeline[result.timeline["msg_id"].isin(dup)]
    if len(rows):
        ax.scatter(rows["t"], rows["index"], s=30, facecolors="none",
                   edgecolors=outcome_colors[DUPLICATED], linewidths=0.8,
                   label="duplicated (in the log more than once)", zorder=3)


def timeline(result: Result, ax: Axes | None = None, title: str | None = None) -> Figure:
    """When each message was seen, against crashes and faults: cause next to effect. Fault and
    heal lines sit at their real times (a heal line: when healing began)."""
    fig, ax = axes_for(ax, figsize=(9.0, 4.0))
    tl = result.timeline if result.timeline is not None else pd.DataFrame()
    if not tl.empty and {"t", "index"} <= set(tl.columns):
        draw = _draw_producer_points if result.kind == PRODUCER else _draw_consumer_points
        draw(ax, tl)
    if result.kind == CONSUMER:
        _draw_lost(ax, result)
    else:
        _draw_acked_but_lost(ax, result)
        _draw_producer_duplicates(ax, result)
    draw_events(ax, result.events)
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel("message index")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title or result.label)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", fontsize="small", markerscale=1.5)
    return fig

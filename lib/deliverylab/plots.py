"""Matplotlib figures of a Result: pure functions, no Kafka, no pyplot state.

Every function returns a ``matplotlib.figure.Figure`` and accepts an ``ax`` to draw into, so a
notebook can place several plots side by side. Figures are made with ``Figure()`` rather than
``pyplot.figure()`` so that drawing many runs in a loop never piles up open pyplot figures.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .results import Result
from .vocabulary import (ACKED_BUT_LOST, ARCHIVED, CONSUMER, CONSUMER_OUTCOMES, CRASH, DEAD_LETTERED,
                         DELIVERED_ONCE, DUPLICATED, FAILED_REPORTED, FAULT, HEAL, LOST,
                         PARTITIONS_LOST, PRODUCER, PRODUCER_OUTCOMES, RESTART, REVOKED, SHARE,
                         SHARE_OUTCOMES, UNACKED_BUT_STORED)

__all__ = ["outcome_colors", "event_styles", "outcome_bars", "timeline", "compare", "heatmap",
           "story_bars", "benchmark_bars", "group_timeline", "share_deliveries",
           "check_timeline"]

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
}

# Event kinds drawn as vertical lines on a timeline; other kinds (start, exit, …) are noise there.
event_styles: dict[str, dict[str, Any]] = {
    CRASH: {"color": "red", "linestyle": "--"},
    RESTART: {"color": "green", "linestyle": ":"},
    FAULT: {"color": "black", "linestyle": "-"},
    HEAL: {"color": "blue", "linestyle": ":"},
}

# Colours for delivery-report error names on a producer timeline: none of them is an outcome
# colour, so an error is never mistaken for an outcome.
_ERROR_PALETTE = ("#1f77b4", "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#393b79", "#637939")
_FIRST_COLOR = "#1f77b4"


def _axes(ax: Axes | None, figsize: tuple[float, float] = (7.0, 4.0)) -> tuple[Figure, Axes]:
    if ax is not None:
        return _root_figure(ax), ax
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def _nothing_to_draw(ax: Axes, text: str) -> None:
    """Say so in the middle of the axes, rather than draw an empty frame."""
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)


def _root_figure(ax: Axes) -> Figure:
    """The top-level Figure even when ``ax`` lives in a SubFigure."""
    try:
        return ax.get_figure(root=True)  # matplotlib >= 3.10
    except TypeError:
        fig = ax.figure
        return getattr(fig, "figure", fig)


def _outcome_order(result: Result) -> list[str]:
    """The course's outcomes for this kind of run, then any unexpected name, so none is hidden."""
    names = list({PRODUCER: PRODUCER_OUTCOMES, SHARE: SHARE_OUTCOMES}.get(result.kind,
                                                                              CONSUMER_OUTCOMES))
    seen = result.messages.get("outcome", pd.Series(dtype=object)).dropna().unique()
    return names + sorted(str(n) for n in seen if n not in names)


def outcome_bars(result: Result, ax: Axes | None = None) -> Figure:
    """How many messages ended in each outcome; zero bars stay so absence is visible too."""
    fig, ax = _axes(ax)
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


def _draw_events(ax: Axes, events: pd.DataFrame) -> None:
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


def _report_colors(values: Iterable[str]) -> dict[str, str]:
    """'ok' and outcome names keep the course colours; error names get their own."""
    colors: dict[str, str] = {"ok": outcome_colors[DELIVERED_ONCE], **outcome_colors}
    others = sorted({str(v) for v in values} - set(colors))
    return {**colors, **{v: _ERROR_PALETTE[i % len(_ERROR_PALETTE)] for i, v in enumerate(others)}}


def _draw_consumer_points(ax: Axes, tl: pd.DataFrame) -> None:
    # A row without a copy number is taken as a first processing: never invent a duplicate.
    copy = tl["copy"].fillna(1) if "copy" in tl else pd.Series(1, index=tl.index)
    first, dup = tl[copy <= 1], tl[copy > 1]
    ax.scatter(first["t"], first["index"], s=6, color=_FIRST_COLOR, label="processed")
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
    fig, ax = _axes(ax, figsize=(9.0, 4.0))
    tl = result.timeline if result.timeline is not None else pd.DataFrame()
    if not tl.empty and {"t", "index"} <= set(tl.columns):
        draw = _draw_producer_points if result.kind == PRODUCER else _draw_consumer_points
        draw(ax, tl)
    if result.kind == CONSUMER:
        _draw_lost(ax, result)
    else:
        _draw_acked_but_lost(ax, result)
        _draw_producer_duplicates(ax, result)
    _draw_events(ax, result.events)
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel("message index")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title or result.label)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", fontsize="small", markerscale=1.5)
    return fig


def _metric_color(metric: str, position: int) -> str:
    """'lost', 'lost_rate' and 'acked_but_lost' map to their outcome's colour."""
    name = metric.removesuffix("_rate").replace("_", "-")
    fallback = _ERROR_PALETTE[position % len(_ERROR_PALETTE)]
    return outcome_colors.get(name, fallback)


def _fmt(value: float) -> str:
    if pd.isna(value):
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:.3g}"


def compare(frame: pd.DataFrame, by: str, metrics: Sequence[str] = ("lost", "duplicated"),
            ax: Axes | None = None, title: str | None = None,
            ylabel: str = "messages") -> Figure:
    """Grouped bars of run summaries; repeated runs show their mean and min–max spread.

    Groups keep the order of first appearance in ``frame`` (the course's order of models or
    settings), not alphabetical order. Error bars appear only when some group has several runs,
    because timing makes repeated runs differ and the spread is part of the lesson.
    """
    fig, ax = _axes(ax)
    metrics = list(metrics)
    stats = frame.groupby(by, sort=False)[metrics].agg(["mean", "min", "max", "count"])
    groups = [str(g) for g in stats.index]
    x = np.arange(len(groups))
    width = 0.8 / max(len(metrics), 1)
    repeated = bool(len(stats)) and bool((stats.xs("count", axis=1, level=1) > 1).any().any())
    for i, metric in enumerate(metrics):
        mean = stats[(metric, "mean")].to_numpy(dtype=float)
        yerr = None
        if repeated:
            yerr = np.vstack([mean - stats[(metric, "min")].to_numpy(dtype=float),
                              stats[(metric, "max")].to_numpy(dtype=float) - mean])
        bars = ax.bar(x + (i - (len(metrics) - 1) / 2) * width, mean, width, yerr=yerr,
                      capsize=3 if repeated else 0, label=metric,
                      color=_metric_color(metric, i))
        ax.bar_label(bars, labels=[_fmt(m) for m in mean], padding=2, fontsize="small")
    ax.set_xticks(x, groups)
    ax.set_xlabel(by)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.margins(y=0.15)
    if metrics:
        ax.legend(fontsize="small",
                  title="bar: mean, whisker: min–max over runs" if repeated else None,
                  title_fontsize="x-small")
    return fig


def heatmap(frame: pd.DataFrame, index: str, columns: str, value: str,
            ax: Axes | None = None) -> Figure:
    """A matrix of one metric (e.g. lost per delivery model × crash point), mean over runs.

    Rows and columns keep their order of first appearance; an empty cell is a combination
    that was not run, shown blank rather than as 0, because 'not measured' is not 'none lost'.
    """
    fig, ax = _axes(ax, figsize=(1.2 + 1.1 * max(frame[columns].nunique(), 1),
                                 1.0 + 0.6 * max(frame[index].nunique(), 1)))
    table = frame.pivot_table(index=index, columns=columns, values=value, aggfunc="mean",
                              sort=False, dropna=False)
    data = table.to_numpy(dtype=float)
    ax.set_title(value)
    if data.size == 0:
        _nothing_to_draw(ax, "no runs")
        return fig
    finite = data[np.isfinite(data)]
    # Anchor the scale at 0 so that a pale cell always means "few", whatever the largest value.
    low = min(0.0, float(finite.min())) if finite.size else 0.0
    high = float(finite.max()) if finite.size else 1.0
    high = high if high > low else low + 1.0  # an all-zero matrix still needs a valid scale
    image = ax.imshow(np.ma.masked_invalid(data), cmap="Reds", aspect="auto", vmin=low, vmax=high)
    ax.set_xticks(range(len(table.columns)), [str(c) for c in table.columns])
    ax.set_yticks(range(len(table.index)), [str(r) for r in table.index])
    for label in ax.get_xticklabels():  # anchored so a long crash-point name ends under its column
        label.set(rotation=30, horizontalalignment="right", rotation_mode="anchor")
    ax.set_xlabel(columns)
    ax.set_ylabel(index)
    threshold = low + 0.6 * (high - low)  # white text only where the cell is dark enough
    for (row, col), cell in np.ndenumerate(data):
        if np.isfinite(cell):
            ax.text(col, row, _fmt(cell), ha="center", va="center",
                    color="white" if cell > threshold else "black")
    fig.colorbar(image, ax=ax, label=value)
    return fig


def story_bars(stories: Any, ax: Axes | None = None) -> Figure:
    """Lost payments and double charges of one or more story runs (experiments.story), side by
    side per settings, with the faults that struck in the title. A 0 bar is drawn and labelled:
    for the recommended settings, 0 is the lesson."""
    stories = stories if isinstance(stories, (list, tuple)) else [stories]
    fig, ax = _axes(ax, figsize=(6.5, 3.8))
    names = [s.summary["settings"] for s in stories]
    x = np.arange(len(stories))
    width = 0.38
    for i, (key, label, color) in enumerate((
            ("lost_payments", "lost payments", outcome_colors[LOST]),
            ("double_charges", "double charges", outcome_colors[DUPLICATED]))):
        heights = [int(s.summary[key]) for s in stories]
        bars = ax.bar(x + (i - 0.5) * width, heights, width, label=label, color=color)
        ax.bar_label(bars, labels=[str(h) for h in heights], padding=2)
    ax.set_xticks(x, [f"{n} settings" for n in names])
    ax.set_ylabel("payments")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.margins(y=0.2)
    first = stories[0].summary
    ax.set_title(f"{first['payments']} payments through the checkout, {first['charges']} through "
                 f"charging:\n{first['broker_faults']} broker failure, "
                 f"{first['worker_crashes']} charging-worker crashes", fontsize="medium")
    ax.legend(fontsize="small")
    return fig


def benchmark_bars(frame: pd.DataFrame, by: str = "label", title: str | None = None,
                    throughput: bool = True, latency: bool = True, visible: bool = False) -> Figure:
    """Throughput (messages/s) and p50/p99 delivery latency (ms) per setting, from the runs of
    ``experiments.run_benchmarks``: each bar is the **median** over a setting's runs,
    its whisker the **min–max** over those runs (said in the legend). A setting labelled
    '… (control)' is the same setting run again: its gap to its twin is the noise.

    throughput=False draws the latency panel only (runs at a fixed rate, whose throughput is just
    the rate); latency=False the throughput panel only (as fast as possible, where latency mostly
    measures the producer's own queue). visible=True draws transactional runs' visible latency
    (produce() → the transaction committed) instead of the delivery latency."""
    if visible:
        frame = frame.assign(p50_ms=frame["visible_p50_ms"], p99_ms=frame["visible_p99_ms"])
    groups = frame.groupby(by, sort=False)
    med = groups[["msgs_per_s", "p50_ms", "p99_ms"]].median()
    low = groups[["msgs_per_s", "p50_ms", "p99_ms"]].min()
    high = groups[["msgs_per_s", "p50_ms", "p99_ms"]].max()
    runs = groups.size()
    panels = [p for p, on in (("throughput", throughput), ("latency", latency)) if on]
    fig = Figure(figsize=(5.5 * len(panels) + 1, 1.6 + 0.5 * len(med)), layout="constrained")
    axes = fig.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    y = np.arange(len(med))

    def whisker(col: str) -> np.ndarray:
        return np.vstack([med[col] - low[col], high[col] - med[col]])

    def label(ax: Axes, ys: np.ndarray, col: str, fmt: str) -> None:
        # the median's value, written past the whisker's end so the two never overlap
        for yy, m, hi in zip(ys, med[col], high[col]):
            ax.text(hi, yy, " " + format(m, fmt), va="center", fontsize="small")
    n = f"{runs.min()}" if runs.min() == runs.max() else f"{runs.min()}–{runs.max()}"
    for ax, panel in zip(axes, panels):
        if panel == "throughput":
            ax.barh(y, med["msgs_per_s"], xerr=whisker("msgs_per_s"), color="#1f77b4",
                    capsize=3, label=f"throughput: median of {n} runs, whisker min–max")
            label(ax, y, "msgs_per_s", ",.0f")
            ax.set_xlabel("throughput (messages/s, higher is better)")
        else:
            h = 0.38
            ax.barh(y - h / 2, med["p50_ms"], h, xerr=whisker("p50_ms"), capsize=2,
                    label=f"p50: median of {n} runs, whisker min–max", color="#2ca02c")
            ax.barh(y + h / 2, med["p99_ms"], h, xerr=whisker("p99_ms"), capsize=2,
                    label="p99: the same", color="#d62728")
            label(ax, y - h / 2, "p50_ms", ".1f")
            label(ax, y + h / 2, "p99_ms", ".1f")
            ax.set_xlabel("visible latency, produce() → its commit (ms, lower is better)"
                          if visible else
                          "delivery latency, produce() → delivery report (ms, lower is better)")
        ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.14 - 0.1 / len(med)),
                  frameon=False)
        ax.margins(x=0.3)
    axes[0].set_yticks(y, [str(i) for i in med.index])
    axes[0].invert_yaxis()
    if title:
        fig.suptitle(title)
    return fig


# --- the retry pipeline (notebook 09) --------------------------------------------------------------
# A retry result is duck-typed here (messages, places, label): plots never imports the module
# that runs pipelines, so drawing stays free of Kafka.
retry_kind_colors: dict[str, str] = {"ok": "#2ca02c", "transient": "#ff7f0e", "poison": "#8b0000"}


def place_bars(result: Any, ax: Axes | None = None) -> Figure:
    """Bars: how many messages ended in each place (in the result's pipeline order), stacked by
    kind of message (ok / transient / poison)."""
    fig, ax = _axes(ax, (8, 3.8))
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
    return _root_figure(ax)


def latency_points(results: Sequence[Any], ax: Axes | None = None, title: str | None = None) -> Figure:
    """Per message: time from the pipeline's first read to the message's final topic (processed
    or DLT), by input index, one colour per run. Worker start-up is not part of it."""
    fig, ax = _axes(ax, (8, 3.6))
    for r in results:
        m = r.messages.dropna(subset=["latency_s"])
        ax.scatter(m["index"], m["latency_s"], s=8, label=r.label)
    ax.set_xlabel("input message index")
    ax.set_ylabel("pipeline's first read → processed / DLT (s)")
    ax.set_title(title or "latency per message")
    ax.legend(fontsize="small")
    return _root_figure(ax)


__all__ += ["retry_kind_colors", "place_bars", "latency_points"]


def group_timeline(result: Result, ax: Axes | None = None, title: str | None = None) -> Figure:
    """Who held which partition when (a bar per holding, one colour per member), the crashes
    (red ×), the moments partitions were taken away (grey lines: a rebalance) and every
    duplicate processing (orange dots) of a group run (membership='group')."""
    held = result.extra.get("holdings")
    fig, ax = _axes(ax, (8.0, 3.5))
    if held is None or not len(held):
        _nothing_to_draw(ax, "no group assignments in this run")
        return fig
    members = sorted(held["member"].unique())
    palette = ("#1f77b4", "#9467bd", "#17becf", "#8c564b", "#e377c2", "#bcbd22")  # no red/orange:
    colors = {m: palette[i % len(palette)] for i, m in enumerate(members)}  # those mark crashes, duplicates
    for row in held.itertuples():
        ax.barh(row.partition, row.end - row.start, left=row.start, height=0.6,
                color=colors[row.member], alpha=0.55, edgecolor="none")
    ev = result.events
    for t in ev.loc[ev["kind"].isin([REVOKED, PARTITIONS_LOST]), "t"].drop_duplicates():
        ax.axvline(t, color="grey", linewidth=0.6, alpha=0.5)
    for row in held[held["how"] == CRASH].itertuples():
        ax.plot(row.end, row.partition, "x", color="red", markersize=9)
    tl = result.timeline
    if len(tl) and "copy" in tl and "partition" in tl:
        dup = tl[tl["copy"] > 1]
        ax.plot(dup["t"], dup["partition"], ".", color=outcome_colors[DUPLICATED], markersize=5,
                label=f"duplicate processing ({len(dup)})")
    from matplotlib.patches import Patch
    handles = [Patch(color=colors[m], alpha=0.55, label=f"member {m}") for m in members]
    ax.plot([], [], "x", color="red", label="member crash")
    handles += ax.get_legend_handles_labels()[0]
    ax.set_yticks(sorted(held["partition"].unique()))
    ax.set_ylabel("partition")
    ax.set_xlabel("seconds since the run started")
    ax.set_title(title or result.label)
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    return _root_figure(ax)


def share_deliveries(result: Result, ax: Axes | None = None, title: str | None = None) -> Figure:
    """Every delivery of a share-group run (result.extra["deliveries"]): when (x) which input
    message (y) was handed out, coloured by the broker's delivery count (1 blue, 2 orange, 3+
    red), archived messages circled at their last delivery, crashes as red dashed lines."""
    d = result.extra.get("deliveries")
    fig, ax = _axes(ax, (8.0, 3.5))
    if d is None or not len(d):
        _nothing_to_draw(ax, "no deliveries in this run")
        return fig
    styles = ((1, 1, _FIRST_COLOR, 6, "delivery 1"), (2, 2, outcome_colors[DUPLICATED], 18, "delivery 2"),
              (3, 10**9, outcome_colors[LOST], 24, "delivery 3+"))
    for low, high, color, size, label in styles:
        part = d[(d["delivery_count"] >= low) & (d["delivery_count"] <= high)]
        if len(part):
            ax.scatter(part["t"], part["index"], s=size, color=color, label=f"{label} ({len(part)})",
                       zorder=2 + low)
    for outcome in (ARCHIVED, DEAD_LETTERED):
        given_up = result.messages.loc[result.messages["outcome"] == outcome, "index"]
        last = d[d["index"].isin(given_up)].sort_values("t").groupby("index").tail(1)
        if len(last):
            ax.scatter(last["t"], last["index"], s=110, facecolors="none",
                       edgecolors=outcome_colors[outcome], linewidths=1.5,
                       label=f"{outcome} ({len(last)})", zorder=6)
    _draw_events(ax, result.events)
    ax.set_xlabel("seconds since the run started")
    ax.set_ylabel("input message")
    ax.set_title(title or result.label)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    return _root_figure(ax)


def check_timeline(result: Result, ax: Axes | None = None, title: str | None = None) -> Figure:
    """A checked run (deliverylab check): the timeline, with each crash line labelled where it
    struck in the code under check (after-commit, after-process, …; the crash event's point)."""
    import json

    fig = timeline(result, ax=ax, title=title)
    ax = ax if ax is not None else fig.axes[0]
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

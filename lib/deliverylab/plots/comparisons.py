"""Several runs side by side: grouped bars of their counts, a matrix of one metric, the story's
two settings, and benchmark runs as medians with their min–max."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ..vocabulary import ACKED_BUT_LOST, DUPLICATED, LOST
from .base import (ERROR_PALETTE, SPLIT_PERCENTILES_AT, axes_for, latency_colors, nothing_to_draw,
                   number_text, outcome_colors)

def _metric_color(metric: str, position: int) -> str:
    """'lost', 'lost_rate' and 'acked_but_lost' map to their outcome's colour."""
    name = metric.removesuffix("_rate").replace("_", "-")
    fallback = ERROR_PALETTE[position % len(ERROR_PALETTE)]
    return outcome_colors.get(name, fallback)


def compare(frame: pd.DataFrame, by: str, metrics: Sequence[str] = ("lost", "duplicated"),
            ax: Axes | None = None, title: str | None = None,
            ylabel: str = "messages") -> Figure:
    """Grouped bars of run summaries; repeated runs show their mean and min–max spread.

    Groups keep the order of first appearance in ``frame`` (the course's order of models or
    settings), not alphabetical order. Error bars appear only when some group has several runs,
    because timing makes repeated runs differ and the spread is part of the lesson.
    """
    fig, ax = axes_for(ax)
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
        ax.bar_label(bars, labels=[number_text(m) for m in mean], padding=2, fontsize="small")
    ax.set_xticks(x, groups)
    ax.set_xlabel(by)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.margins(y=0.15)
    if metrics:
        # outside the axes: inside, it covered the tallest bars and their labels
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  title="bar: mean, whisker: min–max over runs" if repeated else None,
                  title_fontsize="x-small")
    return fig


def _cmap_for(value: str) -> LinearSegmentedColormap | str:
    """White to the outcome's own colour (plots/base.py) when the metric is an outcome — orange
    for duplicates, red for losses, as in every other figure; other metrics keep Reds."""
    color = outcome_colors.get(value.replace("_", "-"))
    return LinearSegmentedColormap.from_list(value, ["#ffffff", color]) if color else "Reds"


def heatmap(frame: pd.DataFrame, index: str, columns: str, value: str,
            ax: Axes | None = None) -> Figure:
    """A matrix of one metric (e.g. lost per delivery model × crash point), mean over runs.

    Rows and columns keep their order of first appearance; an empty cell is a combination
    that was not run, shown blank rather than as 0, because 'not measured' is not 'none lost'.
    """
    fig, ax = axes_for(ax, figsize=(1.2 + 1.1 * max(frame[columns].nunique(), 1),
                                 1.0 + 0.6 * max(frame[index].nunique(), 1)))
    table = frame.pivot_table(index=index, columns=columns, values=value, aggfunc="mean",
                              sort=False, dropna=False)
    data = table.to_numpy(dtype=float)
    ax.set_title(value)
    if data.size == 0:
        nothing_to_draw(ax, "no runs")
        return fig
    finite = data[np.isfinite(data)]
    # Anchor the scale at 0 so that a pale cell always means "few", whatever the largest value.
    low = min(0.0, float(finite.min())) if finite.size else 0.0
    high = float(finite.max()) if finite.size else 1.0
    high = high if high > low else low + 1.0  # an all-zero matrix still needs a valid scale
    image = ax.imshow(np.ma.masked_invalid(data), cmap=_cmap_for(value), aspect="auto",
                      vmin=low, vmax=high)
    ax.set_xticks(range(len(table.columns)), [str(c) for c in table.columns])
    ax.set_yticks(range(len(table.index)), [str(r) for r in table.index])
    for label in ax.get_xticklabels():  # anchored so a long crash-point name ends under its column
        label.set(rotation=30, horizontalalignment="right", rotation_mode="anchor")
    ax.set_xlabel(columns)
    ax.set_ylabel(index)
    threshold = low + 0.6 * (high - low)  # white text only where the cell is dark enough
    for (row, col), cell in np.ndenumerate(data):
        if np.isfinite(cell):
            ax.text(col, row, number_text(cell), ha="center", va="center",
                    color="white" if cell > threshold else "black")
    fig.colorbar(image, ax=ax, label=value)
    return fig


def story_scale(payments: int) -> float:
    """The y-axis top of every story figure of `payments` payments: notebook 00's opening run and
    notebook 12's closing run have the same sizes, so their figures share one scale and read side
    by side (a bar above it still fits: story_bars raises the top for it)."""
    return payments / 2


def story_bars(stories: Any, ax: Axes | None = None) -> Figure:
    """Lost payments and double charges of one or more story runs (experiments.story), side by
    side per settings, with the faults that struck in the title. The lost bar is stacked by cause
    in the course's outcome colours (acknowledged-then-lost dark red as in 07, other losses red);
    double charges are orange. A 0 bar is drawn and labelled: for the recommended settings, 0 is
    the lesson. The y axis runs from 0 to story_scale(payments), the same in 00 and 12."""
    stories = stories if isinstance(stories, (list, tuple)) else [stories]
    fig, ax = axes_for(ax, figsize=(6.5, 3.8))
    names = [s.summary["settings"] for s in stories]
    x = np.arange(len(stories))
    width = 0.38
    acked = [int(s.summary["producer_acked_but_lost"]) for s in stories]
    lost = [int(s.summary["lost_payments"]) for s in stories]
    other = [t - a for t, a in zip(lost, acked)]
    doubled = [int(s.summary["double_charges"]) for s in stories]
    ax.bar(x - 0.5 * width, acked, width, color=outcome_colors[ACKED_BUT_LOST],
           label="lost: acknowledged, then gone (checkout)")
    bars = ax.bar(x - 0.5 * width, other, width, bottom=acked, color=outcome_colors[LOST],
                  label="lost: never charged / never written")
    ax.bar_label(bars, labels=[str(h) for h in lost], padding=2)
    bars = ax.bar(x + 0.5 * width, doubled, width, color=outcome_colors[DUPLICATED],
                  label="double charges")
    ax.bar_label(bars, labels=[str(h) for h in doubled], padding=2)
    ax.set_xticks(x, [f"{n} settings" for n in names])
    ax.set_ylabel("payments")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    first = stories[0].summary
    top = max(story_scale(int(first["payments"])), 1.2 * max(lost + doubled))
    ax.set_ylim(0, top)
    ax.set_title(f"{first['payments']} payments through the checkout, {first['charges']} stored "
                 f"and handed to charging:\n{first['broker_faults']} broker failure, "
                 f"{first['worker_crashes']} charging-worker crashes (y: 0–{top:g}, as in 00 and 12)",
                 fontsize="medium")
    ax.legend(fontsize="small", loc="upper right")
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
    # p50 and p99 in separate panels when their scales differ by SPLIT_PERCENTILES_AT or more.
    split = latency and float(med["p99_ms"].max()) >= SPLIT_PERCENTILES_AT * max(float(med["p50_ms"].max()), 1e-9)
    panels = (["throughput"] if throughput else []) + (
        (["p50", "p99"] if split else ["latency"]) if latency else [])
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
    what = ("visible latency, produce() → its commit" if visible else
            "delivery latency, produce() → delivery report")
    for ax, panel in zip(axes, panels):
        if panel == "throughput":
            ax.barh(y, med["msgs_per_s"], xerr=whisker("msgs_per_s"), color="#1f77b4",
                    capsize=3, label=f"throughput: median of {n} runs, whisker min–max")
            label(ax, y, "msgs_per_s", ",.0f")
            ax.set_xlabel("throughput (messages/s, higher is better)")
        elif panel in ("p50", "p99"):  # one percentile, on its own scale
            col = f"{panel}_ms"
            ax.barh(y, med[col], 0.6, xerr=whisker(col), capsize=2, color=latency_colors[panel],
                    label=f"{panel}: median of {n} runs, whisker min–max")
            label(ax, y, col, ".1f")
            ax.set_xlabel(f"{panel} {what} (ms, lower is better)")
        else:
            h = 0.38
            ax.barh(y - h / 2, med["p50_ms"], h, xerr=whisker("p50_ms"), capsize=2,
                    label=f"p50: median of {n} runs, whisker min–max", color=latency_colors["p50"])
            ax.barh(y + h / 2, med["p99_ms"], h, xerr=whisker("p99_ms"), capsize=2,
                    label="p99: the same", color=latency_colors["p99"])
            label(ax, y - h / 2, "p50_ms", ".1f")
            label(ax, y + h / 2, "p99_ms", ".1f")
            ax.set_xlabel(f"{what} (ms, lower is better)")
        ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.14 - 0.1 / len(med)),
                  frameon=False)
        ax.margins(x=0.3)
    axes[0].set_yticks(y, [str(i) for i in med.index])
    axes[0].invert_yaxis()
    if title:
        fig.suptitle(title)
    return fig

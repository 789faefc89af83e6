"""Matplotlib figures of results: pure functions, no Kafka, no pyplot state.

    base         one colour per outcome and event kind; the axes a figure draws into
    runs         one run: outcome_bars, timeline
    comparisons  several runs: compare, heatmap, story_bars, benchmark_bars
    groups       group runs: group_timeline, stall_comparison, share_deliveries
    retry        the retry pipeline: place_bars, latency_points
    check        a checked run (deliverylab check): check_timeline
    transactions  a hanging transaction's run: hanging_timeline (what each reader read, when),
                  unseen_over_time (committed records a reader could not see yet)

Every function returns a ``matplotlib.figure.Figure`` and accepts an ``ax`` to draw into, so a
notebook can place several plots side by side. Figures are made with ``Figure()`` rather than
``pyplot.figure()`` so that drawing many runs in a loop never piles up open pyplot figures.
Import the figures from here (``plots.timeline``).
"""
from __future__ import annotations

from .base import event_styles, outcome_colors
from .check import check_timeline
from .comparisons import benchmark_bars, compare, heatmap, story_bars
from .groups import group_timeline, share_deliveries, stall_comparison
from .retry import latency_points, place_bars, retry_kind_colors
from .runs import outcome_bars, timeline
from .transactions import hanging_timeline, unseen_over_time

__all__ = ["outcome_colors", "event_styles", "outcome_bars", "timeline", "compare", "heatmap",
           "story_bars", "benchmark_bars", "group_timeline", "stall_comparison", "share_deliveries",
           "retry_kind_colors", "place_bars", "latency_points", "check_timeline", "hanging_timeline",
           "unseen_over_time"]

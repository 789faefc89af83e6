"""ipywidgets panels: pick a delivery model or producer settings, press Run, see what happened.

    panel        what every panel shares: fields, Run, progress, the output area
    runs         consumer_panel, producer_panel; fault_runs_here (a notebook skips what cannot run)
    groups       group_panel (a consumer group's rebalances), share_panel (KIP-932)
    retry        retry_panel (retry topics against blocking retries)
    transactions  hanging_panel (a transaction that never ends, and how long readers wait)
    code         show_worker: the delivery model's real worker loop, shown

A panel only builds a spec from its widgets, calls the experiment's run function with a progress
callback, and shows the figures of ``plots`` and a few summary columns. Every run's Result is
kept in ``panel.results`` so a later notebook cell can look at it. Import the panels from here.
"""
from __future__ import annotations

from .code import show_worker
from .groups import GROUP_SCENARIOS, GroupPanel, SharePanel, group_panel, share_panel
from .panel import NO_CRASH, Panel, result_figure
from .retry import RetryPanel, retry_panel
from .runs import ConsumerPanel, ProducerPanel, consumer_panel, fault_runs_here, producer_panel
from .transactions import HangingPanel, hanging_panel

__all__ = ["ConsumerPanel", "ProducerPanel", "HangingPanel", "hanging_panel", "GroupPanel", "SharePanel", "RetryPanel", "Panel",
           "GROUP_SCENARIOS", "NO_CRASH", "consumer_panel", "producer_panel", "group_panel",
           "share_panel", "retry_panel", "result_figure", "show_worker", "fault_runs_here"]

"""The hanging-transaction panel: choose transaction.timeout.ms, see how long each reader waits."""
from __future__ import annotations

from typing import Any, Sequence

import ipywidgets as w
from matplotlib.figure import Figure

from .. import plots
from ..cluster import Cluster
from ..experiments import HangingTransaction, run_hanging
from .panel import LAYOUT, Panel, check_show, slider

HANGING_FIELDS = ("transaction_timeout_ms", "records")
HANGING_COLUMNS = ("transaction_timeout_ms", "abort_check_interval_ms", "read_committed_stall_s",
                   "read_uncommitted_stall_s", "stall_ended_after_open_s", "bound_s",
                   "within_bound", "aborted_reads", "read_committed_saw_hanging", "lost")


class HangingPanel(Panel):
    """A hanging-transaction panel; see `hanging_panel`."""

    columns = HANGING_COLUMNS

    def __init__(self, transaction_timeout_ms: int, records: int, show: Sequence[str],
                 cluster: Cluster | None, **spec_kwargs: Any) -> None:
        check_show(show, HANGING_FIELDS)
        self.values = {"transaction_timeout_ms": transaction_timeout_ms, "records": records}
        self.spec_kwargs = spec_kwargs
        fields: dict[str, w.Widget] = {}
        if "transaction_timeout_ms" in show:
            fields["transaction_timeout_ms"] = w.IntSlider(
                value=min(max(int(transaction_timeout_ms), 1000), 60_000), min=1000, max=60_000,
                step=1000, description="transaction.timeout.ms (TransactionTimeoutMs)",
                style=LAYOUT, continuous_update=False)
        if "records" in show:
            fields["records"] = slider("records", records, 1, 100)
        super().__init__(fields, run_hanging, cluster)
        self._check_start()

    def spec(self, raw: bool = False) -> HangingTransaction:
        def value(name: str) -> Any:
            return self.values[name] if raw or name not in self.fields else self.fields[name].value
        timeout = value("transaction_timeout_ms")
        # the run must outlast the timeout and the brokers' check (10 s at Kafka's default)
        limit = self.spec_kwargs.get("time_limit_s", max(60.0, timeout / 1000 + 30))
        return HangingTransaction(**{**self.spec_kwargs, "transaction_timeout_ms": timeout,
                                     "records": value("records"), "time_limit_s": limit})

    def _figure(self, result: Any) -> Figure:
        return plots.hanging_timeline(result)


def hanging_panel(transaction_timeout_ms: int = 5000, records: int = 5,
                  show: Sequence[str] = ("transaction_timeout_ms",),
                  cluster: Cluster | None = None, **spec_kwargs: Any) -> HangingPanel:
    """A panel that runs a HangingTransaction: a producer paused mid-transaction, a commit after
    it, and how long a read_committed and a read_uncommitted reader wait. Every run's Result is
    appended to `panel.results`."""
    return HangingPanel(transaction_timeout_ms, records, show, cluster, **spec_kwargs)


__all__ = ["HangingPanel", "hanging_panel"]

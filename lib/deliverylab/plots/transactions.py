"""A hanging transaction's run (experiments/hanging.py): what each reader read, and when."""
from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..results import Result
from ..vocabulary import TXN_COMMITTED, TXN_OPEN
from .base import FIRST_COLOR, axes_for, nothing_to_draw

READERS = ("read_uncommitted", "read_committed")  # bottom to top
ABORTED_COLOR = "#d62728"


def hanging_timeline(result: Result, ax: Axes | None = None, title: str | None = None) -> Figure:
    """One row per reader, a point per record it read (red: the hanging transaction's, later
    aborted; blue: the records committed after it), with the moments that bound the stall: the
    transaction opened, the commit after it, transaction.timeout.ms, and the bound (the timeout,
    the brokers' abort check interval and a margin)."""
    fig, ax = axes_for(ax, (9.0, 2.8))
    reads, events, s = result.timeline, result.events, result.summary
    if not len(reads):
        nothing_to_draw(ax, "no reader read anything")
        return fig
    hanging = reads["msg_id"].str.startswith("hanging-")
    # the two kinds of record a little apart in each row: a reader often gets both in one fetch
    for label, mask, color, dy in (("the hanging transaction's records (aborted)", hanging, ABORTED_COLOR, -0.12),
                                   ("records committed after it", ~hanging, FIRST_COLOR, 0.12)):
        got = reads[mask]
        ax.scatter(got["t"], [READERS.index(r) + dy for r in got["reader"]], color=color, s=18,
                   label=label, zorder=3)
    opened = events.loc[events["kind"] == TXN_OPEN, "t"]
    committed = events.loc[events["kind"] == TXN_COMMITTED, "t"]
    if len(opened):
        t_open = float(opened.iloc[0])
        ax.axvline(t_open, color="grey", linestyle=":", label="transaction opened, producer paused")
        ax.axvline(t_open + s["transaction_timeout_ms"] / 1000, color="black", linestyle="--",
                   label=f"+ transaction.timeout.ms ({s['transaction_timeout_ms']} ms)")
        ax.axvline(t_open + s["bound_s"], color="black", linestyle="-", linewidth=0.8,
                   label="+ abort check interval + margin (the bound)")
    if len(committed):
        ax.axvline(float(committed.iloc[0]), color=FIRST_COLOR, linestyle=":",
                   label="second producer committed")
    ax.set_yticks(range(len(READERS)))
    ax.set_yticklabels(READERS)
    ax.set_ylim(-0.6, len(READERS) - 0.4)
    ax.set_xlabel("seconds since the run started")
    ax.legend(fontsize="x-small", loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_title(title or f"{result.label}: read_committed waited "
                 f"{s.get('read_committed_stall_s')} s, read_uncommitted "
                 f"{s.get('read_uncommitted_stall_s')} s", fontsize="small")
    return fig


__all__ = ["hanging_timeline"]

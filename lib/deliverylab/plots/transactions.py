"""A hanging transaction's run (experiments/hanging.py): what each reader read, and when."""
from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..results import Result
from ..stall_counts import unseen_over_time as stall_unseen
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
    # A reader gets a group of records in one fetch, all at one moment: one dot per group,
    # labelled with its size, or 5 records would look like one.
    span = max(float(reads["t"].max() - reads["t"].min()), 1.0)
    for label, mask, color, dy in (("the hanging transaction's records (aborted)", hanging, ABORTED_COLOR, -0.12),
                                   ("records committed after it", ~hanging, FIRST_COLOR, 0.12)):
        groups = [(reader, g) for reader, rows in reads[mask].groupby("reader")
                  for g in fetch_groups(rows["t"], span / 200)]
        ax.scatter([sum(g) / len(g) for _, g in groups],
                   [READERS.index(r) + dy for r, _ in groups], color=color, s=18, label=label, zorder=3)
        for reader, g in groups:
            if len(g) > 1:
                ax.annotate(f"×{len(g)}", (sum(g) / len(g), READERS.index(reader) + dy),
                            xytext=(4, 2 if dy > 0 else -8), textcoords="offset points",
                            fontsize="x-small", color=color)
    opened = events.loc[events["kind"] == TXN_OPEN, "t"]
    committed = events.loc[events["kind"] == TXN_COMMITTED, "t"]
    if len(opened):
        t_open = float(opened.iloc[0])
        # the hanging transaction's colour, dotted; the commit 0.1 s later is solid blue: the
        # two lines nearly coincide and must not look alike
        ax.axvline(t_open, color=ABORTED_COLOR, linestyle=":", label="transaction opened, producer paused")
        ax.axvline(t_open + s["transaction_timeout_ms"] / 1000, color="black", linestyle="--",
                   label=f"+ transaction.timeout.ms ({s['transaction_timeout_ms']} ms)")
        ax.axvline(t_open + s["bound_s"], color="black", linestyle="-", linewidth=0.8,
                   label="+ abort check interval + margin (the bound)")
    if len(committed):
        ax.axvline(float(committed.iloc[0]), color=FIRST_COLOR, linestyle="-", linewidth=1.2,
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


def unseen_over_time(result: Result, ax: Axes | None = None, title: str | None = None) -> Figure:
    """Jepsen's `unseen`, over time: how many records the second producer had committed that
    each reader could not read yet (a step per fetch), with the hanging transaction's open, the
    commit, and transaction.timeout.ms (when the coordinator may abort it) marked."""
    fig, ax = axes_for(ax, (9.0, 2.8))
    unseen, events, s = stall_unseen(result.events), result.events, result.summary
    if not len(unseen):
        nothing_to_draw(ax, "no commit after the hanging transaction")
        return fig
    end = float(result.timeline["t"].max()) if len(result.timeline) else float(unseen["t"].max())
    # the grey line wide and below, the blue one thin on top: where both are at 0 both show
    for reader, color, width in (("read_uncommitted", "#7f7f7f", 4.0), ("read_committed", FIRST_COLOR, 1.5)):
        steps = unseen[unseen["reader"] == reader]
        ax.step(list(steps["t"]) + [end], list(steps["unseen"]) + [int(steps["unseen"].iloc[-1])],
                where="post", color=color, linewidth=width, label=f"{reader} reader")
    ax.yaxis.get_major_locator().set_params(integer=True)  # a count of records
    t_open = float(events.loc[events["kind"] == TXN_OPEN, "t"].iloc[0])
    ax.axvline(t_open, color=ABORTED_COLOR, linestyle=":", label="transaction opened, producer paused")
    ax.axvline(t_open + s["transaction_timeout_ms"] / 1000, color="black", linestyle="--",
               label=f"+ transaction.timeout.ms ({s['transaction_timeout_ms']} ms)")
    ax.set_ylim(-0.3, int(unseen["unseen"].max()) + 0.6)
    ax.set_xlabel("seconds since the run started")
    ax.set_ylabel("committed, not yet read")
    ax.legend(fontsize="x-small", loc="center left", bbox_to_anchor=(1.01, 0.5))
    ax.set_title(title or f"{result.label}: committed records a reader could not see yet (unseen)",
                 fontsize="small")
    return fig


def fetch_groups(times, gap: float) -> list[list[float]]:
    """The moments of one reader's reads, split where two are more than `gap` seconds apart."""
    groups: list[list[float]] = []
    for t in sorted(float(t) for t in times):
        if groups and t - groups[-1][-1] <= gap:
            groups[-1].append(t)
        else:
            groups.append([t])
    return groups


__all__ = ["hanging_timeline", "unseen_over_time"]

"""Group runs in figures: who held which partition when (a consumer group), the stall a crash
cost each kind of group, and every delivery of a share group's records with its delivery count."""
from __future__ import annotations

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..results import Result
from ..vocabulary import ARCHIVED, CRASH, DEAD_LETTERED, DUPLICATED, LOST, PARTITIONS_LOST, REVOKED
from .base import FIRST_COLOR, axes_for, draw_events, nothing_to_draw, outcome_colors, root_figure

def group_timeline(result: Result, ax: Axes | None = None, title: str | None = None) -> Figure:
    """Who held which partition when (a bar per holding, one colour per member), the crashes
    (red ×), the moments partitions were taken away (grey lines: a rebalance) and every
    duplicate processing (orange dots) of a group run (membership='group')."""
    held = result.extra.get("holdings")
    fig, ax = axes_for(ax, (8.0, 3.5))
    if held is None or not len(held):
        nothing_to_draw(ax, "no group assignments in this run")
        return fig
    members = sorted(held["member"].unique())
    palette = ("#1f77b4", "#9467bd", "#17becf", "#8c564b", "#e377c2", "#bcbd22")  # no red/orange:
    colors = {m: palette[i % len(palette)] for i, m in enumerate(members)}  # those mark crashes, duplicates
    for row in held.itertuples():
        ax.barh(row.partition, row.end - row.start, left=row.start, height=0.6,
                color=colors[row.member], alpha=0.55, edgecolor="none")
    ev = result.events
    taken = ev.loc[ev["kind"].isin([REVOKED, PARTITIONS_LOST]), "t"].drop_duplicates()
    for t in taken:
        ax.axvline(t, color="grey", linewidth=0.8, alpha=0.7)
    # in the legend even when there is none: 0 is what static membership shows. The count is the
    # summary's rebalances (group_result.summarise: from the group standing to the last record
    # processed), not the lines drawn, which include the group's forming and its members leaving.
    stood = result.summary.get("group_stood_s")
    during = result.summary.get("rebalances", len(taken))
    ax.plot([], [], color="grey", linewidth=0.8, alpha=0.7,
            label=f"partitions taken from a member ({during}× while records were processed)")
    for row in held[held["how"] == CRASH].itertuples():
        ax.plot(row.end, row.partition, "x", color="red", markersize=9)
    if stood is not None:  # the input is written from here on (members.wait_for_group)
        ax.axvline(stood, color="black", linestyle=":", linewidth=1.0,
                   label="group stands: input written")
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
    return root_figure(ax)


def stall_comparison(results: list[Result], ax: Axes | None = None,
                     title: str | None = None) -> Figure:
    """The stall each group run's crash cost, side by side: per run (a row of bars) the longest
    time each partition had no live owner while the group had records to process
    (result.extra["idle"]), with the crashed member's partitions drawn dark and the others light."""
    import numpy as np

    from ..group_result import IDLE_S

    fig, ax = axes_for(ax, (8.0, 0.9 + 0.75 * len(results)))
    runs = [r for r in results if r.extra.get("idle") is not None and len(r.extra["idle"])]
    if not runs:
        nothing_to_draw(ax, "no group runs with idle partitions")
        return fig
    parts = max(len(r.extra["idle"]) for r in runs)
    height = 0.8 / parts
    for i, r in enumerate(runs):
        idle = r.extra["idle"]
        crashed = set().union(*[set(p) for p in r.extra["resumes"]["partitions"]]) \
            if len(r.extra.get("resumes", [])) else set()
        for row in idle.itertuples():
            y = i - 0.4 + height * (row.partition + 0.5)
            ax.barh(y, row.idle_s, height=height * 0.9,
                    color=FIRST_COLOR if row.partition in crashed else "#9ecae1")
            ax.text(row.idle_s, y, f" p{row.partition} {row.idle_s:.1f} s", va="center",
                    fontsize="x-small")
    ax.set_yticks(np.arange(len(runs)))
    ax.set_yticklabels([f"{r.label}\n{r.summary.get('idle_partitions')} of {parts} idle ≥ {IDLE_S:g} s"
                        for r in runs], fontsize="small")
    ax.invert_yaxis()
    ax.set_xlabel("longest time a partition had no live owner, while the group had records to process (s)")
    from matplotlib.patches import Patch
    ax.legend(handles=[Patch(color=FIRST_COLOR, label="the crashed member's partitions"),
                       Patch(color="#9ecae1", label="the other members' partitions")],
              loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    ax.set_title(title or "The same crash, four kinds of group: how long partitions sat idle")
    return root_figure(ax)


def share_deliveries(result: Result, ax: Axes | None = None, title: str | None = None) -> Figure:
    """Every delivery of a share-group run (result.extra["deliveries"]): when (x) which input
    message (y) was handed out, coloured by the broker's delivery count (1 blue, 2 orange, 3+
    red), archived messages circled at their last delivery, crashes as red dashed lines."""
    d = result.extra.get("deliveries")
    fig, ax = axes_for(ax, (8.0, 3.5))
    if d is None or not len(d):
        nothing_to_draw(ax, "no deliveries in this run")
        return fig
    styles = ((1, 1, FIRST_COLOR, 6, "delivery 1"), (2, 2, outcome_colors[DUPLICATED], 18, "delivery 2"),
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
    draw_events(ax, result.events)
    ax.set_xlabel("seconds since the run started")
    ax.set_ylabel("input message")
    ax.set_title(title or result.label)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize="small")
    return root_figure(ax)

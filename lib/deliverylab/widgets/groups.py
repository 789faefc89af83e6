"""The group panels: a consumer group under a rebalance (notebook 04), and a share group's members
on one partition (notebook 10)."""
from __future__ import annotations

from typing import Any

import ipywidgets as w
from matplotlib.figure import Figure

from .. import plots
from ..cluster import Cluster
from ..crash import CrashSpec
from ..experiments import ConsumerExperiment, ShareExperiment, run_consumer, run_share
from ..experiments.share import ACK_MODES
from ..ids import GROUP_KEYS
from ..vocabulary import AT_LEAST_ONCE, AT_MOST_ONCE, CRASH_POINTS, SHARE
from .panel import LAYOUT, NO_CRASH, Panel, slider

GROUP_SCENARIOS = ("a member leaves mid-run", "a member joins mid-run", "a member crashes",
                   "too slow for max.poll.interval.ms")
GROUP_COLUMNS = ("label", "sent", "delivered_once", "lost", "duplicated", "crashes", "rebalances",
                 "commit_failures", "commit_errors", "resume_s_max", "anomalies", "elapsed_s")


class GroupPanel(Panel):
    """A consumer-group scenario panel; see `group_panel`."""

    columns = GROUP_COLUMNS

    def __init__(self, messages: int, cluster: Cluster | None, **spec_kwargs: Any) -> None:
        self.messages = messages
        self.spec_kwargs = spec_kwargs
        fields: dict[str, w.Widget] = {
            "scenario": w.Dropdown(options=GROUP_SCENARIOS, value=GROUP_SCENARIOS[0],
                                   description="scenario", style=LAYOUT),
            "model": w.Dropdown(options=(AT_LEAST_ONCE, AT_MOST_ONCE), value=AT_LEAST_ONCE,
                                description="delivery model", style=LAYOUT),
            "protocol": w.Dropdown(options=("classic / range", "classic / cooperative-sticky",
                                            "consumer (KIP-848)"), value="classic / range",
                                   description="group protocol", style=LAYOUT),
            "static": w.Checkbox(value=False, description="static membership (group.instance.id)",
                                 style=LAYOUT),
            "commit_on_revoke": w.Checkbox(value=False, description="commit on revoke",
                                           style=LAYOUT),
        }
        super().__init__(fields, run_consumer, cluster)
        self._check_start()

    def spec(self, raw: bool = False) -> ConsumerExperiment:
        f, n = self.fields, self.messages
        protocol = f["protocol"].value
        group: dict[str, Any] = {"membership": "group", "members": 3, "partitions": 6,
                                 "keys": GROUP_KEYS,  # every partition gets records
                                 "static": f["static"].value,
                                 "commit_on_revoke": f["commit_on_revoke"].value}
        if protocol.startswith("consumer"):
            group["group_protocol"] = "consumer"
        else:
            group.update(assignor=protocol.split(" / ")[1], session_timeout_ms=6000)
        scenario = f["scenario"].value
        if scenario == "a member leaves mid-run":
            group.update(leaving_member=2, leave_after=n // 3, model=AT_LEAST_ONCE)
        elif scenario == "a member joins mid-run":
            group.update(joining_member=2, join_after=n // 3)
        elif scenario == "a member crashes":
            group.update(crash=CrashSpec("after-process", at=(n // 2,)))
        else:  # classic needs max.poll.interval.ms ≥ session.timeout.ms (6 s here); at-least-once
            # commits by time too, so the slow member's late commit is sent (and refused)
            group.update(max_poll_interval_ms=6000, stall_at=n // 2, stall_ms=9000)
            if f["model"].value == AT_LEAST_ONCE:  # the other models have no commit timer
                group.update(commit_interval_ms=1000)
        return ConsumerExperiment(**{"model": f["model"].value, "messages": n,
                                     "processing_ms": 10, "label": scenario,
                                     **group, **self.spec_kwargs})

    def _figure(self, result: Any) -> Figure:
        return plots.group_timeline(result)


def group_panel(messages: int = 400, cluster: Cluster | None = None, **spec_kwargs: Any) -> GroupPanel:
    """Three members on six partitions: a scenario, a delivery model, a protocol, static
    membership and commit-on-revoke, Run: shows who held which partition when, the crashes,
    rebalances and duplicates. Every run's Result is appended to `panel.results`."""
    return GroupPanel(messages, cluster, **spec_kwargs)



SHARE_COLUMNS = ("label", "sent", "delivered_once", "duplicated", "archived", "dead_lettered",
                 "lost", "deliveries", "delivery_counts", "crashes", "refused_acks",
                 "redelivery_gap_median_s", "anomalies", "elapsed_s")


class SharePanel(Panel):
    """A share-group panel; see `share_panel`."""

    columns = SHARE_COLUMNS

    def __init__(self, messages: int, members: int, cluster: Cluster | None,
                 **spec_kwargs: Any) -> None:
        self.messages, self.members = messages, members
        self.spec_kwargs = spec_kwargs
        fields: dict[str, w.Widget] = {
            "ack": w.Dropdown(options=ACK_MODES, value="explicit",
                              description="acknowledgement mode", style=LAYOUT),
            "crash": w.Dropdown(options=(NO_CRASH,) + CRASH_POINTS[SHARE], value="after-process",
                                description="crash point", style=LAYOUT),
            "poison": w.Checkbox(value=True, description="a poison message (released each time; explicit only)",
                                 style=LAYOUT),
            "lock_duration_ms": slider("lock duration (ms)", 2000, 1000, 10000, 500),
            "delivery_limit": slider("delivery limit", 3, 2, 10),
            "dead_letter": w.Checkbox(value=False, style=LAYOUT,
                                      description="a dead-letter topic (Kafka 4.4+)"),
        }
        super().__init__(fields, run_share, cluster)
        self._check_start()

    def spec(self, raw: bool = False) -> ShareExperiment:
        f, n = self.fields, self.messages
        crash = f["crash"].value
        return ShareExperiment(**{
            "messages": n, "members": self.members, "ack": f["ack"].value,
            "crash": None if crash == NO_CRASH else CrashSpec(crash, at=(n // 2,)),
            "poison": (3,) if f["poison"].value else (),
            "lock_duration_ms": f["lock_duration_ms"].value,
            "delivery_limit": f["delivery_limit"].value, "dead_letter": f["dead_letter"].value,
            "label": f"share, {f['ack'].value}, {crash}", **self.spec_kwargs})

    def _figure(self, result: Any) -> Figure:
        fig = Figure(figsize=(13.0, 4.0), layout="constrained")
        left, right = fig.subplots(1, 2, width_ratios=[1, 2])
        plots.outcome_bars(result, ax=left)
        plots.share_deliveries(result, ax=right)
        return fig


def share_panel(messages: int = 100, members: int = 2, cluster: Cluster | None = None,
                **spec_kwargs: Any) -> SharePanel:
    """Share consumers on one partition: acknowledgement mode, crash point (at the middle
    message), a poison message, lock duration and delivery limit, Run: shows every delivery
    coloured by its delivery count and the outcomes, archived included. Every run's Result is
    appended to `panel.results`."""
    return SharePanel(messages, members, cluster, **spec_kwargs)


"""The plots on hand-made Results: assert on what is drawn, not only that something is."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.container import BarContainer  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from deliverylab.plots import (compare, heatmap, outcome_bars, outcome_colors,  # noqa: E402
                               timeline)
from deliverylab.results import Result  # noqa: E402
from deliverylab.vocabulary import (CONSUMER_OUTCOMES, DELIVERED_ONCE, DUPLICATED,  # noqa: E402
                                    PRODUCER_OUTCOMES)


def make_result(kind: str = "consumer", outcomes: list[str] | None = None,
                timeline_rows: pd.DataFrame | None = None,
                events: pd.DataFrame | None = None) -> Result:
    outcomes = outcomes or []
    messages = pd.DataFrame({"msg_id": [f"m{i}" for i in range(len(outcomes))],
                             "index": range(len(outcomes)), "outcome": outcomes})
    empty_events = pd.DataFrame(columns=["t", "kind", "worker", "detail"])
    return Result(kind=kind, spec={"label": f"{kind} run"}, messages=messages,
                  timeline=timeline_rows if timeline_rows is not None else pd.DataFrame(
                      columns=["t", "index", "msg_id", "copy", "worker"]),
                  events=events if events is not None else empty_events, summary={})


def bar_heights(ax) -> list[float]:
    return [p.get_height() for p in ax.patches]


def bar_groups(ax) -> list[BarContainer]:
    # error bars add their own container, so pick out the bars
    return [c for c in ax.containers if isinstance(c, BarContainer)]


def texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


# --- outcome_bars -----------------------------------------------------------------------------
def test_consumer_bars_heights_labels_and_zero_bars() -> None:
    result = make_result(outcomes=["delivered-once"] * 5 + ["duplicated"] * 2)
    fig = outcome_bars(result)
    ax = fig.axes[0]
    assert isinstance(fig, Figure)
    assert [t.get_text() for t in ax.get_xticklabels()] == list(CONSUMER_OUTCOMES)
    assert bar_heights(ax) == [5, 0, 2]  # lost is drawn, at zero
    assert texts(ax) == ["5", "0", "2"]
    assert ax.get_title() == "consumer run"
    assert [to_hex(p.get_facecolor()) for p in ax.patches] == \
        [outcome_colors[o] for o in CONSUMER_OUTCOMES]


def test_producer_bars_use_producer_outcomes() -> None:
    result = make_result("producer", ["acked-but-lost", "delivered-once", "acked-but-lost"])
    ax = outcome_bars(result).axes[0]
    heights = dict(zip([t.get_text() for t in ax.get_xticklabels()], bar_heights(ax)))
    assert list(heights) == list(PRODUCER_OUTCOMES)
    assert heights["acked-but-lost"] == 2 and heights["delivered-once"] == 1
    assert sum(heights.values()) == 3


def test_colours_are_the_course_colours() -> None:
    assert set(outcome_colors) >= set(PRODUCER_OUTCOMES)
    assert to_hex(outcome_colors["lost"]) != to_hex(outcome_colors["acked-but-lost"])
    assert len({to_hex(c) for c in outcome_colors.values()}) == len(outcome_colors)


def test_bars_draw_into_a_given_axes() -> None:
    fig, (left, right) = plt.subplots(1, 2)
    try:
        returned = outcome_bars(make_result(outcomes=["lost"]), ax=right)
        assert returned is fig
        assert bar_heights(right) == [0, 1, 0] and not left.patches
    finally:
        plt.close(fig)


# --- timeline ---------------------------------------------------------------------------------
def consumer_timeline() -> pd.DataFrame:
    # processed 0..4, crashed at 2.5 s, reprocessed 3 and 4 after the restart
    return pd.DataFrame({"t": [0.5, 1.0, 1.5, 2.0, 2.4, 3.1, 3.2],
                         "index": [0, 1, 2, 3, 4, 3, 4],
                         "msg_id": ["m0", "m1", "m2", "m3", "m4", "m3", "m4"],
                         "copy": [1, 1, 1, 1, 1, 2, 2], "worker": [0] * 7})


def crash_events() -> pd.DataFrame:
    return pd.DataFrame({"t": [0.0, 2.5, 3.0, 4.0, 4.5, 5.0], "kind": ["start", "crash",
                         "restart", "fault", "heal", "crash"], "worker": [0] * 6,
                         "detail": [""] * 6})


def vlines(ax, color: str) -> list[float]:
    return [float(line.get_xdata()[0]) for line in ax.lines
            if to_hex(line.get_color()) == to_hex(color)]


def test_timeline_highlights_duplicates_and_marks_events() -> None:
    result = make_result(timeline_rows=consumer_timeline(), events=crash_events())
    ax = timeline(result).axes[0]
    by_label = {c.get_label(): c for c in ax.collections}
    dup = by_label["duplicate"]
    assert len(dup.get_offsets()) == 2  # the two re-processings
    assert to_hex(dup.get_facecolor()[0]) == outcome_colors[DUPLICATED]
    assert dup.get_sizes()[0] > by_label["processed"].get_sizes()[0]
    assert len(by_label["processed"].get_offsets()) == 5
    np.testing.assert_allclose(dup.get_offsets(), [[3.1, 3], [3.2, 4]])
    assert vlines(ax, "red") == [2.5, 5.0]
    assert vlines(ax, "green") == [3.0]
    assert vlines(ax, "black") == [4.0]
    assert vlines(ax, "blue") == [4.5]
    crash = next(line for line in ax.lines if to_hex(line.get_color()) == to_hex("red"))
    assert crash.get_linestyle() == "--"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert sorted(legend) == sorted(["processed", "duplicate", "crash", "restart", "fault",
                                     "heal"])  # each kind once, 'start' not drawn


def test_timeline_without_duplicates_has_no_highlight() -> None:
    tl = consumer_timeline().iloc[:5]
    ax = timeline(make_result(timeline_rows=tl)).axes[0]
    assert [c.get_label() for c in ax.collections] == ["processed"]
    assert not ax.lines


def test_timeline_empty_timeline_and_events() -> None:
    ax = timeline(make_result()).axes[0]
    assert not ax.collections and not ax.lines
    assert ax.get_legend() is None


def test_timeline_events_only() -> None:
    ax = timeline(make_result(events=crash_events())).axes[0]
    assert vlines(ax, "red") == [2.5, 5.0]


def test_producer_timeline_is_coloured_by_report() -> None:
    tl = pd.DataFrame({"t": [0.1, 0.2, 0.3, 0.4], "index": [0, 1, 2, 3],
                       "msg_id": ["m0", "m1", "m2", "m3"],
                       "outcome": ["ok", "_MSG_TIMED_OUT", "ok", "_MSG_TIMED_OUT"]})
    ax = timeline(make_result("producer", timeline_rows=tl)).axes[0]
    by_label = {c.get_label(): c for c in ax.collections}
    assert set(by_label) == {"ok", "MSG_TIMED_OUT"}  # no leading "_": matplotlib would hide it
    assert len(by_label["MSG_TIMED_OUT"].get_offsets()) == 2
    assert to_hex(by_label["ok"].get_facecolor()[0]) == outcome_colors[DELIVERED_ONCE]
    assert to_hex(by_label["MSG_TIMED_OUT"].get_facecolor()[0]) not in outcome_colors.values()


# --- compare ----------------------------------------------------------------------------------
def test_compare_single_runs() -> None:
    frame = pd.DataFrame({"model": ["at-most-once", "at-least-once", "exactly-once"],
                          "lost": [4, 0, 0], "duplicated": [0, 7, 0]})
    ax = compare(frame, "model").axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == list(frame["model"])
    lost, dup = bar_groups(ax)
    assert [p.get_height() for p in lost] == [4, 0, 0]
    assert [p.get_height() for p in dup] == [0, 7, 0]
    assert to_hex(lost[0].get_facecolor()) == outcome_colors["lost"]
    assert lost.errorbar is None  # one run per group: no spread to show
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["lost", "duplicated"]


def test_compare_repeated_runs_show_mean_and_min_max() -> None:
    frame = pd.DataFrame({"model": ["a", "a", "a", "b"], "lost": [1, 2, 6, 5],
                          "duplicated": [0, 0, 0, 1]})
    ax = compare(frame, "model", metrics=["lost"]).axes[0]
    (bars,) = bar_groups(ax)
    assert [p.get_height() for p in bars] == [3, 5]
    segments = bars.errorbar.lines[2][0].get_segments()
    assert [(s[0][1], s[1][1]) for s in segments] == [(1, 6), (5, 5)]


def test_compare_rate_metric_uses_outcome_colour() -> None:
    frame = pd.DataFrame({"acks": ["0", "1", "all"], "acked_but_lost_rate": [0.1, 0.01, 0.0]})
    ax = compare(frame, "acks", metrics=["acked_but_lost_rate"]).axes[0]
    assert to_hex(ax.patches[0].get_facecolor()) == outcome_colors["acked-but-lost"]
    assert [p.get_height() for p in ax.patches] == pytest.approx([0.1, 0.01, 0.0])


# --- heatmap ----------------------------------------------------------------------------------
def test_heatmap_pivots_mean_and_annotates() -> None:
    frame = pd.DataFrame({
        "model": ["at-most-once", "at-most-once", "at-least-once", "at-least-once",
                  "at-least-once"],
        "crash_point": ["after-poll", "after-process", "after-poll", "after-process",
                        "after-process"],
        "lost": [3, 0, 0, 0, 0], "duplicated": [0, 0, 0, 4, 2]})
    fig = heatmap(frame, "model", "crash_point", "duplicated")
    ax = fig.axes[0]
    image = ax.images[0]
    np.testing.assert_allclose(np.asarray(image.get_array()), [[0, 0], [0, 3]])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["at-most-once", "at-least-once"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["after-poll", "after-process"]
    assert texts(ax) == ["0", "0", "0", "3"]
    assert len(fig.axes) == 2  # the heatmap and its colour bar


def test_heatmap_leaves_combinations_not_run_blank() -> None:
    frame = pd.DataFrame({"model": ["a", "b"], "crash": ["x", "y"], "lost": [1.5, 2.0]})
    ax = heatmap(frame, "model", "crash", "lost").axes[0]
    assert sorted(texts(ax)) == ["1.5", "2"]
    assert np.ma.getmaskarray(ax.images[0].get_array()).sum() == 2


def test_empty_tables_draw_without_error() -> None:
    empty = pd.DataFrame(columns=["model", "crash", "lost", "duplicated"])
    assert not compare(empty, "model").axes[0].patches
    ax = heatmap(empty, "model", "crash", "lost").axes[0]
    assert not ax.images and texts(ax) == ["no runs"]


# --- one scale, one colour per outcome --------------------------------------------------------
def test_heatmap_of_an_outcome_uses_that_outcomes_colour() -> None:
    from matplotlib.colors import to_rgba
    frame = pd.DataFrame({"model": ["a", "b"], "crash_point": ["x", "x"],
                          "duplicated": [0, 4], "acked_but_lost": [0, 4]})
    for value, outcome in (("duplicated", "duplicated"), ("acked_but_lost", "acked-but-lost")):
        image = heatmap(frame, "model", "crash_point", value).axes[0].images[0]
        assert image.cmap(1.0) == to_rgba(outcome_colors[outcome])


def test_story_figures_of_the_same_size_share_one_scale() -> None:
    from types import SimpleNamespace
    from deliverylab.plots import story_bars

    def story(settings, acked, lost, doubled):
        return SimpleNamespace(summary={"settings": settings, "payments": 500, "charges": 430,
                                        "producer_acked_but_lost": acked, "lost_payments": lost,
                                        "double_charges": doubled, "broker_faults": 1,
                                        "worker_crashes": 4})
    typical = story_bars(story("typical", 70, 70, 64)).axes[0]
    recommended = story_bars(story("recommended", 0, 0, 0)).axes[0]
    assert typical.get_ylim() == recommended.get_ylim() == (0, 250)
    stacked = list(typical.patches)
    assert to_hex(stacked[0].get_facecolor()) == outcome_colors["acked-but-lost"]
    assert to_hex(stacked[2].get_facecolor()) == outcome_colors["duplicated"]


def test_a_checked_runs_long_title_is_wrapped_inside_the_figure() -> None:
    from deliverylab.plots import check_timeline

    command = "/tmp/tmp.Xq3/lab/.venv/bin/python /tmp/tmp.Xq3/lab/examples/my_consumer.py --topic in"
    title = f"{command}: no message lost across 5 crashes ✗ FAILED"
    fig = check_timeline(make_result(timeline_rows=consumer_timeline(), events=crash_events()),
                         title=title)
    shown = fig.axes[0].get_title()
    assert shown.replace("\n", " ") == title and len(shown.splitlines()) > 1
    fig.canvas.draw()  # the title's box lies inside the figure's, left edge included
    box = fig.axes[0].title.get_window_extent()
    assert box.x0 >= 0 and box.x1 <= fig.bbox.width
    plt.close(fig)


def test_group_timeline_counts_revocations_only_while_records_were_processed() -> None:
    # the legend gives the summary's rebalances (from the group standing to the last record), not
    # the lines drawn: the group's forming and the members leaving after the input are drawn too,
    # and static membership's "0" must read 0
    from deliverylab.plots import group_timeline
    events = pd.DataFrame({"t": [1.0, 3.0, 3.0, 9.0], "kind": ["revoked"] * 4,
                           "worker": [0, 0, 1000, 0], "detail": [""] * 4})
    held = pd.DataFrame({"member": [0, 1], "worker": [0, 1000], "partition": [0, 1],
                         "start": [0.5, 0.5], "end": [9.0, 9.0], "how": ["exit", "exit"]})
    tl = pd.DataFrame({"t": [2.5, 5.0], "index": [0, 1], "msg_id": ["m0", "m1"], "copy": [1, 1],
                       "worker": [0, 1000], "partition": [0, 1]})
    r = make_result(timeline_rows=tl, events=events)
    r.summary.update(group_stood_s=2.0, rebalances=0)
    r.extra["holdings"] = held
    ax = group_timeline(r).axes[0]
    drawn = [line.get_xdata()[0] for line in ax.lines if line.get_color() == "grey" and len(line.get_xdata())]
    assert sorted(drawn) == [1.0, 3.0, 9.0]
    assert "partitions taken from a member (0× while records were processed)" in \
        [t.get_text() for t in ax.get_legend().get_texts()]

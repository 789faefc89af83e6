"""The producer benchmark: its runs on the session's real cluster at a small size, and the pure
logic that decides what a comparison may claim (medians, spread, the control pair, warnings)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from deliverylab.diagnose import benchmark_comparison_warnings, benchmark_warnings  # noqa: E402
from deliverylab.errors import LabError  # noqa: E402
from deliverylab.plots import benchmark_bars  # noqa: E402
from deliverylab.benchmark_stats import verdict, summarise  # noqa: E402
from deliverylab.experiments import Benchmark, run_benchmark, run_benchmarks, with_control  # noqa: E402
from deliverylab.experiments.throughput import recorded_experiments  # noqa: E402
from deliverylab.recording import read_recording  # noqa: E402
from deliverylab.vocabulary import CONTROL  # noqa: E402


def _check(summary: dict, n: int) -> None:
    assert summary["msgs_per_s"] > 0
    assert summary["delivered"] == n and summary["failed"] == 0 and summary["undelivered"] == 0
    assert summary["stored"] == n  # counted from a read-back, not from the reports
    assert 0 <= summary["p50_ms"] <= summary["p99_ms"] <= summary["max_ms"]


@pytest.mark.kafka
@pytest.mark.parametrize("config", [{"acks": "1"}, {"acks": "all", "enable.idempotence": True}])
def test_benchmark_delivers_everything(cluster, config):
    result = run_benchmark(Benchmark(messages=300, config=config), cluster)
    _check(result.summary, 300)
    assert result.latencies["latency_ms"].notna().all()
    assert result.summary["acks"] == config["acks"]
    # 300 messages usually take well under a second: too short to measure a throughput
    assert any("took" in w for w in result.warnings) == (result.summary["elapsed_s"] < 1.0)


@pytest.mark.kafka
def test_benchmark_for_a_duration_stops_on_time(cluster):
    result = run_benchmark(Benchmark(duration_s=1.0, config={"acks": "1"}), cluster)
    s = result.summary
    assert 1.0 <= s["elapsed_s"] < 10 and s["messages"] < 1_000_000
    _check(s, s["messages"])
    assert result.warnings == []


@pytest.mark.kafka
def test_benchmark_at_a_fixed_rate(cluster):
    result = run_benchmark(Benchmark(messages=200, rate=1000, config={"acks": "all"}), cluster)
    _check(result.summary, 200)
    assert result.summary["elapsed_s"] >= 0.15  # 200 messages at 1000/s take ~0.2 s


@pytest.mark.kafka
def test_transactional_benchmark_commits_every_k(cluster):
    spec = Benchmark(messages=250, transactional=True, commit_every=100,
                     config={"enable.idempotence": True, "acks": "all"})
    result = run_benchmark(spec, cluster)
    s = result.summary
    _check(s, 250)
    assert s["transactions"] == 3  # 100 + 100 + 50
    assert 0 <= s["visible_p50_ms"] <= s["visible_p99_ms"] and s["commit_p50_ms"] > 0
    assert any("3 transactions" in w for w in result.warnings)  # < 20 commits: no percentile


@pytest.mark.kafka
def test_run_benchmarks_interleaves_repeats_with_a_control(cluster):
    specs = with_control([Benchmark(messages=100, config={"acks": "0"}, label="acks=0"),
                          Benchmark(messages=100, config={"acks": "all"}, label="acks=all")], 1)
    frame = run_benchmarks(specs, cluster, repeat=3, seed=3)
    # Listed in the order given, each setting 3 times; run in a shuffled order per repetition.
    assert list(frame["label"]) == [l for l in ("acks=0", "acks=all", "acks=all" + CONTROL)
                                    for _ in range(3)]
    assert sorted(frame["order"]) == list(range(1, 10))
    assert (frame["msgs_per_s"] > 0).all()
    per_run = frame.sort_values("order").groupby("run")["label"].apply(list)
    assert len({tuple(v) for v in per_run}) > 1  # not the same order every time
    assert benchmark_comparison_warnings(frame) == []


def _frame(rows):
    return pd.DataFrame([{"label": l, "msgs_per_s": v, "p50_ms": 1.0, "p99_ms": 2.0}
                         for l, vs in rows.items() for v in vs])


def test_summarise_gives_median_and_spread():
    t = summarise(_frame({"a": [10, 30, 20], "b": [100, 90, 110]}))
    assert t.loc["a", "msgs_per_s_median"] == 20 and t.loc["a", "msgs_per_s_min"] == 10
    assert t.loc["a", "msgs_per_s_spread"] == 1.0 and t.loc["b", "runs"] == 3


def test_a_verdict_needs_more_than_the_control_noise():
    noisy = _frame({"x": [100, 104, 102], "y": [110, 112, 111],
                    "x" + CONTROL: [80, 82, 81]})  # the same setting measured 20 % lower
    v = verdict(noisy, "x", "y")
    assert v["noise"] > v["difference"] and not v["clear"]  # ranges apart, but within the noise
    quiet = _frame({"x": [100, 104, 102], "y": [150, 160, 155], "x" + CONTROL: [101, 103, 99]})
    v = verdict(quiet, "x", "y")
    assert v["clear"] and v["ratio"] == pytest.approx(155 / 102)
    overlap = _frame({"x": [100, 104, 160], "y": [150, 160, 155], "x" + CONTROL: [101, 103, 99]})
    assert not verdict(overlap, "x", "y")["clear"]  # a single run of x overlaps y's range
    with pytest.raises(LabError, match="No runs of 'z'"):
        verdict(quiet, "x", "z")


def test_benchmark_warnings():
    assert benchmark_warnings({"rate": 0}, {"delivered": 5000, "elapsed_s": 3.0}) == []
    short = benchmark_warnings({"rate": 0}, {"delivered": 5000, "elapsed_s": 0.2})
    assert len(short) == 1 and "0.20 s" in short[0]
    assert benchmark_warnings({"rate": 1000}, {"delivered": 500, "elapsed_s": 0.5}) == []
    few = benchmark_warnings({"rate": 100, "transactional": True},
                             {"delivered": 12, "elapsed_s": 2, "transactions": 2})
    assert len(few) == 2 and "12 messages" in few[0] and "2 transactions" in few[1]
    once = _frame({"a": [1], "b": [2]})
    warned = benchmark_comparison_warnings(once)
    assert len(warned) == 2 and "3 repeats" in warned[0] and "control" in warned[1]


def test_benchmark_bars_explain_their_whiskers():
    frame = _frame({"a": [10, 30, 20], "a" + CONTROL: [12, 25, 19]})
    fig = benchmark_bars(frame, title="t")
    assert len(fig.axes) == 2
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "throughput: median of 3 runs, whisker min–max" in labels
    assert "messages/s" in fig.axes[0].get_xlabel() and "ms" in fig.axes[1].get_xlabel()
    assert len(benchmark_bars(frame, throughput=False).axes) == 1


def test_benchmark_bars_split_p50_and_p99_when_their_scales_differ_tenfold():
    frame = _frame({"a": [10, 30, 20]}).assign(p50_ms=2.0, p99_ms=40.0)
    fig = benchmark_bars(frame, throughput=False)
    assert [ax.get_xlabel().split(" ")[0] for ax in fig.axes] == ["p50", "p99"]
    assert len(benchmark_bars(frame.assign(p99_ms=19.0), throughput=False).axes) == 1  # 9.5×: one


def test_the_recording_has_controls_and_enough_transactions():
    for name, specs in recorded_experiments().items():
        assert any(s.name.endswith(CONTROL) for s in specs), name
        for s in specs:
            s.check()
            if s.transactional:  # ≥ 20 transactions per size: visible_p99 rests on enough commits
                assert s.messages // s.commit_every >= 20 and s.rate > 0


def test_the_committed_recording_is_sound():
    from pathlib import Path
    frame, made_by = read_recording(Path(__file__).resolve().parents[1] / "data" / "benchmark.csv")
    # recorded before `deliverylab benchmark` took over the module's own command line
    assert made_by.startswith(("made by: deliverylab benchmark", "made by: python -m deliverylab.throughput"))
    for name, part in frame.groupby("experiment"):
        assert benchmark_comparison_warnings(part) == [], name
        assert (part["failed"] == 0).all() and (part["stored"] == part["delivered"]).all(), name


def test_bad_settings_are_one_clear_error():
    with pytest.raises(LabError, match="ack"):
        Benchmark(config={"acks": "most"}).check()
    with pytest.raises(LabError, match="transactional"):
        Benchmark(config={"transactional.id": "x"}).check()
    with pytest.raises(LabError, match="duration_s"):
        Benchmark(duration_s=-1).check()
    with pytest.raises(LabError, match="same label"):
        run_benchmarks([Benchmark(label="a"), Benchmark(label="a")])
    with pytest.raises(LabError, match="repeat"):
        run_benchmarks([Benchmark()], repeat=0)

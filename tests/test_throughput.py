"""The producer benchmark on the session's real cluster, at a small N."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from deliverylab.errors import LabError  # noqa: E402
from deliverylab.throughput import (Benchmark, plot_benchmarks, run_benchmark,  # noqa: E402
                                    run_benchmarks)


def _check(summary: dict, n: int) -> None:
    assert summary["msgs_per_s"] > 0
    assert summary["delivered"] == n and summary["failed"] == 0 and summary["undelivered"] == 0
    assert summary["stored"] == n  # counted from a read-back, not from the reports
    assert 0 <= summary["p50_ms"] <= summary["p99_ms"] <= summary["max_ms"]


@pytest.mark.parametrize("config", [{"acks": "1"}, {"acks": "all", "enable.idempotence": True}])
def test_benchmark_delivers_everything(cluster, config):
    result = run_benchmark(Benchmark(messages=300, config=config), cluster)
    _check(result.summary, 300)
    assert result.latencies["latency_ms"].notna().all()
    assert result.summary["acks"] == config["acks"]


def test_benchmark_at_a_fixed_rate(cluster):
    result = run_benchmark(Benchmark(messages=200, rate=1000, config={"acks": "all"}), cluster)
    _check(result.summary, 200)
    assert result.summary["elapsed_s"] >= 0.15  # 200 messages at 1000/s take ~0.2 s


def test_transactional_benchmark_commits_every_k(cluster):
    spec = Benchmark(messages=250, transactional=True, commit_every=100,
                     config={"enable.idempotence": True, "acks": "all"})
    result = run_benchmark(spec, cluster)
    s = result.summary
    _check(s, 250)
    assert s["transactions"] == 3  # 100 + 100 + 50
    assert 0 <= s["visible_p50_ms"] <= s["visible_p99_ms"]


def test_run_benchmarks_and_plot(cluster):
    frame = run_benchmarks([Benchmark(messages=100, config={"acks": "0"}),
                            Benchmark(messages=100, config={"acks": "all"})], cluster, repeat=2)
    assert list(frame["label"]) == ["acks=0", "acks=all"] * 2
    assert (frame["msgs_per_s"] > 0).all()
    fig = plot_benchmarks(frame)
    assert len(fig.axes) == 2


def test_bad_settings_are_one_clear_error():
    with pytest.raises(LabError, match="ack"):
        Benchmark(config={"acks": "most"}).check()
    with pytest.raises(LabError, match="transactional"):
        Benchmark(config={"transactional.id": "x"}).check()

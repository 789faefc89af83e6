"""Benchmark runs counted and compared (pure, no Kafka): one run's latencies and rates from
what it measured, and several runs' medians, spreads and verdicts against the control pair —
the same setting run twice under two names, whose gap is what noise alone does.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from .diagnose import benchmark_warnings
from .errors import LabError
from .results import BenchmarkResult
from .vocabulary import CONTROL



@dataclass
class Measured:
    """What one benchmark run measured, filled in while it sends: per message its delivery
    report's latency (ms) and error, when it was produced, and (transactions) how long until its
    transaction committed; in all the delivered count, commits, and what the read-back found."""

    latency: np.ndarray
    errors: list[str | None]
    sent_at: np.ndarray
    visible: np.ndarray
    commits: list[float] = field(default_factory=list)  # ms per commit_transaction()
    sent: int = 0
    delivered: int = 0
    transactions: int = 0
    undelivered: int = 0
    stored: int | None = None
    elapsed_s: float = 0.0

    @classmethod
    def of(cls, messages: int) -> "Measured":
        return cls(np.full(messages, np.nan), [None] * messages, np.zeros(messages),
                   np.full(messages, np.nan))


def _ms(values: np.ndarray, q: float) -> float:
    return round(float(np.percentile(values, q)), 2) if len(values) else float("nan")


def benchmark_result(spec: Any, m: Measured, topic: str) -> BenchmarkResult:
    """One run's Result from what it measured (spec: the run's Benchmark)."""
    n, elapsed = m.sent, m.elapsed_s
    lat = pd.DataFrame({"index": range(n), "latency_ms": m.latency[:n], "error": m.errors[:n]})
    if spec.transactional:
        lat["visible_ms"] = m.visible[:n]
    ok = lat.loc[lat["error"].isna(), "latency_ms"].dropna().to_numpy()
    summary: dict[str, Any] = {
        "label": spec.name, "messages": n, "delivered": m.delivered,
        "failed": int(lat["error"].notna().sum()), "undelivered": int(m.undelivered),
        "stored": m.stored, "elapsed_s": round(elapsed, 3),
        "msgs_per_s": round(m.delivered / elapsed, 1) if elapsed > 0 else float("nan"),
        "MB_per_s": round(m.delivered * spec.value_bytes / elapsed / 1e6, 3) if elapsed > 0 else float("nan"),
        "p50_ms": _ms(ok, 50), "p99_ms": _ms(ok, 99), "max_ms": _ms(ok, 100),
        "rate": spec.rate,
        "transactional": spec.transactional,
        "commit_every": spec.commit_every if spec.transactional else None,
        "transactions": m.transactions,
    }
    if spec.transactional:
        vis = lat["visible_ms"].dropna().to_numpy()
        summary.update({"visible_p50_ms": _ms(vis, 50), "visible_p99_ms": _ms(vis, 99),
                        "commit_p50_ms": _ms(np.array(m.commits), 50)})
    summary.update({k: str(v) for k, v in spec.config.items() if k not in summary})
    spec_dict = asdict(spec)
    return BenchmarkResult(spec_dict, summary, lat, {"topic": topic},
                           benchmark_warnings(spec_dict, summary))


def summarise(frame: pd.DataFrame, by: str = "label",
              metrics: Sequence[str] = ("msgs_per_s", "p50_ms", "p99_ms")) -> pd.DataFrame:
    """Per setting: runs, and for each metric its median, min and max over the runs, and the
    spread (max − min) as a share of the median."""
    metrics = [m for m in metrics if m in frame.columns]
    groups = frame.groupby(by, sort=False)
    out = pd.DataFrame({"runs": groups.size()})
    for m in metrics:
        stats = groups[m].agg(["median", "min", "max"])
        out[f"{m}_median"] = stats["median"]
        out[f"{m}_min"] = stats["min"]
        out[f"{m}_max"] = stats["max"]
        out[f"{m}_spread"] = ((stats["max"] - stats["min"]) / stats["median"]).round(3)
    return out


def control_pair(frame: pd.DataFrame, by: str) -> tuple[str, str] | None:
    for name in frame[by].unique():
        if str(name).endswith(CONTROL):
            return str(name)[: -len(CONTROL)], str(name)
    return None


def verdicts(frame: pd.DataFrame, pairs: Sequence[tuple[str, str]], metric: str = "msgs_per_s",
             by: str = "label") -> pd.DataFrame:
    """`verdict` for several pairs, as a table a notebook can show."""
    rows = [verdict(frame, a, b, metric, by) for a, b in pairs]
    return pd.DataFrame(rows)[["a", "b", "metric", "median_a", "median_b", "ratio", "difference",
                               "noise", "clear"]].round(3)


def verdict_text(v: dict[str, Any]) -> str:
    """One line for a `verdict` result, as evidence under a claim."""
    def num(x: float) -> str:
        return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"
    return (f"{v['metric']}: {v['a']} {num(v['median_a'])} → {v['b']} {num(v['median_b'])} "
            f"(×{v['ratio']:.2f}); difference {v['difference']:.0%}, control gap {v['noise']:.0%}, "
            f"{'clear' if v['clear'] else 'not clear'} over {v['runs_a']} + {v['runs_b']} runs")


def verdict(frame: pd.DataFrame, a: str, b: str, metric: str = "msgs_per_s",
            by: str = "label") -> dict[str, Any]:
    """Is the difference between settings a and b in `metric` larger than the noise?

    noise: the difference between the medians of the control pair (the same setting run under
    two names), as a share of their mean; 0 when the frame has no control pair (then `clear`
    rests on the ranges alone). clear: the min–max ranges of a and b do not overlap, and their
    medians differ by more than the control pair's do. ratio: median(b) / median(a)."""
    runs = {name: frame.loc[frame[by] == name, metric].dropna() for name in (a, b)}
    for name, values in runs.items():
        if values.empty:
            raise LabError(f"No runs of {name!r} with a {metric} in this frame.",
                           f"Use one of {', '.join(map(repr, frame[by].unique()))}.")
    ma, mb = float(runs[a].median()), float(runs[b].median())
    noise = 0.0
    pair = control_pair(frame, by)
    if pair is not None:
        c1 = float(frame.loc[frame[by] == pair[0], metric].median())
        c2 = float(frame.loc[frame[by] == pair[1], metric].median())
        noise = abs(c1 - c2) / ((c1 + c2) / 2) if c1 + c2 else 0.0
    difference = abs(mb - ma) / ((ma + mb) / 2) if ma + mb else 0.0
    apart = runs[a].max() < runs[b].min() or runs[b].max() < runs[a].min()
    return {"a": a, "b": b, "metric": metric, "median_a": ma, "median_b": mb,
            "ratio": mb / ma if ma else float("nan"), "difference": round(difference, 3),
            "noise": round(noise, 3), "control": pair[0] if pair else None,
            "runs_a": int(len(runs[a])), "runs_b": int(len(runs[b])),
            "clear": bool(apart and difference > noise)}


__all__ = ["Measured", "benchmark_result", "summarise", "verdict", "verdicts",
           "verdict_text", "control_pair"]

"""Warnings for degenerate runs: why a run cannot show what it was meant to.

Each rule is a pure function of a run's spec, counts, timeline and events (no Kafka I/O) and
returns plain sentences; `Result.warnings` holds them, and panels and notebooks show them beside
the counts. A run in the course should carry no warning unless its text explains it.

Sections: consumer runs, producer runs, throughput runs, comparisons of several runs. Add a rule
to its section as a small function and call it from that section's entry point.
"""
from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

import pandas as pd

from .vocabulary import AUTO_COMMIT, AUTO_COMMIT_MODELS, CONTROL, CRASH, FAULT, HEAL, REJOIN


# --- consumer runs -----------------------------------------------------------------------------
def consumer_warnings(spec: Mapping[str, Any], summary: Mapping[str, Any],
                      timeline: pd.DataFrame, events: pd.DataFrame) -> list[str]:
    """All consumer rules, in the order a learner should read them.

    spec: the ConsumerExperiment as a dict (asdict); summary: the run's counts (`crashes`);
    timeline: one row per effect with t, partition, offset; events: t, kind ('crash', …).
    """
    return [w for rule in (timed_out, group_never_formed, crash_never_fired,
                           no_commit_between_crashes, tick_outside_the_work, static_id_refused,
                           resend_left_no_copy)
            for w in rule(spec, summary, timeline, events)]


def timed_out(spec: Mapping[str, Any], summary: Mapping[str, Any],
              timeline: pd.DataFrame, events: pd.DataFrame) -> list[str]:
    """First of all: a run that hit its time limit did not finish, whatever its counts say."""
    if not summary.get("timed_out"):
        return []
    unread = int(summary.get("unread_at_timeout") or 0)
    session = ""
    if spec.get("membership") == "group" and int(summary.get("crashes") or 0):
        session = (" In a group, each crashed member stays in it until its session times out, "
                   "and the group waits for it meanwhile: fewer crashes or a longer time_limit_s "
                   "let it finish.")
    return [f"The run hit its time limit (time_limit_s={spec.get('time_limit_s')}) before its "
            f"consumers were done, so it is not a result: {unread} message(s) were never read "
            f"(unread_at_timeout). They are still in the topic, not lost; `lost` counts only "
            f"messages something went past.{session}"]


def group_never_formed(spec: Mapping[str, Any], summary: Mapping[str, Any],
                       timeline: pd.DataFrame, events: pd.DataFrame) -> list[str]:
    """A group whose members never got a partition consumed nothing: the run could not happen."""
    never = summary.get("never_assigned")
    if spec.get("membership") != "group" or not never:
        return []
    members = int(spec.get("members") or 1)
    if len(never) == members:
        return [f"No member of the group was ever assigned a partition: the consumers never ran, "
                f"so this run shows nothing about {spec.get('model')}."]
    if members <= int(spec.get("partitions") or 1):
        return [f"Member(s) {', '.join(map(str, never))} were never assigned a partition (the "
                f"group had {spec.get('partitions')} for {members} members): they took no part."]
    return []


def static_id_refused(spec: Mapping[str, Any], summary: Mapping[str, Any],
                      timeline: pd.DataFrame, events: pd.DataFrame) -> list[str]:
    """KIP-848 static members: a crashed member's id stays taken until its session expires."""
    rejoins = _event_rows(events, REJOIN)
    if not len(rejoins):
        return []
    reasons = summary.get("rejoin_reasons") or ["?"]
    span = float(rejoins["t"].max() - rejoins["t"].min()) if len(rejoins) > 1 else 0.0
    return [f"A restarted static member was refused {len(rejoins)} time(s) "
            f"({', '.join(reasons)}) over {span:.1f} s, until the crashed one's session expired: "
            f"with group.protocol=consumer (KIP-848) a member that died without leaving keeps "
            f"its group.instance.id for the session timeout, so static membership does not "
            f"shorten a crash's gap here as it does with the classic protocol."]


def crash_never_fired(spec: Mapping[str, Any], summary: Mapping[str, Any],
                      timeline: pd.DataFrame, events: pd.DataFrame) -> list[str]:
    crash = spec.get("crash")
    if not crash or int(summary.get("crashes") or 0) > 0:
        return []
    return [f"The crash schedule ({_schedule(crash)}) never fired: no message it names reached "
            f"the crash point {crash.get('point')!r}, so this run shows a crash-free loop."]


def resend_left_no_copy(spec: Mapping[str, Any], summary: Mapping[str, Any],
                        timeline: pd.DataFrame, events: pd.DataFrame) -> list[str]:
    """input_resend is there to put copies of a message in the input; with none, neither the
    offsets nor a dedupe on the message id had a copy to deal with."""
    if not spec.get("input_resend") or int(summary.get("input_duplicated") or 0) > 0:
        return []
    return [f"The input's producer crashed {summary.get('input_crashes', 0)} time(s) and resent "
            f"{summary.get('input_resent', 0)} message(s), but none reached the log twice "
            f"(input_duplicated 0; unconfirmed at each kill "
            f"{summary.get('input_unconfirmed_per_crash')}): every resent message had died "
            f"unsent with its process, so this run has no copy for the consumer to store twice "
            f"or to deduplicate."]


def _schedule(crash: Mapping[str, Any]) -> str:
    if crash.get("every"):
        return f"every {crash['every']}th message"
    if crash.get("prob"):
        return f"probability {crash['prob']}"
    return f"at indices {list(crash.get('at') or ())}"


def _starts(timeline: pd.DataFrame, crash_times: list[float]) -> list[dict[int, int] | None]:
    """Where each incarnation of the worker began: the first offset it processed per partition
    (None for an incarnation that processed nothing)."""
    bounds = [float("-inf")] + crash_times + [float("inf")]
    starts: list[dict[int, int] | None] = []
    for low, high in zip(bounds, bounds[1:]):
        part = timeline[(timeline["t"] > low) & (timeline["t"] <= high)].sort_values("t")
        first = part.drop_duplicates("partition")
        starts.append({int(p): int(o) for p, o in zip(first["partition"], first["offset"])}
                      if len(part) else None)
    return starts


def no_commit_between_crashes(spec: Mapping[str, Any], summary: Mapping[str, Any],
                              timeline: pd.DataFrame, events: pd.DataFrame) -> list[str]:
    """A restart that begins where the previous incarnation began found no newer commit: that
    crash repeats everything since an older start, not only what followed the last commit."""
    if events is None or events.empty or timeline is None or timeline.empty or \
            not {"t", "partition", "offset"} <= set(timeline.columns):
        return []
    crash_times = sorted(float(t) for t in events.loc[events["kind"] == CRASH, "t"])
    if not crash_times:
        return []
    starts = _starts(timeline, crash_times)
    first = {int(p): int(o) for p, o in timeline.groupby("partition")["offset"].min().items()}
    restarts = [(before, after) for before, after in zip(starts, starts[1:])
                if before is not None and after is not None]
    same = [after for before, after in restarts
            if all(after.get(p) == o for p, o in before.items() if p in after)]
    if not same:
        return []
    interval = (f"auto.commit.interval.ms={spec.get('auto_commit_interval_ms')}"
                if spec.get("model") in AUTO_COMMIT_MODELS else "the commit interval")
    if all(all(o == first.get(p) for p, o in s.items()) for s in starts if s is not None):
        return [f"Nothing was committed before any of the {len(crash_times)} crashes: every restart "
                f"began at the first message. The crashes come faster than {interval} (add processing_ms, "
                f"more messages or rarer crashes), so this run shows a replay from the start, not "
                f"the commit interval's effect."]
    return [f"{len(same)} of {len(restarts)} restarts began where the previous run of the worker "
            f"began: nothing was committed between those crashes, so each repeated everything "
            f"since that start, not only what followed the last commit ({interval})."]


def tick_outside_the_work(spec: Mapping[str, Any], summary: Mapping[str, Any],
                          timeline: pd.DataFrame, events: pd.DataFrame) -> list[str]:
    """Auto-commit's loss at mid-process needs a timer tick during the crashed record's work."""
    crash = spec.get("crash") or {}
    if spec.get("model") != AUTO_COMMIT or crash.get("point") != "mid-process":
        return []
    work, interval = float(spec.get("processing_ms") or 0), spec.get("auto_commit_interval_ms")
    if interval and work > interval:
        return []
    return [f"processing_ms={work:g} is not longer than auto.commit.interval.ms={interval}: a "
            f"timer tick falls inside the crashed record's work only by chance, so whether it is "
            f"lost is luck. Make processing_ms longer than the interval to see the loss every time."]


# --- producer runs -----------------------------------------------------------------------------
def producer_warnings(spec: Mapping[str, Any], summary: Mapping[str, Any],
                      timeline: pd.DataFrame, events: pd.DataFrame) -> list[str]:
    """All producer rules. spec: the ProducerExperiment as a dict; timeline: one row per delivery
    report (t, index, outcome); events: t, kind ('fault', 'heal', …), detail (JSON)."""
    return [w for rule in (fault_never_struck, fault_hit_nothing_in_flight, fault_cut_short)
            for w in rule(spec, summary, timeline, events)]


def _fault_kind(spec: Mapping[str, Any]) -> str | None:
    fault = spec.get("fault") or {}
    kind = fault.get("kind") if isinstance(fault, Mapping) else getattr(fault, "kind", None)
    return None if kind in (None, "none") else kind


def _event_rows(events: pd.DataFrame | None, kind: str) -> pd.DataFrame:
    if events is None or events.empty or "kind" not in events.columns:
        return pd.DataFrame(columns=["t", "kind", "detail"])
    return events[events["kind"] == kind]


def fault_never_struck(spec: Mapping[str, Any], summary: Mapping[str, Any],
                       timeline: pd.DataFrame, events: pd.DataFrame) -> list[str]:
    kind = _fault_kind(spec)
    if kind is None or len(_event_rows(events, FAULT)):
        return []
    fault = spec.get("fault") or {}
    when = (f"after {fault.get('at_index')} delivery reports" if fault.get("at_index") is not None
            else f"at {fault.get('at_s')} s")
    return [f"The fault {kind!r} never struck (it was due {when}, and the run ended first): this "
            f"run shows the settings without a fault."]


def fault_hit_nothing_in_flight(spec: Mapping[str, Any], summary: Mapping[str, Any],
                                timeline: pd.DataFrame, events: pd.DataFrame) -> list[str]:
    """A fault after the last delivery report met no record in flight: nothing could be lost,
    failed or retried because of it."""
    faults = _event_rows(events, FAULT)
    if _fault_kind(spec) is None or not len(faults) or timeline is None or "t" not in timeline:
        return []
    t_fault = float(faults["t"].min())
    after = int((timeline["t"] >= t_fault).sum())
    if after:
        return []
    return [f"The fault {_fault_kind(spec)!r} struck at {t_fault:.2f} s, after the last delivery "
            f"report: no record was in flight, so nothing in this run could be lost, failed or "
            f"retried because of it. Send more messages, or a slower rate, so the run outlasts "
            f"the fault."]


def fault_cut_short(spec: Mapping[str, Any], summary: Mapping[str, Any],
                    timeline: pd.DataFrame, events: pd.DataFrame) -> list[str]:
    """The nemesis heals when a run ends: a fault planned longer than the run was cut short."""
    out = []
    for detail in _event_rows(events, HEAL).get("detail", []):
        try:
            d = json.loads(detail)
        except (TypeError, ValueError):
            continue
        if d.get("cut_short"):
            out.append(f"The run ended {d.get('lasted_s', 0):.1f} s into the {d.get('kind')!r} "
                       f"fault planned for {d.get('planned_s')} s, so the lab healed it then: "
                       f"whatever a longer fault does (e.g. the ISR shrinking after "
                       f"replica.lag.time.max.ms) is not in this run. Send for longer than the "
                       f"fault lasts.")
    return out


# --- throughput runs ---------------------------------------------------------------------------
MIN_PERCENTILE_SAMPLES = 20  # below this a percentile is one of a handful of values, not a tail
MIN_THROUGHPUT_RUN_S = 1.0  # shorter, and a throughput run measures start-up and flush, not the setting


def benchmark_warnings(spec: Mapping[str, Any], summary: Mapping[str, Any]) -> list[str]:
    """One benchmark run (experiments.throughput): too few samples for its percentiles, too
    short to measure a throughput."""
    out = []
    delivered = int(summary.get("delivered") or 0)
    if delivered < MIN_PERCENTILE_SAMPLES:
        out.append(f"Only {delivered} messages were delivered: p50/p99 from fewer than "
                   f"{MIN_PERCENTILE_SAMPLES} samples are guesses. Send more messages.")
    if spec.get("transactional"):
        txns = int(summary.get("transactions") or 0)
        if txns < MIN_PERCENTILE_SAMPLES:
            out.append(f"Only {txns} transactions: the visible-latency percentiles rest on fewer "
                       f"than {MIN_PERCENTILE_SAMPLES} commits. Send at least "
                       f"{MIN_PERCENTILE_SAMPLES} × commit_every messages.")
    if not spec.get("rate") and float(summary.get("elapsed_s") or 0) < MIN_THROUGHPUT_RUN_S:
        out.append(f"The run took {float(summary.get('elapsed_s') or 0):.2f} s: a throughput "
                   f"measured over less than {MIN_THROUGHPUT_RUN_S:g} s is mostly start-up and the "
                   f"final flush. Use duration_s of a few seconds.")
    return out


def benchmark_comparison_warnings(frame: pd.DataFrame, by: str = "label") -> list[str]:
    """Several benchmark runs compared: fewer than 3 repeats, or no control pair to show the
    noise (a label ending in ' (control)')."""
    if not len(frame):
        return []
    out = []
    runs = frame.groupby(by).size()
    if runs.min() < 3:
        out.append(f"Some settings ran only {runs.min()} time(s): a median and a spread need 3 "
                   f"repeats or more.")
    if not frame[by].astype(str).str.endswith(CONTROL).any():
        out.append("No control pair (the same setting run twice): nothing shows how far noise "
                   "alone moves the numbers, so no difference can be told from it.")
    return out


# --- comparisons of several runs ---------------------------------------------------------------
def comparison_warnings(frame: pd.DataFrame, metrics: Sequence[str], by: str) -> list[str]:
    """A comparison whose every number is zero shows no difference."""
    present = [m for m in metrics if m in frame.columns]
    if not len(frame) or not present:
        return []
    if (frame[present].fillna(0) == 0).all().all():
        return [f"Every {' and '.join(present)} count is 0 for every {by}: this comparison shows no "
                f"difference; say why zero is the lesson, or change the runs."]
    return identical_outcomes(frame, present, by)


def identical_outcomes(frame: pd.DataFrame, metrics: Sequence[str], by: str) -> list[str]:
    """Runs compared side by side with the very same counts show no difference between them."""
    if len(frame) < 2 or by not in frame.columns:
        return []
    values = frame[list(metrics)].fillna(0)
    if len(values.drop_duplicates()) > 1:
        return []
    shown = ", ".join(f"{m}={values.iloc[0][m]:g}" for m in metrics)
    return [f"Every {by} ({', '.join(map(str, frame[by]))}) has the same counts ({shown}): this "
            f"comparison shows no difference between them; say why, or change the runs."]

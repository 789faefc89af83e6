"""The warning rules for degenerate runs: pure functions, tested on hand-made histories."""
from __future__ import annotations

import pandas as pd

from deliverylab import diagnose


def spec(model="at-least-once", point="after-process", every=20, **kw):
    crash = {"point": point, "every": every, "prob": None, "at": (), "seed": 1} if point else None
    return {"model": model, "crash": crash, "auto_commit_interval_ms": 1000, "processing_ms": 0, **kw}


def timeline(*segments):
    """segments: (t_start, first_offset, count): one effect per 0.01 s, partition 0."""
    rows = [{"t": t + i * 0.01, "partition": 0, "offset": first + i}
            for t, first, n in segments for i in range(n)]
    return pd.DataFrame(rows)


def events(*crash_times):
    return pd.DataFrame([{"t": t, "kind": "crash"} for t in crash_times])


def test_a_run_with_commits_between_crashes_has_no_warning():
    tl = timeline((0.0, 0, 20), (1.0, 10, 20), (2.0, 30, 10))
    assert diagnose.consumer_warnings(spec(), {"crashes": 2}, tl, events(0.5, 1.5)) == []


def test_every_restart_at_the_first_message_says_nothing_was_committed():
    tl = timeline((0.0, 0, 20), (1.0, 0, 40), (2.0, 0, 60))
    [w] = diagnose.consumer_warnings(spec(model="auto-commit"), {"crashes": 2}, tl, events(0.5, 1.5))
    assert "Nothing was committed before any of the" in w and "auto.commit.interval.ms=1000" in w


def test_one_restart_where_the_previous_began_is_counted():
    tl = timeline((0.0, 0, 20), (1.0, 10, 20), (2.0, 10, 30))
    [w] = diagnose.consumer_warnings(spec(), {"crashes": 2}, tl, events(0.5, 1.5))
    assert w.startswith("1 of 2 restarts began where the previous run of the worker began")


def test_an_incarnation_that_processed_nothing_is_not_compared():
    tl = timeline((0.0, 0, 20), (2.0, 10, 50))
    assert diagnose.consumer_warnings(spec(), {"crashes": 2}, tl, events(0.5, 1.5)) == []


def test_a_schedule_that_never_fired():
    [w] = diagnose.consumer_warnings(spec(every=500), {"crashes": 0}, timeline((0.0, 0, 10)), events())
    assert "never fired" in w and "every 500th message" in w


def test_no_crash_scheduled_no_warning():
    assert diagnose.consumer_warnings(spec(point=None), {"crashes": 0}, timeline((0.0, 0, 10)),
                                      events()) == []


def test_auto_commit_mid_process_needs_work_longer_than_the_interval():
    tl, ev = timeline((0.0, 0, 5), (1.0, 6, 4)), events(0.5)
    short = spec(model="auto-commit", point="mid-process", processing_ms=50, auto_commit_interval_ms=100)
    [w] = diagnose.consumer_warnings(short, {"crashes": 1}, tl, ev)
    assert "only by chance" in w
    long = {**short, "processing_ms": 250}
    assert diagnose.consumer_warnings(long, {"crashes": 1}, tl, ev) == []
    store = {**short, "model": "auto-commit-store"}  # nothing to lose there: no warning
    assert diagnose.consumer_warnings(store, {"crashes": 1}, tl, ev) == []


def test_all_zero_comparison():
    zero = pd.DataFrame({"k": [1, 10], "lost": [0, 0], "duplicated": [0, 0]})
    [w] = diagnose.comparison_warnings(zero, ("lost", "duplicated"), by="k")
    assert "shows no difference" in w
    some = zero.assign(duplicated=[0, 3])
    assert diagnose.comparison_warnings(some, ("lost", "duplicated"), by="k") == []


# --- runs that could not happen (issue 21) -----------------------------------------------------
def test_a_timed_out_run_says_so_first_and_names_its_unread_tail():
    s = {"timed_out": True, "unread_at_timeout": 40, "crashes": 1}
    warnings = diagnose.consumer_warnings(spec(every=None, point=None, time_limit_s=90, membership="group"),
                                          s, timeline((0.0, 0, 10)), events(0.05))
    assert warnings[0].startswith("The run hit its time limit (time_limit_s=90)")
    assert "40 message(s) were never read" in warnings[0] and "session times out" in warnings[0]
    assert diagnose.timed_out(spec(), {"timed_out": False}, timeline(), events()) == []


def test_a_group_whose_members_never_got_a_partition_says_the_consumers_never_ran():
    g = spec(point=None, membership="group", members=3, partitions=3)
    assert "never ran" in diagnose.group_never_formed(g, {"never_assigned": [0, 1, 2]}, None, None)[0]
    assert "Member(s) 2 were never" in diagnose.group_never_formed(g, {"never_assigned": [2]}, None, None)[0]
    more_members = {**g, "partitions": 2}  # a member without a partition is expected then
    assert diagnose.group_never_formed(more_members, {"never_assigned": [2]}, None, None) == []
    assert diagnose.group_never_formed(g, {"never_assigned": []}, None, None) == []


def test_a_refused_static_restart_is_explained():
    ev = pd.DataFrame([{"t": 1.0 + i, "kind": "rejoin", "detail": '{"reason": "UNRELEASED_INSTANCE_ID"}'}
                       for i in range(5)])
    (w,) = diagnose.static_id_refused(spec(), {"rejoin_reasons": ["UNRELEASED_INSTANCE_ID"]}, timeline(), ev)
    assert "refused 5 time(s) (UNRELEASED_INSTANCE_ID) over 4.0 s" in w and "KIP-848" in w
    assert diagnose.static_id_refused(spec(), {}, timeline(), events(0.5)) == []


def test_a_resending_input_that_left_no_copy_in_the_log_says_so():
    resend = {"point": "before-flush", "every": 100, "prob": None, "at": (), "seed": 1}
    counts = {"crashes": 0, "input_crashes": 3, "input_resent": 6, "input_duplicated": 0,
              "input_unconfirmed_per_crash": [2, 2, 2]}
    args = (spec("idempotent-consumer", point=None, input_resend=resend), counts,
            timeline((0.0, 0, 10)), events())
    [w] = diagnose.consumer_warnings(*args)
    assert "input_duplicated 0" in w and "[2, 2, 2]" in w
    assert diagnose.consumer_warnings(args[0], {**counts, "input_duplicated": 1}, *args[2:]) == []

"""Transactions that fail in production (notebook 06): an abort without a rewind skips input,
and a hanging transaction stalls every read_committed reader. The counting is checked on made-up
ledgers; the behaviour on the real session cluster, at a few seconds each."""
from __future__ import annotations

import json

import pandas as pd
import psutil
import pytest

from deliverylab import anomalies as an
from deliverylab.experiments import ConsumerExperiment, HangingTransaction, run_consumer, run_hanging
from deliverylab.stall_counts import MARGIN_S, stall_summary
from deliverylab.vocabulary import ABORT, NONMONOTONIC_POLL, READ, TXN_COMMITTED, TXN_OPEN

HANGING = ["hanging-0", "hanging-1"]
COMMITTED = ["committed-0", "committed-1"]


def stall_events(rc_at: float | None, ru_at: float = 1.1, t_open: float = 0.5,
                 t_commit: float = 1.0) -> pd.DataFrame:
    rows = [(TXN_OPEN, json.dumps(HANGING), t_open), (TXN_COMMITTED, json.dumps(COMMITTED), t_commit)]
    reads = [("read_uncommitted", m, ru_at) for m in HANGING + COMMITTED]
    if rc_at is not None:
        reads += [("read_committed", m, rc_at) for m in COMMITTED]
    rows += [(READ, json.dumps({"reader": r, "msg_id": m, "offset": 0}), t) for r, m, t in reads]
    return pd.DataFrame(rows, columns=["kind", "detail", "t"])


def readback(committed: list[str]) -> pd.DataFrame:
    rows = [("read_committed", m) for m in committed] + \
        [("read_uncommitted", m) for m in HANGING + COMMITTED]
    return pd.DataFrame(rows, columns=["reader", "msg_id"])


def test_stall_counted_from_the_commit_and_bounded_from_the_open_transaction():
    s = stall_summary(stall_events(rc_at=3.6), readback(COMMITTED), 3000, 1000)
    assert s["read_committed_stall_s"] == pytest.approx(2.6)
    assert s["read_uncommitted_stall_s"] == pytest.approx(0.1)
    assert s["stall_ended_after_open_s"] == pytest.approx(3.1)
    assert s["bound_s"] == pytest.approx(4 + MARGIN_S) and s["within_bound"]
    assert (s["aborted_reads"], s["read_committed_saw_hanging"], s["lost"]) == (2, 0, 0)


def test_a_stall_too_long_too_short_or_never_ending_is_not_within_the_bound():
    late = stall_summary(stall_events(rc_at=0.5 + 4 + MARGIN_S + 0.1), readback(COMMITTED), 3000, 1000)
    early = stall_summary(stall_events(rc_at=1.2), readback(COMMITTED), 3000, 1000)  # no stall at all
    never = stall_summary(stall_events(rc_at=None), readback([]), 3000, 1000)
    assert not late["within_bound"] and not early["within_bound"] and not never["within_bound"]
    assert never["read_committed_stall_s"] is None and never["lost"] == 2


def test_a_rewind_after_an_abort_explains_the_nonmonotonic_poll():
    log = pd.DataFrame({"msg_id": [f"m{i}" for i in range(4)], "partition": 0, "offset": range(4)})
    polls = pd.DataFrame({"partition": 0, "offset": [0, 1, 0, 1, 2, 3], "worker": 0,
                          "t": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]})
    events = pd.DataFrame({"kind": [ABORT], "worker": [0], "t": [2.5]})
    cases = an.poll_cases(polls, log, events)
    assert list(cases["kind"]) == [NONMONOTONIC_POLL]
    assert cases.iloc[0].after_abort and "aborted transaction" in cases.iloc[0].cause
    assert not an.poll_cases(polls, log).iloc[0].after_abort  # without the abort: unexplained


@pytest.mark.kafka
def test_an_abort_without_the_rewind_loses_its_batch_and_with_it_nothing(cluster):
    runs = {rewind: run_consumer(ConsumerExperiment(model="exactly-once", messages=20,
                                                    transaction_size=5, abort_at=(7,), rewind=rewind),
                                 cluster).summary
            for rewind in (False, True)}
    skipped, rewound = runs[False], runs[True]
    assert (skipped["aborts"], skipped["lost"], skipped["skipped_by_consumer"]) == (1, 5, 5)
    assert (rewound["aborts"], rewound["lost"], rewound["duplicated"]) == (1, 0, 0)
    assert rewound["nonmonotonic_polls"] == rewound["nonmonotonic_polls_explained"] == 1


@pytest.mark.kafka
def test_a_hanging_transaction_stalls_read_committed_until_its_timeout(cluster):
    s = run_hanging(HangingTransaction(transaction_timeout_ms=1000, records=2), cluster).summary
    assert s["within_bound"], s
    assert s["read_uncommitted_stall_s"] < 1.0 and s["read_committed_saw_hanging"] == 0
    assert s["aborted_reads"] == 2 and s["lost"] == 0
    left = [p for p in psutil.Process().children(recursive=True)
            if "hanging-transaction" in " ".join(p.cmdline())]
    assert not left, "the paused producer was left behind"


def test_the_consumer_panel_varies_the_rewind():
    from deliverylab.widgets import consumer_panel

    panel = consumer_panel(model="exactly-once", crash_point=None, messages=30, abort_at=(15,),
                           rewind=False, show=("rewind", "messages"), cluster=object())
    assert (panel.spec().rewind, panel.spec().abort_at) == (False, (15,))
    panel.fields["rewind"].value = True
    assert panel.spec().rewind and not panel.spec(raw=True).rewind
    assert "rewind" not in consumer_panel(cluster=object()).fields  # not shown unless asked for


def test_the_hanging_timeline_draws_both_readers_and_the_bound():
    from deliverylab.plots import hanging_timeline
    from deliverylab.results import Result

    events = stall_events(rc_at=3.6)
    reads = pd.DataFrame([{"t": t, **json.loads(d)} for k, d, t in events.itertuples(index=False)
                          if k == READ])
    summary = stall_summary(events, readback(COMMITTED), 3000, 1000)
    fig = hanging_timeline(Result("hanging-transaction", {}, reads, reads, events, summary))
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["read_uncommitted", "read_committed"]
    assert len(ax.lines) == 4  # opened, the timeout, the bound, the commit after it
    # each fetch is one dot, labelled with the number of records it read (2 + 2 + 2 here)
    assert sorted(t.get_text() for t in ax.texts) == ["×2", "×2", "×2"]
    opened, *_, commit = ax.lines  # 0.5 s apart here, 0.1 s in a run: they must not look alike
    assert (opened.get_color(), opened.get_linestyle()) != (commit.get_color(), commit.get_linestyle())
    assert opened.get_color() != commit.get_color()


def test_unseen_over_time_holds_the_committed_records_until_each_reader_reads_them():
    from deliverylab.stall_counts import unseen_over_time

    stalled = unseen_over_time(stall_events(rc_at=3.6))
    rc = stalled[stalled.reader == "read_committed"]
    ru = stalled[stalled.reader == "read_uncommitted"]
    # both committed records unseen from the commit (1.0 s) until the read_committed reader's
    # fetch at 3.6 s; the read_uncommitted reader had them at 1.1 s
    assert list(zip(rc.t, rc.unseen)) == [(1.0, 2), (3.6, 0)]
    assert list(zip(ru.t, ru.unseen)) == [(1.0, 2), (1.1, 0)]
    never = unseen_over_time(stall_events(rc_at=None))  # stalled to the end: still 2 unseen
    assert list(never[never.reader == "read_committed"].unseen) == [2]
    assert unseen_over_time(stall_events(rc_at=3.6).iloc[:1]).empty  # no commit after the hang


def test_the_unseen_figure_draws_a_step_per_reader_and_the_timeout():
    from deliverylab.plots import unseen_over_time
    from deliverylab.results import Result

    events = stall_events(rc_at=3.6)
    reads = pd.DataFrame([{"t": t, **json.loads(d)} for k, d, t in events.itertuples(index=False)
                          if k == READ])
    summary = stall_summary(events, readback(COMMITTED), 3000, 1000)
    ax = unseen_over_time(Result("hanging-transaction", {}, reads, reads, events, summary)).axes[0]
    labels = [line.get_label() for line in ax.lines]
    assert labels[:2] == ["read_uncommitted reader", "read_committed reader"]
    rc = ax.lines[1]
    assert list(rc.get_ydata()) == [2, 0, 0]  # 2 unseen until its fetch at 3.6 s, then none
    assert any("transaction.timeout.ms (3000 ms)" in label for label in labels)

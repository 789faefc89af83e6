"""The widget panels: built without Kafka; one real run on the session cluster."""
from __future__ import annotations

import pandas as pd
import pytest

from deliverylab.crash import CrashSpec
from deliverylab.vocabulary import CRASH_POINTS
from deliverylab.errors import LabError
from deliverylab.experiments import ConsumerExperiment, ProducerExperiment
from deliverylab.nemesis import seeded_fault
from deliverylab.widgets import consumer_panel, producer_panel
from deliverylab.catalog import settings_table


def _texts(panel) -> list[str]:
    return [o["data"].get("text/plain", "") for o in panel.output.outputs]


def test_crash_point_options_follow_the_model():
    panel = consumer_panel()
    points = panel.fields["crash_point"]
    assert points.options == ("none",) + CRASH_POINTS["at-least-once"]
    panel.fields["model"].value = "exactly-once"
    assert points.options == ("none",) + CRASH_POINTS["exactly-once"]
    assert points.value in CRASH_POINTS["exactly-once"]
    panel.fields["model"].value = "auto-commit"
    assert points.options == ("none",) + CRASH_POINTS["auto-commit"]


def test_a_crash_point_both_models_have_is_kept():
    panel = consumer_panel(crash_point="after-poll")
    panel.fields["model"].value = "at-most-once"
    assert panel.fields["crash_point"].value == "after-poll"


def test_spec_from_widget_values():
    panel = consumer_panel()
    panel.fields["model"].value = "at-most-once"
    panel.fields["crash_point"].value = "after-commit"
    panel.fields["crash_every"].value = 25
    panel.fields["commit_every"].value = 5
    panel.fields["messages"].value = 300
    assert panel.spec() == ConsumerExperiment(model="at-most-once", messages=300, commit_every=5,
                                              crash=CrashSpec("after-commit", every=25))
    panel.fields["crash_point"].value = "none"
    assert panel.spec().crash is None


def test_hidden_fields_keep_their_values_and_extra_kwargs_reach_the_spec():
    panel = consumer_panel(model="exactly-once", crash_point="mid-transaction", crash_every=40,
                           messages=120, show=("crash_point",), transaction_size=5)
    assert set(panel.fields) == {"crash_point"}
    assert panel.spec() == ConsumerExperiment(model="exactly-once", messages=120,
                                              crash=CrashSpec("mid-transaction", every=40),
                                              transaction_size=5)


def test_unknown_field_is_a_lab_error():
    with pytest.raises(LabError, match="no field"):
        consumer_panel(show=("modle",))


def test_bad_start_value_is_shown_not_raised():
    panel = consumer_panel(model="at-least-once", crash_point="mid-transaction")
    texts = _texts(panel)
    assert len(texts) == 1 and "no crash point 'mid-transaction'" in texts[0]
    assert "Traceback" not in texts[0]
    assert "color:#c00000" in panel.output.outputs[0]["data"]["text/html"]


def test_bad_value_on_run_is_shown_not_raised():
    # A hidden bad value reaches the spec; Run reports it without touching Kafka.
    panel = consumer_panel(commit_every=0, show=("model",))
    panel.output.outputs = ()
    assert panel.run() is None
    texts = _texts(panel)
    assert len(texts) == 1 and texts[0].startswith("commit_every=0 must be")
    assert panel.results == []
    assert panel.button.disabled is False


def test_producer_spec_from_widget_values():
    panel = producer_panel(messages=1000)
    assert panel.spec() == ProducerExperiment(
        messages=1000, config={"acks": "all", "enable.idempotence": True},
        fault=seeded_fault("kill-leader", 1000, 1))
    panel.fields["acks"].value = "1"
    panel.fields["enable.idempotence"].value = False
    panel.fields["max.in.flight.requests.per.connection"].value = 5
    panel.fields["fault"].value = "none"
    assert panel.spec() == ProducerExperiment(
        messages=1000, config={"acks": "1", "enable.idempotence": False,
                               "max.in.flight.requests.per.connection": 5}, fault=None)


def test_producer_panel_varies_the_application_resend_and_unclean_election():
    # issue 24: the application that dies before flush (and resends, or not), notebook 08, and
    # unclean election on the run's topic, notebook 07
    panel = producer_panel(messages=600, fault="kill-leader-alone", show=("app_resend", "unclean"))
    assert panel.spec().crash is None and panel.spec().topic_config == {}
    panel.fields["app_resend"].value = "resend"
    kills = CrashSpec("before-flush", at=(100, 300, 500))
    assert (panel.spec().crash, panel.spec().resend) == (kills, True)
    panel.fields["app_resend"].value = "crash"
    assert (panel.spec().crash, panel.spec().resend) == (kills, False)
    panel.fields["unclean"].value = True
    assert panel.spec().topic_config == {"min.insync.replicas": "1",
                                         "unclean.leader.election.enable": "true"}
    panel.spec().check()  # a run that can happen: nothing refused before a process starts


def test_consumer_panel_varies_the_input_topics_retention():
    panel = consumer_panel(crash_point=None, messages=60, show=("retention_ms",), stall_at=10,
                           stall_ms=5000, input_rate=300)
    assert panel.spec().topic_config["retention.ms"] == "604800000"
    panel.fields["retention_ms"].value = 2000
    assert panel.spec().topic_config == {"retention.ms": "2000", "segment.ms": "100"}
    panel.spec().check()


def test_producer_bad_config_is_shown_not_raised():
    panel = producer_panel(config={"acks": "all", "enable.idempotance": True})
    texts = _texts(panel)
    assert len(texts) == 1 and "not a librdkafka configuration key" in texts[0]


def test_settings_table():
    table = settings_table()
    assert list(table.columns) == ["librdkafka key", ".NET property", "librdkafka default", "meaning"]
    assert {"acks", "enable.idempotence", "isolation.level", "group.instance.id"} <= set(table["librdkafka key"])
    two = settings_table(["acks", "EnableIdempotence"])
    assert list(two["librdkafka key"]) == ["acks", "enable.idempotence"]
    assert two[".NET property"].iloc[1] == "EnableIdempotence"
    assert isinstance(settings_table("linger.ms"), pd.DataFrame)
    with pytest.raises(LabError, match="not in the course's settings table"):
        settings_table(["ackz"])


def test_settings_table_shows_the_whole_meaning():
    # pandas cuts a cell at display.max_colwidth (50) in text and HTML: the table must not.
    table = settings_table(["request.timeout.ms", "partitioner"])
    longest = max(table["meaning"], key=len)
    assert len(longest) > 50
    html = table._repr_html_()
    assert longest.replace("'", "&#39;") in html or longest in html, "the HTML cut the meaning"
    assert all(word in repr(table) for word in ("REQUEST_TIMED_OUT", "Partitioner.Murmur2Random"))
    assert "enforced by the broker" in table["meaning"].iloc[0]  # librdkafka CONFIGURATION.md
    assert settings_table("partitioner")["librdkafka default"].iloc[0] == "consistent_random"


def test_show_worker_shows_the_real_loop():
    from deliverylab.widgets import show_worker

    text = show_worker("auto-commit-store").data
    assert "workers/auto_commit.py" in text and "def run_store(" in text
    assert "consumer.store_offsets(message=msg)" in text  # the line the lesson is about
    assert "def run(" in show_worker("at-least-once").data
    with pytest.raises(LabError, match="no worker for 'input'"):
        show_worker("input")


def test_show_worker_shows_the_callbacks_and_helpers_named():
    from deliverylab.widgets import show_worker

    text = show_worker("producer", "ReportBook.on_delivery").data
    assert "def run(" in text and "def on_delivery(self, err, msg)" in text
    assert "consumer.acknowledge(msg" in show_worker("share", "commit").data
    stage = show_worker("retry-stage-0", "Stage.commit").data  # a partial's function, shown
    assert "def run_stage(" in stage and "def commit(self)" in stage
    group = show_worker("at-least-once", "membership.Membership").data  # another worker module
    assert "workers/membership.py" in group and "def _revoked(" in group
    with pytest.raises(LabError, match="no 'ReportBook.on_send'"):
        show_worker("producer", "ReportBook.on_send")


def test_a_runs_warnings_are_shown_under_its_counts():
    from deliverylab.results import Result

    def fake_run(spec, **_):  # no Kafka: the panel's display is under test, not the engine
        messages = pd.DataFrame({"msg_id": ["m000000"], "index": [0], "outcome": ["delivered-once"]})
        timeline = pd.DataFrame({"t": [0.1], "index": [0], "copy": [1]})
        events = pd.DataFrame({"t": [0.0], "kind": ["start"], "worker": [0], "detail": [""]})
        return Result("consumer", {"label": "fake"}, messages, timeline, events,
                      {"label": "fake", "sent": 1}, warnings=["Nothing was committed before any of the 2 crashes"])

    panel = consumer_panel(messages=10, crash_every=5)
    panel._runner = fake_run
    panel.run()
    assert any("⚠ Nothing was committed" in t for t in _texts(panel)), _texts(panel)


@pytest.mark.kafka
def test_run_button_runs_an_experiment(cluster):
    panel = consumer_panel(messages=60, crash_every=20, cluster=cluster)
    seen = []
    panel.progress.observe(lambda ch: seen.append(ch["new"]), names="value")
    panel.button.click()
    assert panel.progress.value == panel.progress.max == 60
    assert seen and seen[-1] == 60
    assert panel.results[-1].summary["sent"] == 60
    kinds = [set(o["data"]) for o in panel.output.outputs]
    assert any("image/png" in k for k in kinds), panel.output.outputs
    assert any("text/html" in k for k in kinds)
    assert panel.button.disabled is False


def test_retry_panel_builds_its_spec_and_shows_stage_errors():
    from deliverylab.experiments import RetryPipeline, failure_plan
    from deliverylab.results import RetryResult
    from deliverylab.retry_counts import count_places
    from deliverylab.widgets import retry_panel

    panel = retry_panel(messages=40, delays_ms=(50, 150), seed=5)
    assert panel.spec().crash_at is None and panel.spec().seed == 5
    panel.fields["crash"].value = True
    assert panel.spec().crash_at == 20  # "crash the main stage halfway"
    assert not panel.output.outputs
    too_many = retry_panel(messages=10**7)
    assert "limit of 1,000,000" in str(too_many.output.outputs)
    # a run whose stage failed shows the stage's error under its counts
    plan = failure_plan(RetryPipeline(messages=4)).set_index("msg_id")
    result = RetryResult({"mode": "retry-topics"}, count_places(plan, pd.DataFrame()), pd.DataFrame(),
                         pd.DataFrame(), {"mode": "retry-topics", "sent": 4, "lost": 4},
                         {"errors": ["retry-stage-1: boom"]})
    panel._show_result(result)
    assert "Stage errors: retry-stage-1: boom" in str(panel.output.outputs)

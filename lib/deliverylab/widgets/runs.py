"""The consumer and producer panels: a delivery model under a crash schedule, producer settings
under a broker fault."""
from __future__ import annotations

from typing import Any, Sequence

import ipywidgets as w

from ..catalog import SAFE
from ..cluster import Cluster
from ..crash import CrashSpec
from ..experiments import (ConsumerExperiment, ProducerExperiment, retention_config, run_consumer,
                           run_producer)
from ..nemesis import FAULTS, FaultSpec, seeded_fault
from ..vocabulary import AT_LEAST_ONCE, BEFORE_FLUSH, CRASH_POINTS, MODELS
from ..errors import FaultUnavailable, LabError
from .panel import LAYOUT, NO_CRASH, Panel, check_show, slider

CONSUMER_SHOWN = ("model", "crash_point", "crash_every", "commit_every", "messages")  # by default
# rewind: exactly-once with abort_at; retention_ms: the input topic's (with the lag notebook 01
# gives in spec_kwargs: stall_at, stall_ms, input_rate, the small fetch queue)
CONSUMER_FIELDS = (*CONSUMER_SHOWN, "rewind", "retention_ms")
PRODUCER_SHOWN = ("acks", "enable.idempotence", "max.in.flight.requests.per.connection",
                  "fault", "messages")
# app_resend: the application dies before flush (and resends, or not), notebook 08;
# unclean: unclean.leader.election.enable on the run's topic, notebook 07
PRODUCER_FIELDS = (*PRODUCER_SHOWN, "app_resend", "unclean")
RETENTIONS = (("7 days (Kafka's default)", 604_800_000), ("2 s", 2000), ("10 s", 10_000))
APP_RESEND = (("no application crash", None), ("dies before flush, 3 times; no resend", "crash"),
              ("dies before flush, 3 times; resends", "resend"))
CONSUMER_COLUMNS = ("label", "sent", "delivered_once", "lost", "duplicated", "crashes", "aborts",
                    "aborted_reads", "store_duplicated", "skipped_by_consumer", "gone_from_log",
                    "anomalies", "elapsed_s")
PRODUCER_COLUMNS = ("label", "fault", "sent", "acked", "delivered_once", "duplicated",
                    "acked_but_lost", "failed_reported", "unacked_but_stored", "reordered_keys",
                    "possibly_persisted", "possibly_persisted_in_log", "anomalies", "elapsed_s")

class ConsumerPanel(Panel):
    """A consumer experiment panel; see `consumer_panel`."""

    columns = CONSUMER_COLUMNS

    def __init__(self, model: str, crash_point: str | None, crash_every: int, messages: int,
                 commit_every: int | None, show: Sequence[str], cluster: Cluster | None,
                 **spec_kwargs: Any) -> None:
        check_show(show, CONSUMER_FIELDS)
        self.shown = tuple(show)
        self.values = {"model": model, "crash_point": crash_point or NO_CRASH,
                       "crash_every": crash_every, "messages": messages,
                       "commit_every": commit_every,
                       "rewind": spec_kwargs.pop("rewind", True),
                       "retention_ms": spec_kwargs.pop("retention_ms", None)}
        self.spec_kwargs = spec_kwargs
        fields: dict[str, w.Widget] = {}
        if "model" in show:
            fields["model"] = w.Dropdown(options=MODELS, description="delivery model",
                                         value=model if model in MODELS else MODELS[1],
                                         style=LAYOUT)
        if "crash_point" in show:
            fields["crash_point"] = w.Dropdown(description="crash point", style=LAYOUT,
                                               options=self._points(fields["model"].value
                                                                    if "model" in fields else model))
            if self.values["crash_point"] in fields["crash_point"].options:
                fields["crash_point"].value = self.values["crash_point"]
        if "crash_every" in show:
            fields["crash_every"] = slider("crash every K-th", crash_every, 1,
                                            max(500, messages if isinstance(messages, int) else 0))
        if "commit_every" in show:
            fields["commit_every"] = slider("commit every", commit_every, 1, 100)
        if "messages" in show:
            fields["messages"] = slider("messages", messages, 10, 2000, 10)
        if "rewind" in show:  # exactly-once with abort_at: seek back after an abort, or not
            fields["rewind"] = w.Checkbox(value=bool(self.values["rewind"]), style=LAYOUT,
                                          description="rewind to the committed offsets after an abort")
        if "retention_ms" in show:  # the input topic's retention.ms, segments rolled every 100 ms
            known = [v for _, v in RETENTIONS]
            fields["retention_ms"] = w.Dropdown(
                options=RETENTIONS, description="retention.ms", style=LAYOUT,
                value=self.values["retention_ms"] if self.values["retention_ms"] in known else known[0])
        super().__init__(fields, run_consumer, cluster)
        if "model" in fields:
            fields["model"].observe(self._model_changed, names="value")
        self._check_start()

    @staticmethod
    def _points(model: str) -> tuple[str, ...]:
        return (NO_CRASH,) + CRASH_POINTS.get(model, ())

    def _model(self) -> str:
        return self.fields["model"].value if "model" in self.fields else self.values["model"]

    def _model_changed(self, change: dict[str, Any]) -> None:
        if "crash_point" not in self.fields:
            return
        dropdown = self.fields["crash_point"]
        before = dropdown.value
        options = self._points(change["new"])
        dropdown.options = options
        dropdown.value = before if before in options else (options[1] if len(options) > 1
                                                           else NO_CRASH)

    def _value(self, name: str, raw: bool = False) -> Any:
        return self.values[name] if raw or name not in self.fields else self.fields[name].value

    def spec(self, raw: bool = False) -> ConsumerExperiment:
        """The ConsumerExperiment the widgets describe (not yet checked); raw=True: the one the
        panel was created with, before widgets adjusted any value to their options."""
        point = self._value("crash_point", raw)
        crash = None if point in (None, NO_CRASH) else CrashSpec(point, every=self._value("crash_every", raw))
        kwargs = dict(self.spec_kwargs)
        retention = self._value("retention_ms", raw)
        if retention is not None:
            kwargs["topic_config"] = {**kwargs.get("topic_config", {}), **retention_config(retention)}
        return ConsumerExperiment(model=self._value("model", raw), messages=self._value("messages", raw),
                                  crash=crash, commit_every=self._value("commit_every", raw),
                                  rewind=self._value("rewind", raw), **kwargs)


def consumer_panel(model: str = AT_LEAST_ONCE, crash_point: str | None = "after-process",
                   crash_every: int = 45, messages: int = 200, commit_every: int | None = 10,
                   show: Sequence[str] = CONSUMER_SHOWN, cluster: Cluster | None = None,
                   **spec_kwargs: Any) -> ConsumerPanel:
    """A panel that runs a ConsumerExperiment: the `show` fields become widgets, the others keep
    the values given here. Extra keyword arguments (e.g. transaction_size=10) go to the spec.
    Every run's Result is appended to `panel.results`. crash_every 45, not a multiple of 10: with
    10-input batches and transactions a crash then falls mid-batch, so mid-transaction differs
    from before-commit-transaction (at 50 both struck a batch's last input)."""
    return ConsumerPanel(model, crash_point, crash_every, messages, commit_every, show, cluster,
                         **spec_kwargs)


class ProducerPanel(Panel):
    """A producer experiment panel; see `producer_panel`."""

    columns = PRODUCER_COLUMNS
    _ACKS = (("0", "0"), ("1", "1"), ("all", "all"))
    _IN_FLIGHT = (("(librdkafka default)", None), ("1", 1), ("5", 5), ("1000000", 1000000))

    def __init__(self, config: dict[str, Any], fault: str, messages: int, show: Sequence[str],
                 cluster: Cluster | None, seed: int, **spec_kwargs: Any) -> None:
        check_show(show, PRODUCER_FIELDS)
        self.shown = tuple(show)
        self.config = dict(config) if isinstance(config, dict) else config
        self.values = {"fault": fault, "messages": messages,
                       "app_resend": spec_kwargs.pop("app_resend", None),
                       "unclean": spec_kwargs.pop("unclean", False)}
        self.seed = seed
        self.spec_kwargs = spec_kwargs
        conf = self.config if isinstance(self.config, dict) else {}
        fields: dict[str, w.Widget] = {}
        if "acks" in show:
            acks = {"-1": "all"}.get(str(conf.get("acks", "all")), str(conf.get("acks", "all")))
            fields["acks"] = w.Dropdown(options=self._ACKS, description="acks (Acks)",
                                        value=acks if acks in ("0", "1", "all") else "all",
                                        style=LAYOUT)
        if "enable.idempotence" in show:
            fields["enable.idempotence"] = w.Checkbox(
                value=str(conf.get("enable.idempotence", False)).lower() == "true",
                description="enable.idempotence (EnableIdempotence)", style=LAYOUT)
        if "max.in.flight.requests.per.connection" in show:
            value = conf.get("max.in.flight.requests.per.connection")
            known = [v for _, v in self._IN_FLIGHT]
            fields["max.in.flight.requests.per.connection"] = w.Dropdown(
                options=self._IN_FLIGHT, value=value if value in known else None,
                description="max.in.flight (MaxInFlight)", style=LAYOUT)
        if "fault" in show:
            fields["fault"] = w.Dropdown(options=FAULTS, value=fault if fault in FAULTS else "none",
                                         description="broker fault", style=LAYOUT)
        if "messages" in show:
            fields["messages"] = slider("messages", messages, 100, 5000, 100)
        if "app_resend" in show:
            known = [v for _, v in APP_RESEND]
            fields["app_resend"] = w.Dropdown(
                options=APP_RESEND, description="the application", style=LAYOUT,
                value=self.values["app_resend"] if self.values["app_resend"] in known else None)
        if "unclean" in show:  # with kill-leader-alone: a replica outside the ISR may be elected
            fields["unclean"] = w.Checkbox(value=bool(self.values["unclean"]), style=LAYOUT,
                                           description="unclean.leader.election.enable "
                                                       "(min.insync.replicas=1)")
        super().__init__(fields, run_producer, cluster)
        self._check_start()

    def spec(self, raw: bool = False) -> ProducerExperiment:
        """The ProducerExperiment the widgets describe (not yet checked); raw=True: the one the
        panel was created with."""
        if not isinstance(self.config, dict):
            return ProducerExperiment(config=self.config, **self.spec_kwargs)  # check() explains
        config = dict(self.config)
        for key in ("acks", "enable.idempotence", "max.in.flight.requests.per.connection"):
            if key in self.fields and not raw:
                value = self.fields[key].value
                if value is None:
                    config.pop(key, None)
                else:
                    config[key] = value
        fields = {} if raw else self.fields
        messages = fields["messages"].value if "messages" in fields else self.values["messages"]
        kind = fields["fault"].value if "fault" in fields else self.values["fault"]
        if kind not in FAULTS:
            raise LabError(f"Unknown broker fault {kind!r}.", f"Use one of {', '.join(FAULTS)}.")
        fault = seeded_fault(kind, messages, self.seed) if isinstance(messages, int) else None
        kwargs = dict(self.spec_kwargs)
        app = fields["app_resend"].value if "app_resend" in fields else self.values["app_resend"]
        if app is not None and isinstance(messages, int):  # three kills, each in a third's middle
            kwargs["crash"] = CrashSpec(BEFORE_FLUSH, at=tuple(messages * k // 6 for k in (1, 3, 5)))
            kwargs["resend"] = app == "resend"
        if fields["unclean"].value if "unclean" in fields else self.values["unclean"]:
            kwargs["topic_config"] = {**kwargs.get("topic_config", {}), "min.insync.replicas": "1",
                                      "unclean.leader.election.enable": "true"}
        return ProducerExperiment(messages=messages, config=config, fault=fault, seed=self.seed,
                                  **kwargs)


def producer_panel(config: dict[str, Any] | None = None, fault: str = "kill-leader",
                   messages: int = 1000, show: Sequence[str] = PRODUCER_SHOWN,
                   cluster: Cluster | None = None, seed: int = 1,
                   **spec_kwargs: Any) -> ProducerPanel:
    """A panel that runs a ProducerExperiment under a seeded broker fault. `config` holds
    librdkafka keys verbatim; the shown keys are overridden by their widgets (max.in.flight's
    "(librdkafka default)" leaves the key unset). Every run's Result is in `panel.results`."""
    if config is None:
        config = dict(SAFE)
    return ProducerPanel(config, fault, messages, show, cluster, seed, **spec_kwargs)


def fault_runs_here(cluster: Cluster, fault: str) -> bool:
    """Whether fault `fault` can run on this cluster and machine. Where it cannot (a network fault
    without root or nftables, on macOS, on an external cluster), shows the lab's one paragraph
    saying why, and returns False: the notebook then skips that experiment, never with a traceback.
    (`deliverylab cluster doctor` prints the same for every fault.)"""
    from IPython.display import Markdown, display

    try:
        FaultSpec(fault, at_index=1).check(cluster)
    except FaultUnavailable as exc:
        display(Markdown(f"**Skipped on this machine.** {exc.paragraph()}"))
        return False
    return True

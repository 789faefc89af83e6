"""ipywidgets panels: pick a delivery model or producer settings, press Run, see what happened.

A panel only builds a spec from its widgets, calls ``run_consumer`` / ``run_producer`` with a
progress callback, and shows the figures of ``plots`` and a few summary columns. Every run's
Result is kept in ``panel.results`` so a later notebook cell can look at it.

Output is written as plain display-data dicts (a PNG, an HTML table), so a panel works the same
in JupyterLab, under papermill and in a test without a kernel.
"""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any, Callable, Sequence

import ipywidgets as w
import pandas as pd
from matplotlib.figure import Figure

from . import plots
from .catalog import SETTINGS, settings_table  # re-exported: notebooks import settings_table from here
from .cluster import Cluster
from .crash import CrashSpec
from .errors import LabError
from .experiments import (ConsumerExperiment, ProducerExperiment, RetryPipeline, ShareExperiment,
                          run_consumer, run_producer, run_retry_pipeline, run_share)
from .experiments.retry import MODES as RETRY_MODES
from .experiments.share import ACK_MODES
from .nemesis import FAULTS, seeded_fault
from .results import Result
from .vocabulary import AT_LEAST_ONCE, AT_MOST_ONCE, CRASH_POINTS, INPUT, MODELS, SHARE

__all__ = ["ConsumerPanel", "ProducerPanel", "SETTINGS", "consumer_panel", "producer_panel",
           "result_figure", "settings_table", "show_worker"]

NO_CRASH = "none"
CONSUMER_FIELDS = ("model", "crash_point", "crash_every", "commit_every", "messages")
PRODUCER_FIELDS = ("acks", "enable.idempotence", "max.in.flight.requests.per.connection",
                   "fault", "messages")
CONSUMER_COLUMNS = ("label", "sent", "delivered_once", "lost", "duplicated", "crashes",
                    "aborted_reads", "store_duplicated", "elapsed_s")
PRODUCER_COLUMNS = ("label", "fault", "sent", "acked", "delivered_once", "duplicated",
                    "acked_but_lost", "failed_reported", "unacked_but_stored", "reordered_keys",
                    "elapsed_s")
_LAYOUT = {"description_width": "160px"}
_WIDE = w.Layout(width="520px")  # room for the slider track beside the 160 px description


# --- output helpers ----------------------------------------------------------------------------
def result_figure(result: Result) -> Figure:
    """Outcome bars and the timeline of one run, side by side, in one Figure."""
    fig = Figure(figsize=(13.0, 4.0), layout="constrained")
    left, right = fig.subplots(1, 2, width_ratios=[1, 2])
    plots.outcome_bars(result, ax=left)
    plots.timeline(result, ax=right)
    return fig


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _show(out: w.Output, data: dict[str, str]) -> None:
    out.outputs = tuple(out.outputs) + ({"output_type": "display_data", "data": data,
                                         "metadata": {}},)


def _show_error(out: w.Output, exc: BaseException) -> None:
    text = exc.paragraph() if isinstance(exc, LabError) else f"{type(exc).__name__}: {exc}"
    _show(out, {"text/plain": text,
                "text/html": f'<div style="color:#c00000">{html.escape(text)}</div>'})


def _warnings_html(warnings: Sequence[str]) -> str:
    items = "".join(f"<li>⚠ {html.escape(x)}</li>" for x in warnings)
    return f'<ul style="color:#9c5700">{items}</ul>'


def show_worker(model: str) -> Any:
    """The real loop of a delivery model's worker (its `run` function in workers/), with syntax
    highlighting, so a notebook shows the code that ran, not a paraphrase that can drift."""
    import inspect

    from IPython.display import Markdown

    from .workers.__main__ import ROLES
    if model not in ROLES or model == INPUT:
        raise LabError(f"There is no worker for {model!r}.",
                       f"Use one of {', '.join(MODELS)} or 'producer'.")
    func = ROLES[model]
    path = Path(inspect.getsourcefile(func) or "").relative_to(Path(__file__).parent)
    return Markdown(f"`deliverylab/{path.as_posix()}`, `{func.__name__}()`:\n\n"
                    f"```python\n{inspect.getsource(func).rstrip()}\n```")


def _summary_frame(result: Result, columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame([{c: result.summary[c] for c in columns if c in result.summary}])


# --- the panels --------------------------------------------------------------------------------
class _Panel(w.VBox):
    """Fields, a Run button, a progress bar and an output area; subclasses build the spec."""

    columns: Sequence[str] = ()

    def __init__(self, fields: dict[str, w.Widget], runner: Callable[..., Result],
                 cluster: Cluster | None) -> None:
        self.fields = fields
        self.results: list[Result] = []
        self.cluster = cluster
        self._runner = runner
        self.button = w.Button(description="Run", button_style="primary", icon="play")
        self.progress = w.IntProgress(value=0, min=0, max=1, description="progress",
                                      style=_LAYOUT)
        self.output = w.Output()
        self.button.on_click(lambda _: self.run())
        super().__init__(list(fields.values()) + [w.HBox([self.button, self.progress]),
                                                  self.output])

    def spec(self, raw: bool = False) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def _check_start(self) -> None:
        """A bad starting value is reported at once, in the output area, never raised."""
        try:
            self.spec(raw=True).check()
        except LabError as exc:
            _show_error(self.output, exc)

    def _progress(self, done: int, total: int) -> None:
        self.progress.max = max(int(total), 1)
        self.progress.value = min(int(done), self.progress.max)

    def run(self) -> Result | None:
        """What the Run button does; returns the Result (None when the run failed)."""
        self.button.disabled = True
        self.output.outputs = ()
        self.progress.value = 0
        try:
            spec = self.spec()
            spec.check()
            self.progress.max = spec.messages
            result = self._runner(spec, cluster=self.cluster, progress=self._progress)
        except Exception as exc:  # a LabError is a paragraph; anything else, one line, no traceback
            _show_error(self.output, exc)
            return None
        except KeyboardInterrupt:  # a kernel interrupt: the supervisor has killed the worker
            _show_error(self.output, LabError("Interrupted: the run was stopped and its worker "
                                              "killed; nothing was counted.", "Press Run to start again."))
            return None
        finally:
            self.button.disabled = False
        self.results.append(result)
        self._show_result(result)
        return result

    def _figure(self, result: Any) -> Figure:
        return result_figure(result)

    def _show_result(self, result: Any) -> None:
        _show(self.output, {"image/png": _png(self._figure(result)),
                            "text/plain": f"<figure: {result.label}>"})
        table = _summary_frame(result, self.columns)
        _show(self.output, {"text/html": table.to_html(index=False),
                            "text/plain": table.to_string(index=False)})
        warnings = getattr(result, "warnings", [])
        if warnings:  # a degenerate run says so beside its counts
            _show(self.output, {"text/html": _warnings_html(warnings),
                                "text/plain": "\n".join(f"⚠ {x}" for x in warnings)})


def _slider(description: str, value: Any, low: int, high: int, step: int = 1) -> w.IntSlider:
    value = value if isinstance(value, int) and not isinstance(value, bool) else low
    return w.IntSlider(value=min(max(value, low), high), min=low, max=high, step=step,
                       description=description, style=_LAYOUT, layout=_WIDE,
                       continuous_update=False)


def _check_show(show: Sequence[str], allowed: Sequence[str]) -> None:
    unknown = [s for s in show if s not in allowed]
    if unknown:
        raise LabError(f"The panel has no field {unknown[0]!r}.", f"Show some of: {', '.join(allowed)}.")


class ConsumerPanel(_Panel):
    """A consumer experiment panel; see `consumer_panel`."""

    columns = CONSUMER_COLUMNS

    def __init__(self, model: str, crash_point: str | None, crash_every: int, messages: int,
                 commit_every: int | None, show: Sequence[str], cluster: Cluster | None,
                 **spec_kwargs: Any) -> None:
        _check_show(show, CONSUMER_FIELDS)
        self.shown = tuple(show)
        self.values = {"model": model, "crash_point": crash_point or NO_CRASH,
                       "crash_every": crash_every, "messages": messages,
                       "commit_every": commit_every}
        self.spec_kwargs = spec_kwargs
        fields: dict[str, w.Widget] = {}
        if "model" in show:
            fields["model"] = w.Dropdown(options=MODELS, description="delivery model",
                                         value=model if model in MODELS else MODELS[1],
                                         style=_LAYOUT)
        if "crash_point" in show:
            fields["crash_point"] = w.Dropdown(description="crash point", style=_LAYOUT,
                                               options=self._points(fields["model"].value
                                                                    if "model" in fields else model))
            if self.values["crash_point"] in fields["crash_point"].options:
                fields["crash_point"].value = self.values["crash_point"]
        if "crash_every" in show:
            fields["crash_every"] = _slider("crash every K-th", crash_every, 1,
                                            max(500, messages if isinstance(messages, int) else 0))
        if "commit_every" in show:
            fields["commit_every"] = _slider("commit every", commit_every, 1, 100)
        if "messages" in show:
            fields["messages"] = _slider("messages", messages, 10, 2000, 10)
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
        return ConsumerExperiment(model=self._value("model", raw), messages=self._value("messages", raw),
                                  crash=crash, commit_every=self._value("commit_every", raw),
                                  **self.spec_kwargs)


def consumer_panel(model: str = AT_LEAST_ONCE, crash_point: str | None = "after-process",
                   crash_every: int = 50, messages: int = 200, commit_every: int | None = 10,
                   show: Sequence[str] = CONSUMER_FIELDS, cluster: Cluster | None = None,
                   **spec_kwargs: Any) -> ConsumerPanel:
    """A panel that runs a ConsumerExperiment: the `show` fields become widgets, the others keep
    the values given here. Extra keyword arguments (e.g. transaction_size=10) go to the spec.
    Every run's Result is appended to `panel.results`."""
    return ConsumerPanel(model, crash_point, crash_every, messages, commit_every, show, cluster,
                         **spec_kwargs)


class ProducerPanel(_Panel):
    """A producer experiment panel; see `producer_panel`."""

    columns = PRODUCER_COLUMNS
    _ACKS = (("0", "0"), ("1", "1"), ("all", "all"))
    _IN_FLIGHT = (("(librdkafka default)", None), ("1", 1), ("5", 5), ("1000000", 1000000))

    def __init__(self, config: dict[str, Any], fault: str, messages: int, show: Sequence[str],
                 cluster: Cluster | None, seed: int, **spec_kwargs: Any) -> None:
        _check_show(show, PRODUCER_FIELDS)
        self.shown = tuple(show)
        self.config = dict(config) if isinstance(config, dict) else config
        self.values = {"fault": fault, "messages": messages}
        self.seed = seed
        self.spec_kwargs = spec_kwargs
        conf = self.config if isinstance(self.config, dict) else {}
        fields: dict[str, w.Widget] = {}
        if "acks" in show:
            acks = {"-1": "all"}.get(str(conf.get("acks", "all")), str(conf.get("acks", "all")))
            fields["acks"] = w.Dropdown(options=self._ACKS, description="acks (Acks)",
                                        value=acks if acks in ("0", "1", "all") else "all",
                                        style=_LAYOUT)
        if "enable.idempotence" in show:
            fields["enable.idempotence"] = w.Checkbox(
                value=str(conf.get("enable.idempotence", False)).lower() == "true",
                description="enable.idempotence (EnableIdempotence)", style=_LAYOUT)
        if "max.in.flight.requests.per.connection" in show:
            value = conf.get("max.in.flight.requests.per.connection")
            known = [v for _, v in self._IN_FLIGHT]
            fields["max.in.flight.requests.per.connection"] = w.Dropdown(
                options=self._IN_FLIGHT, value=value if value in known else None,
                description="max.in.flight (MaxInFlight)", style=_LAYOUT)
        if "fault" in show:
            fields["fault"] = w.Dropdown(options=FAULTS, value=fault if fault in FAULTS else "none",
                                         description="broker fault", style=_LAYOUT)
        if "messages" in show:
            fields["messages"] = _slider("messages", messages, 100, 5000, 100)
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
        return ProducerExperiment(messages=messages, config=config, fault=fault, seed=self.seed,
                                  **self.spec_kwargs)


def producer_panel(config: dict[str, Any] | None = None, fault: str = "kill-leader",
                   messages: int = 1000, show: Sequence[str] = PRODUCER_FIELDS,
                   cluster: Cluster | None = None, seed: int = 1,
                   **spec_kwargs: Any) -> ProducerPanel:
    """A panel that runs a ProducerExperiment under a seeded broker fault. `config` holds
    librdkafka keys verbatim; the shown keys are overridden by their widgets (max.in.flight's
    "(librdkafka default)" leaves the key unset). Every run's Result is in `panel.results`."""
    if config is None:
        config = {"acks": "all", "enable.idempotence": True}
    return ProducerPanel(config, fault, messages, show, cluster, seed, **spec_kwargs)


# --- the retry pipeline (notebook 09) --------------------------------------------------------------
RETRY_COLUMNS = ("mode", "sent", "processed", "dead_lettered", "lost", "duplicated",
                 "reordered_keys", "crashes", "elapsed_s", "latency_max_s")


class RetryPanel(_Panel):
    """A retry pipeline panel; see `retry_panel`."""

    columns = RETRY_COLUMNS

    def __init__(self, messages: int, delays_ms: Sequence[int], cluster: Cluster | None,
                 **spec_kwargs: Any) -> None:
        self.values = {"messages": messages, "delays_ms": tuple(delays_ms)}
        self.spec_kwargs = spec_kwargs
        fields: dict[str, w.Widget] = {
            "mode": w.Dropdown(options=RETRY_MODES, value="retry-topics", description="mode",
                               style=_LAYOUT),
            "transient_rate": w.FloatSlider(value=0.10, min=0, max=0.5, step=0.01,
                                            description="transient share", style=_LAYOUT,
                                            layout=_WIDE, continuous_update=False),
            "poison_rate": w.FloatSlider(value=0.02, min=0, max=0.2, step=0.01,
                                         description="poison share", style=_LAYOUT, layout=_WIDE,
                                         continuous_update=False),
            "crash": w.Checkbox(value=False, description="crash the main stage halfway",
                                style=_LAYOUT),
        }
        super().__init__(fields, run_retry_pipeline, cluster)
        self._check_start()

    def spec(self, raw: bool = False) -> RetryPipeline:
        f = self.fields
        messages = self.values["messages"]
        crash_at = messages // 2 if (not raw and f["crash"].value and isinstance(messages, int)) \
            else None
        return RetryPipeline(messages=messages, mode=f["mode"].value,
                             transient_rate=f["transient_rate"].value,
                             poison_rate=f["poison_rate"].value,
                             delays_ms=self.values["delays_ms"], crash_at=crash_at,
                             **self.spec_kwargs)

    def _figure(self, result: Any) -> Figure:
        return plots.place_bars(result)

    def _show_result(self, result: Any) -> None:
        super()._show_result(result)
        if result.errors:  # a stage that stopped with an error: its counts are not the whole story
            text = "Stage errors: " + "; ".join(result.errors)
            _show(self.output, {"text/plain": text,
                                "text/html": f'<div style="color:#c00000">{html.escape(text)}</div>'})


def retry_panel(messages: int = 200, delays_ms: Sequence[int] = (200, 500),
                cluster: Cluster | None = None, **spec_kwargs: Any) -> RetryPanel:
    """Mode, transient and poison shares, a crash switch, Run: shows where every message ended
    (and any stage errors). Every run's RetryResult is appended to `panel.results`."""
    return RetryPanel(messages, delays_ms, cluster, **spec_kwargs)


__all__ += ["RetryPanel", "retry_panel"]


# --- consumer groups ---------------------------------------------------------------------------
GROUP_SCENARIOS = ("a member leaves mid-run", "a member joins mid-run", "a member crashes",
                   "too slow for max.poll.interval.ms")
GROUP_COLUMNS = ("label", "sent", "delivered_once", "lost", "duplicated", "crashes", "rebalances",
                 "commit_failures", "commit_errors", "resume_s_max", "elapsed_s")


class GroupPanel(_Panel):
    """A consumer-group scenario panel; see `group_panel`."""

    columns = GROUP_COLUMNS

    def __init__(self, messages: int, cluster: Cluster | None, **spec_kwargs: Any) -> None:
        self.messages = messages
        self.spec_kwargs = spec_kwargs
        fields: dict[str, w.Widget] = {
            "scenario": w.Dropdown(options=GROUP_SCENARIOS, value=GROUP_SCENARIOS[0],
                                   description="scenario", style=_LAYOUT),
            "model": w.Dropdown(options=(AT_LEAST_ONCE, AT_MOST_ONCE), value=AT_LEAST_ONCE,
                                description="delivery model", style=_LAYOUT),
            "protocol": w.Dropdown(options=("classic / range", "classic / cooperative-sticky",
                                            "consumer (KIP-848)"), value="classic / range",
                                   description="group protocol", style=_LAYOUT),
            "static": w.Checkbox(value=False, description="static membership (group.instance.id)",
                                 style=_LAYOUT),
            "commit_on_revoke": w.Checkbox(value=False, description="commit on revoke",
                                           style=_LAYOUT),
        }
        super().__init__(fields, run_consumer, cluster)
        self._check_start()

    def spec(self, raw: bool = False) -> ConsumerExperiment:
        f, n = self.fields, self.messages
        protocol = f["protocol"].value
        group: dict[str, Any] = {"membership": "group", "members": 3, "partitions": 6,
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
            group.update(max_poll_interval_ms=6000, stall_at=n // 2, stall_ms=9000,
                         commit_interval_ms=1000)
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


__all__ += ["GroupPanel", "group_panel"]


# --- share groups ------------------------------------------------------------------------------
SHARE_COLUMNS = ("label", "sent", "delivered_once", "duplicated", "archived", "dead_lettered",
                 "lost", "deliveries", "delivery_counts", "crashes", "refused_acks",
                 "redelivery_gap_median_s", "elapsed_s")


class SharePanel(_Panel):
    """A share-group panel; see `share_panel`."""

    columns = SHARE_COLUMNS

    def __init__(self, messages: int, members: int, cluster: Cluster | None,
                 **spec_kwargs: Any) -> None:
        self.messages, self.members = messages, members
        self.spec_kwargs = spec_kwargs
        fields: dict[str, w.Widget] = {
            "ack": w.Dropdown(options=ACK_MODES, value="explicit",
                              description="acknowledgement mode", style=_LAYOUT),
            "crash": w.Dropdown(options=(NO_CRASH,) + CRASH_POINTS[SHARE], value="after-process",
                                description="crash point", style=_LAYOUT),
            "poison": w.Checkbox(value=True, description="a poison message (released each time; explicit only)",
                                 style=_LAYOUT),
            "lock_duration_ms": _slider("lock duration (ms)", 2000, 1000, 10000, 500),
            "delivery_limit": _slider("delivery limit", 3, 2, 10),
            "dead_letter": w.Checkbox(value=False, style=_LAYOUT,
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


__all__ += ["SharePanel", "share_panel"]

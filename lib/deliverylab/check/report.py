"""What a check returns: the verdict on the claim, the counts behind it, the evidence, a figure.

Three forms of one report: text (`print(report)`, the CLI), a notebook's (`report` in a cell:
HTML with the timeline figure), and JSON (`report.as_dict()`, `--json`), for a team's CI.
"""
from __future__ import annotations

import base64
import html
import io
import json
from dataclasses import dataclass, field
from typing import Any

from ..results import Result
from .verdict import Verdict, id_ranges

# The CLI's exit codes: a claim that failed, and a run that could not show anything, both fail CI.
EXIT_CODES = {"passed": 0, "failed": 1, "inconclusive": 3}
SUMMARY_KEYS = ("sent", "delivered_once", "lost", "duplicated", "duplicated_messages",
                "acked_but_lost", "unacked_but_stored", "failed_reported", "reordered_keys",
                "crashes", "restarts", "elapsed_s")


@dataclass
class Report:
    subject: str  # "my_consumer (function)" or "python my_app.py (program)"
    mode: str  # consumer | transactional | producer | program
    verdict: Verdict
    result: Result  # the counted run: messages, timeline, events, summary (plots draw it)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.verdict.passed

    @property
    def status(self) -> str:
        """passed | failed (the claim did not hold) | inconclusive (nothing could be shown)."""
        return self.verdict.status

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    @property
    def summary(self) -> dict[str, Any]:
        return {k: self.result.summary[k] for k in SUMMARY_KEYS if k in self.result.summary}

    def counts_line(self) -> str:
        s = self.summary
        parts = [f"{k.replace('_', ' ')} {v}" for k, v in s.items() if k not in ("elapsed_s",)]
        return " · ".join(parts) + f" · {s.get('elapsed_s', 0):.1f} s"

    def evidence(self) -> list[str]:
        v = self.verdict
        lines = [c.sentence() for c in v.causes]
        for what, ids in v.unexplained.items():
            lines.append(f"{what}, not explained by a crash: {id_ranges(ids)}.")
        return lines

    def __str__(self) -> str:
        v = self.verdict
        out = [f"deliverylab check: {self.subject} claims {v.claim}", v.headline(),
               f"  {self.counts_line()}"]
        if v.causes or v.unexplained:
            out.append("Evidence:")
            out += [f"  {line}" for line in self.evidence()]
        if v.fix:
            out.append(f"Likely fix: {v.fix}")
        out += [f"warning: {w}" for w in v.warnings]
        return "\n".join(out)

    def _repr_markdown_(self) -> str:
        v = self.verdict
        out = [f"**{html.escape(v.headline())}**", "",
               f"{html.escape(self.subject)} · {html.escape(self.counts_line())}", ""]
        out += [f"- {html.escape(line)}" for line in self.evidence()]
        if v.fix:
            out += ["", f"**Likely fix:** {html.escape(v.fix)}"]
        out += ["", *[f"⚠ {html.escape(w)}" for w in v.warnings]]
        return "\n".join(out)

    def figure(self) -> Any:
        """The run's timeline: each processing against the crashes (labelled with where they
        struck), restarts and faults; lost ids marked at the right edge."""
        from .. import plots

        return plots.check_timeline(self.result, title=f"{self.subject}: {self.verdict.claim} "
                                                        f"{self.status}")

    def _repr_html_(self) -> str:
        v = self.verdict
        color = {"passed": "#2ca02c", "failed": "#d62728"}.get(self.status, "#b8860b")
        items = "".join(f"<li>{html.escape(line)}</li>" for line in self.evidence())
        notes = "".join(f"<li>⚠ {html.escape(w)}</li>" for w in v.warnings)
        buf = io.BytesIO()
        self.figure().savefig(buf, format="png", dpi=90)
        img = base64.b64encode(buf.getvalue()).decode()
        return (f"<p style='color:{color};font-weight:bold'>{html.escape(v.headline())}</p>"
                f"<p>{html.escape(self.subject)} · {html.escape(self.counts_line())}</p>"
                + (f"<ul>{items}</ul>" if items else "")
                + (f"<p><b>Likely fix:</b> {html.escape(v.fix)}</p>" if v.fix else "")
                + (f"<ul>{notes}</ul>" if notes else "")
                + f"<img src='data:image/png;base64,{img}'/>")

    def as_dict(self) -> dict[str, Any]:
        return {"subject": self.subject, "mode": self.mode, "claim": self.verdict.claim,
                "status": self.status, "passed": self.passed, "summary": self.summary,
                "verdict": self.verdict.as_dict(), "evidence": self.evidence(),
                "settings": self.settings}

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), default=str)


__all__ = ["Report", "EXIT_CODES"]

"""One error type for everything a learner can get wrong, shown as one short paragraph.

IPython calls ``_render_traceback_`` when it exists, so in a notebook a LabError prints its
message and nothing else: no traceback wall for a bad setting.
"""
from __future__ import annotations


class LabError(Exception):
    """A problem the learner can fix; the message names the bad value and the fix."""

    def __init__(self, problem: str, fix: str = "") -> None:
        self.problem = problem.strip()
        self.fix = fix.strip()
        super().__init__(self.paragraph())

    def paragraph(self) -> str:
        return f"{self.problem} {self.fix}".strip()

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[31m{type(self).__name__}\x1b[0m: {self.paragraph()}"]


class FaultUnavailable(LabError):
    """A broker fault was asked of a cluster whose processes the lab does not control."""


class ClusterNotRunning(LabError):
    """No cluster answers where the lab expected one."""

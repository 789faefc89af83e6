"""One error type for everything a learner can get wrong, shown as one short paragraph.

IPython calls ``_render_traceback_`` when it exists, so in a notebook a LabError prints its
message and nothing else: no traceback wall for a bad setting.
"""
from __future__ import annotations

import re


class LabError(Exception):
    """A problem the learner can fix; the message names the bad value and the fix."""

    def __init__(self, problem: str, fix: str = "") -> None:
        self.problem = problem.strip()
        self.fix = fix.strip()
        super().__init__(self.paragraph())

    def paragraph(self) -> str:
        return f"{self.problem} {self.fix}".strip()

    def respelled(self, spelling: dict[str, str]) -> "LabError":
        """The same error in another interface's words: `spelling` maps a Python name to what
        the learner typed there (the CLI: processing_ms -> --processing-ms), so `name=value`
        reads `--name value`, `name=True` the switch alone, and a bare snake_case name its option. Checks are written once, in
        Python's words (fields.check_fields), and each interface says them in its own."""
        if not spelling:
            return self
        names = "|".join(sorted(map(re.escape, spelling), key=len, reverse=True))
        before = r"(?<![\w.\-'\"\[])"  # not inside a dotted key, an option or a quoted name
        assign = re.compile(before + f"({names})=" + r"""('([^'\n]*)'|"([^"\n]*)"|)""")
        bare = re.compile(before + f"({names})" + r"(?![\w.=(\-'])")

        flag = re.compile(before + f"({names})=True" + r"(?![\w.])")  # a switch: --keep

        def say(text: str) -> str:
            text = flag.sub(lambda m: spelling[m.group(1)], text)

            def assigned(m: re.Match) -> str:
                quoted = m.group(3) if m.group(3) is not None else m.group(4)
                return f"{spelling[m.group(1)]} " + (quoted if quoted is not None else "")
            text = assign.sub(assigned, text)
            return bare.sub(lambda m: spelling[m.group(1)] if "_" in m.group(1) or "." in m.group(1) else m.group(1), text)
        again = type(self).__new__(type(self))
        LabError.__init__(again, say(self.problem), say(self.fix))
        return again

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[31m{type(self).__name__}\x1b[0m: {self.paragraph()}"]


def require_whole(name: str, value: object, fix: str, most: int | None = None) -> None:
    """The one check for a count the learner gives (messages, keys, partitions, …): a whole
    number ≥ 1 (not a bool), and at most ``most`` when the count has a cap."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise LabError(f"{name}={value!r} must be a whole number ≥ 1.", fix)
    if most is not None and value > most:
        raise LabError(f"{name}={value:,} is more than the lab's limit of {most:,}.",
                       f"Use a number from 1 to {most:,}. {fix}")


def require_seconds(name: str, value: object, fix: str) -> None:
    """The one check for a duration the learner gives (time_limit_s, …): a number of seconds
    above 0 (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise LabError(f"{name}={value!r} must be a positive number of seconds.", fix)


class FaultUnavailable(LabError):
    """A broker fault was asked of a cluster whose processes the lab does not control."""


class ClusterNotRunning(LabError):
    """No cluster answers where the lab expected one."""

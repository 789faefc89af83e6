"""When the lab kills the code under check: a seeded plan driven by observed progress.

A plan of N crashes arms crash k once the run has handed out `thresholds()[k]` distinct input
records (spread over the middle 80 % of the input, jittered by the seed), so every crash falls
while the input is being worked through, never before it starts or after it ends. Once armed, a
crash strikes at a *gap between two of the learner's calls* (a window: after `commit()`, before
`process()`) — and only while something is at stake there (records in hand, processed but not
committed, or committed but not processed). The windows a loop has are learned as it runs; the
crashes take them in turn, from a seeded starting point, so five crashes in a loop with three
windows strike each window at least once.

Pure: no process, no Kafka; the worker (check/worker.py) and the program watcher
(check/program.py) hold the state and ask the plan.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from ..errors import LabError

# One crash per this many input records at most: fewer records between crashes and a restart
# would replay a window that the previous crash already struck.
RECORDS_PER_CRASH = 5
# An armed crash whose window does not come round within this many calls strikes at the next
# gap that has something at stake (a loop may stop making a call it made early on).
PATIENCE_CALLS = 40

Window = tuple[str, str]  # (the call that returned, the call about to be made)


def check_crashes(crashes: object, messages: int, option: str = "crashes=") -> int:
    if crashes == 0:
        return 0
    if isinstance(crashes, bool) or not isinstance(crashes, int) or crashes < 1:
        raise LabError(f"{option}{crashes!r} must be a whole number ≥ 0.",
                       f"Use e.g. {option}5 (0 runs the code without a crash, and shows nothing).")
    most = max(1, messages // RECORDS_PER_CRASH)
    if crashes > most:  # type: ignore[operator]
        raise LabError(f"{option}{crashes} is more crashes than {messages} input records can "
                       f"show (at most {most}: one crash per {RECORDS_PER_CRASH} records).",
                       "Use fewer crashes, or more records ("
                       + (f"--messages {crashes * RECORDS_PER_CRASH}" if option.startswith("-")
                          else f"messages={crashes * RECORDS_PER_CRASH}") + ").")
    return int(crashes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class CrashPlan:
    crashes: int
    messages: int
    seed: int = 1

    def thresholds(self) -> list[int]:
        """Crash k is armed once this many distinct input records were handed out (increasing)."""
        if not self.crashes:
            return []
        rng = random.Random(f"deliverylab-check:{self.seed}")
        low, high = 0.1 * self.messages, 0.9 * self.messages
        width = (high - low) / self.crashes
        out: list[int] = []
        for k in range(self.crashes):
            at = max(1, int(low + width * (k + rng.random())))
            out.append(max(at, out[-1] + 1) if out else at)
        return out

    def window(self, k: int, windows: list[Window]) -> Window | None:
        """The window crash k strikes, from the windows seen so far (None: none seen yet)."""
        if not windows:
            return None
        ordered = sorted(windows)
        start = random.Random(f"deliverylab-check-window:{self.seed}").randrange(len(ordered))
        return ordered[(start + k) % len(ordered)]


def point_name(window: Window) -> str:
    """The crash point in the course's vocabulary: 'after-commit', 'after-poll', … (the gap's
    first call), e.g. for the window (commit, process)."""
    return f"after-{window[0].replace('_', '-')}"


def describe(window: Window) -> str:
    """'after your commit() returned, before your process() call'."""
    after, before = window
    return f"after your {after}() returned, before your {before}() call"


__all__ = ["CrashPlan", "Window", "check_crashes", "point_name", "describe", "PATIENCE_CALLS",
           "RECORDS_PER_CRASH"]

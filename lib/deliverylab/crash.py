"""Named crash points inside a worker's loop. A hit is SIGKILL of the worker by itself.

Schedules are about *input message indices*: "every K-th message" crashes at indices K-1, 2K-1,
…; "probability p" draws once per index under a seed; "at" lists indices. Each scheduled index
crashes at most once across restarts (the ledger remembers), so a run always makes progress and
the number of crashes is known in advance for `every` and `at`.
"""
from __future__ import annotations

import difflib
import os
import random
import signal
from dataclasses import dataclass, field
from typing import Callable, Iterable

from .errors import LabError
from .fields import check_fields
from .vocabulary import ALL_POINTS, CRASH_POINTS, MODELS

@dataclass(frozen=True)
class CrashSpec:
    """Where and when a worker kills itself."""

    point: str
    every: int | None = None  # crash at the K-th, 2K-th, … message
    prob: float | None = None  # crash at each message with this probability (seeded)
    at: tuple[int, ...] = field(default=())  # crash at these 0-based message indices
    seed: int = 1

    def check(self, model: str) -> "CrashSpec":
        check_fields(self)
        if model not in CRASH_POINTS:
            raise LabError(f"Unknown delivery model {model!r}.", f"Use one of {', '.join(MODELS)}.")
        points = CRASH_POINTS[model]
        if self.point not in ALL_POINTS:
            close = difflib.get_close_matches(str(self.point), points, n=1)
            raise LabError(f"Unknown crash point {self.point!r}.",
                           (f"Did you mean {close[0]!r}? " if close else "") +
                           f"The crash points are {', '.join(ALL_POINTS)}; {model} has "
                           f"{', '.join(points)}.")
        if self.point not in points:
            raise LabError(f"The {model} worker has no crash point {self.point!r}.",
                           f"Choose one of its points: {', '.join(points)}.")
        chosen = sum(x is not None and x != () for x in (self.every, self.prob, self.at))
        if chosen != 1:
            raise LabError(f"Crash point {self.point!r} needs exactly one schedule "
                           f"(every={self.every!r}, prob={self.prob!r}, at={self.at!r}).",
                           "Give one of: every=K (K ≥ 1), prob=p (0 < p ≤ 1) or at=[indices].")
        if self.every is not None and (not isinstance(self.every, int) or self.every < 1):
            raise LabError(f"Crash schedule every={self.every!r} is not a whole number ≥ 1.",
                           "Use e.g. every=50 to crash at every 50th message.")
        if self.prob is not None and not (isinstance(self.prob, (int, float)) and 0 < self.prob <= 1):
            raise LabError(f"Crash probability {self.prob!r} is not in (0, 1].",
                           "Use e.g. prob=0.02 for a crash at about one message in fifty.")
        if any((not isinstance(i, int)) or i < 0 for i in self.at):
            raise LabError(f"Crash indices {list(self.at)!r} must be whole numbers ≥ 0.",
                           "List 0-based message indices, e.g. at=[10, 20].")
        return self

    def scheduled(self, index: int) -> bool:
        if self.every:
            return (index + 1) % self.every == 0
        if self.prob:
            return random.Random(f"{self.seed}:{index}").random() < self.prob
        return index in self.at

    def expected_crashes(self, messages: int) -> int | None:
        """Known up front for `every` and `at`; None for a probability."""
        if self.every:
            return messages // self.every
        if self.at:
            return len({i for i in self.at if i < messages})
        return None


# A run's spec holds its crash schedule under "crash"; a run with a second crashing role (a
# consumer run whose input producer resends, ConsumerExperiment.input_resend) holds that role's
# under "role_crash" too: {role: schedule}.
def crash_of(spec: dict, role: str | None) -> dict | None:
    """The crash schedule (as written in spec.json) of the worker `role` of a run."""
    return (spec.get("role_crash") or {}).get(role) or spec.get("crash")


_KNOWN = frozenset(ALL_POINTS)


class CrashPoints:
    """A worker's view of its crash schedule. `hit()` does not return when it fires."""

    def __init__(self, spec: CrashSpec | None, already_crashed: Iterable[int],
                 before_death: Callable[[str, int], None],
                 crashed_elsewhere: Callable[[int], bool] = lambda index: False) -> None:
        self.spec = spec
        self.done = set(already_crashed)
        self.before_death = before_death  # records the crash durably, then we die
        # Another process (a group member) may have crashed at this index since we started.
        self.crashed_elsewhere = crashed_elsewhere

    def pending(self, point: str, indices: Iterable[int]) -> list[int]:
        """The indices among `indices` a hit at `point` would still crash at, in order."""
        if self.spec is None or point != self.spec.point:
            return []
        return [i for i in sorted(indices) if i not in self.done and self.spec.scheduled(i)
                and not self.crashed_elsewhere(i)]

    def hit(self, point: str, indices: int | Iterable[int]) -> None:
        if point not in _KNOWN:  # a misspelt point in a loop would never crash: say so at once
            raise ValueError(f"{point!r} is not a crash point (vocabulary.CRASH_POINTS)")
        if self.spec is None or point != self.spec.point:
            return
        for index in ([indices] if isinstance(indices, int) else sorted(indices)):
            if index not in self.done and self.spec.scheduled(index) \
                    and not self.crashed_elsewhere(index):
                self.before_death(point, index)
                os.kill(os.getpid(), signal.SIGKILL)

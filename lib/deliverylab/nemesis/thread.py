"""The one skeleton every nemesis shares: strike once, hold, and always heal.

A nemesis is a thread of the run (runs.Run.with_nemeses starts and stops it). A subclass says
what it waits for and how it strikes, in `act(ledger)`, registering each heal as it breaks
something (`heals`). The skeleton runs `act` with a ledger connection of the thread's own,
keeps what went wrong for the run (`error`, `failure()`), and heals in `finally` — when told to
(`halt`), when the run ends first, after an error — recording the heal event when healing
begins (a resume is instant; a restarted JVM serves seconds later), so a run never leaves a
broker, the controller or a network cut broken behind it.
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any, Callable

from ..errors import LabError
from ..ledger import Ledger
from ..vocabulary import FAULT, HEAL, HEALED


class NemesisThread(threading.Thread):
    """Subclasses implement act(ledger), heal_detail() and failure()."""

    def __init__(self, ledger_path: Path, name: str) -> None:
        super().__init__(daemon=True, name=name)
        self.ledger_path = ledger_path
        self.halt = threading.Event()  # set: heal now (the run's work is done, or it stops)
        self.error: Exception | None = None
        self.heals: list[Callable[[], None]] = []  # what undoes the strike, in order

    def run(self) -> None:
        ledger = Ledger(self.ledger_path)
        try:
            self.act(ledger)
        except Exception as exc:  # surfaced by the run after its work (Run.with_nemeses)
            self.error = exc
        finally:
            self._heal(ledger)
            ledger.close()

    def act(self, ledger: Ledger) -> None:
        """Wait for the moment, strike, hold (return early once `halt` is set)."""
        raise NotImplementedError

    def heal_detail(self) -> dict[str, Any]:
        """What the heal event says (its `detail`, as JSON)."""
        raise NotImplementedError

    def failure(self) -> LabError:
        """`error` as the one paragraph the learner reads."""
        raise NotImplementedError

    def after_heal(self) -> dict[str, Any] | None:
        """What the nemesis saw once every heal was done (the HEALED event's detail), for one
        that watches the cluster come back; None: nothing to record."""
        return None

    # --- what a subclass's act() uses -------------------------------------------------------
    def wait_until(self, due: Callable[[], bool], every_s: float = 0.01) -> bool:
        """True once due(), False if halted first."""
        while not self.halt.is_set():
            if due():
                return True
            time.sleep(every_s)
        return False

    def hold(self, seconds: float) -> None:
        """The fault lasts this long, or until the halt."""
        self.halt.wait(seconds)

    @staticmethod
    def record_fault(ledger: Ledger, detail: dict[str, Any], t: float | None = None) -> None:
        ledger.event(FAULT, -1, 0, json.dumps(detail), t=t)

    # --- the end ----------------------------------------------------------------------------
    def _heal(self, ledger: Ledger) -> None:
        actions, self.heals = self.heals, []
        if not actions:
            return
        ledger.event(HEAL, -1, 0, json.dumps(self.heal_detail()))
        for action in actions:
            action()
        healed = self.after_heal()
        if healed:
            ledger.event(HEALED, -1, 0, json.dumps(healed))

    def stop(self) -> None:
        """End the fault: heal now if still broken, and wait for the heal to finish."""
        self.halt.set()
        self.join(120)

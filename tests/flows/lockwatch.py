"""Every release of a slot's lock as the hardware fakes see it, for the stateful test's check that
each one follows a committed authorisation: a probe pin on a GPIO lock, a hook on a simulated board."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gpiozero.pins.mock import MockPin

# An RS-485 board driver sends an unlock again when the board's reply does not come in time (the board
# may have acted on the first): a second release this soon after the first is that retry.
RETRY_S = 1.0


class LockPin(MockPin):  # type: ignore[misc]  # gpiozero ships no type information
    """A lock's mock output pin that reports when it goes active (the solenoid releases the latch)."""

    def __init__(self, factory: Any, info: Any) -> None:
        self.on_active: Callable[[], None] | None = None
        super().__init__(factory, info)

    def _change_state(self, value: bool) -> bool:
        changed: bool = super()._change_state(value)
        if changed and value and self.on_active is not None:
            self.on_active()
        return changed


class LockWatch:
    """Every release of every slot's lock: when, and how many authorising events for that slot were
    committed at that moment."""

    def __init__(self) -> None:
        self.ledger_path: str | None = None
        self.releases: dict[int, list[tuple[float, int]]] = defaultdict(list)

    def released(self, slot: int) -> None:
        # Called on whichever thread moved the lock (the loop for GPIO, the board simulator's thread).
        self.releases[slot].append((time.monotonic(), self.committed_authorisations(slot)))

    def committed_authorisations(self, slot: int) -> int:
        if self.ledger_path is None:
            return 0
        uri = f"{Path(self.ledger_path).absolute().as_uri()}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
            rows = db.execute(
                "SELECT type, payload FROM events WHERE slot = ? "
                "AND type IN ('dispense_started', 'return_started', 'technician_action')",
                (slot,),
            ).fetchall()
        opens = [kind != "technician_action" or json.loads(payload)["action"] == "open" for kind, payload in rows]
        return sum(opens)

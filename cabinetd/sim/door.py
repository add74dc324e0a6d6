"""A slot door as a physical thing: a latch its lock releases, a reed switch that follows it.

The door can be pulled open only while its lock is released, or forced (a crowbar, or a door that was
never latched); it closes when pushed. The reed switch, when the slot has one on a GPIO pin, is a
`ReedPin` on gpiozero's mock factory, so the production driver reads it through gpiozero unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from gpiozero.pins.mock import MockPin

log = logging.getLogger(__name__)


class ReedPin(MockPin):  # type: ignore[misc]  # gpiozero ships no type information
    """A mock input pin with a reed switch between it and a fixed level (ground or 3V3).

    While the switch is closed it holds the pin at `closed_high`; while it is open the pin's pull
    resistor decides, as on the real header. A plain mock pin would jump to its pull level whenever the
    driver sets the pull, and read a shut door as open.
    """

    def __init__(self, factory: Any, info: Any, closed_high: bool = False) -> None:
        self.closed_high = closed_high
        self.switch_closed = True
        super().__init__(factory, info)
        self._follow_switch()

    def _set_pull(self, value: str) -> None:
        super()._set_pull(value)
        self._follow_switch()

    def set_switch(self, closed: bool) -> None:
        self.switch_closed = closed
        self._follow_switch()

    def _follow_switch(self) -> None:
        if self._function != "input":
            return
        if self.switch_closed:
            level = self.closed_high
        elif self._pull in ("up", "down"):
            level = self._pull == "up"
        else:
            return  # a floating input keeps whatever it last read
        if level:
            self.drive_high()
        else:
            self.drive_low()


class SimDoor:
    """One slot's door; `pull()` and `push()` are what a person (or a test) does to it."""

    def __init__(self, slot: int, lock_released: Callable[[], bool], reed: ReedPin | None = None) -> None:
        self.slot = slot
        self.is_open = False
        # A stuck lock takes its unlock command (the board even answers) but its latch never lets go.
        self.lock_stuck = False
        self._lock_released = lock_released
        self.reed = reed

    def lock_released(self) -> bool:
        return not self.lock_stuck and self._lock_released()

    def pull(self, *, force: bool = False) -> bool:
        """Pull the handle; True if the door is open afterwards."""
        if not self.is_open and (force or self.lock_released()):
            log.info("slot %d: door pulled open%s", self.slot, " by force" if force else "")
            self._swing(True)
        return self.is_open

    def push(self) -> None:
        """Push the door shut; the latch catches it whatever the lock is doing."""
        if self.is_open:
            log.info("slot %d: door pushed shut", self.slot)
            self._swing(False)

    def _swing(self, is_open: bool) -> None:
        self.is_open = is_open
        if self.reed is not None:
            self.reed.set_switch(not is_open)

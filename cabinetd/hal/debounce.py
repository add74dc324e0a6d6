"""Debouncing a switch in our own code, against a clock the caller chooses.

A reed switch chatters for a few milliseconds when a door swings past it. gpiozero's `bounce_time` is
left to each pin library (its mock pins ignore it), so the drivers filter edges here: a level counts
once it has held for `settle_s`, and a chatter that returns to the old level is no event at all.
"""

from __future__ import annotations

from cabinetd.clock import Clock


class Debouncer:
    """One switch: `observe()` every edge, `settle()` once `due_in()` has passed."""

    def __init__(self, level: bool, settle_s: float, clock: Clock | None = None) -> None:
        self.stable = level
        self.settle_s = settle_s
        self._clock = clock or Clock()
        self._raw = level
        # Kept as the moment the level counts, not when it began: one float sum, so due_in() and
        # settle() always agree about it.
        self._settles_at = self._clock.monotonic() + settle_s

    def observe(self, level: bool) -> None:
        if level != self._raw:
            self._raw = level
            self._settles_at = self._clock.monotonic() + self.settle_s

    def due_in(self) -> float:
        """Seconds until the raw level has held long enough to settle (0 when it already has)."""
        return max(0.0, self._settles_at - self._clock.monotonic())

    @property
    def pending(self) -> bool:
        return self._raw != self.stable

    def settle(self) -> bool | None:
        """The new stable level when the raw level differs and has held for `settle_s`; else None."""
        if self._raw == self.stable or self._clock.monotonic() < self._settles_at:
            return None
        self.stable = self._raw
        return self.stable

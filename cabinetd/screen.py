"""What the touchscreen shows, as data: the controller sets it, the kiosk page renders it.

Each change bumps `version` and wakes whoever waits for the next one (the kiosk's event stream).
Texts are not here: the page turns `view` and `reason` into words from its catalogue per language.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


class Screen:
    def __init__(self) -> None:
        self.version = 0
        self.state: dict[str, Any] = {"view": "idle"}
        # A short word over the screen (a second badge: "please wait"), beside the view, not instead
        # of it: the person at the cabinet keeps their instructions. None when there is none.
        self.notice: dict[str, Any] | None = None
        self.on_shown: Callable[[dict[str, Any]], None] | None = None  # each new view, once shown
        self._changed = asyncio.Event()

    def show(self, view: str, **data: Any) -> None:
        self.state = {"view": view, **data}
        self._bump()
        if self.on_shown is not None:
            self.on_shown(self.state)

    def notify(self, kind: str, **data: Any) -> dict[str, Any]:
        """Put a notice over the screen (its own version bump, so the event stream sends it)."""
        self.notice = {"kind": kind, **data}
        self._bump()
        return self.notice

    def clear_notice(self, notice: dict[str, Any]) -> None:
        """Take this notice down, unless another has replaced it meanwhile."""
        if self.notice is notice:
            self.notice = None
            self._bump()

    def _bump(self) -> None:
        self.version += 1
        self._changed.set()
        self._changed = asyncio.Event()

    async def next_change(self, after: int) -> dict[str, Any]:
        """The screen once its version is past `after` (immediately if it already is)."""
        while self.version <= after:
            await self._changed.wait()
        return self.snapshot()

    def snapshot(self) -> dict[str, Any]:
        return {"version": self.version, **self.state}

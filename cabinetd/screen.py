"""What the touchscreen shows, as data: the controller sets it, the kiosk page renders it.

Each change bumps `version` and wakes whoever waits for the next one (the kiosk's event stream).
Texts are not here: the page turns `view` and `reason` into words from its catalogue per language.
"""

from __future__ import annotations

import asyncio
from typing import Any


class Screen:
    def __init__(self) -> None:
        self.version = 0
        self.state: dict[str, Any] = {"view": "idle"}
        self._changed = asyncio.Event()

    def show(self, view: str, **data: Any) -> None:
        self.version += 1
        self.state = {"view": view, **data}
        self._changed.set()
        self._changed = asyncio.Event()

    async def next_change(self, after: int) -> dict[str, Any]:
        """The screen once its version is past `after` (immediately if it already is)."""
        while self.version <= after:
            await self._changed.wait()
        return self.snapshot()

    def snapshot(self) -> dict[str, Any]:
        return {"version": self.version, **self.state}

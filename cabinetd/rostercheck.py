"""A badge not on the roster yet: ask the office (the cloud) before turning the person away.

Staff added in the cloud a minute ago are not in the cabinet's roster replica until the downlink next
brings changes. An unknown badge therefore asks for a roster refresh at once, at most once every
`REFRESH_EVERY_S` (a stranger's card tapped again and again must not hammer the cloud), and the
screen says "not recognised yet — checking with the office". When the refresh ends, or after
`WAIT_S` at the latest, the controller is handed `RosterChecked` in its inbox like any other fact and
looks the badge up again: known now, the rent goes ahead without a second tap; still unknown, the
badge is refused as before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from cabinetd.clock import Clock

log = logging.getLogger(__name__)

REFRESH_EVERY_S: Final = 10.0
WAIT_S: Final = 5.0

# Ends once a roster refresh asked for now has been tried: True when it reached the cloud.
RosterRefresh = Callable[[], Awaitable[bool]]


@dataclass(frozen=True)
class RosterChecked:
    """The refresh an unknown badge asked for has ended (or taken too long): look the badge up again."""


class RosterCheck:
    def __init__(self, clock: Clock, post: Callable[[RosterChecked], None]) -> None:
        self.clock = clock
        self.post = post
        # Set by the cabinet when a sync client runs; without one there is no office to ask.
        self.refresh: RosterRefresh | None = None
        self.badge: str | None = None  # the badge waiting for the check
        self._asked_at: float | None = None
        self._task: asyncio.Task[Any] | None = None

    @property
    def checking(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, badge: str) -> bool:
        """Check this unknown badge with the office; False when that cannot be done now (no sync, or
        a refresh asked for less than REFRESH_EVERY_S ago has already ended)."""
        if self.checking:
            self.badge = badge  # the refresh under way answers for this badge too
            return True
        now = self.clock.monotonic()
        if self.refresh is None or (self._asked_at is not None and now - self._asked_at < REFRESH_EVERY_S):
            return False
        self._asked_at = now
        self.badge = badge
        self._task = asyncio.create_task(self._wait(self.refresh), name="roster refresh for an unknown badge")
        return True

    def take(self) -> str | None:
        """The badge to look up again, once (None when the check was called off)."""
        badge, self.badge = self.badge, None
        return badge

    def call_off(self) -> None:
        """Someone else's session started: the waiting badge is not looked up again."""
        self.badge = None

    async def _wait(self, refresh: RosterRefresh) -> None:
        refreshing = asyncio.ensure_future(refresh())
        waiting = asyncio.ensure_future(self.clock.sleep(WAIT_S))
        try:
            done, _ = await asyncio.wait({refreshing, waiting}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # The refresh itself goes on in the sync client; only this wait for it ends here.
            waiting.cancel()
            refreshing.cancel()
        if refreshing not in done:
            log.info("roster refresh for an unknown badge: no answer within %.0f s", WAIT_S)
        elif refreshing.exception() is not None or not refreshing.result():
            log.info("roster refresh for an unknown badge: the cloud could not be reached")
        self.post(RosterChecked())

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

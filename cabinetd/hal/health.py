"""Whether a bus or a board answers, as technicians see it: connected or not, since when, and why.

The RS-485 bus (its port) and each lock board (its replies) keep one `PartHealth` each and record every
outcome in it; only a change is logged and posted as `PartStateChanged`, so a board polled every quarter
second while it is silent is one warning and one event, not four a second. The first successful contact
is the state everyone expects and is not posted; a first failure is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from cabinetd.clock import Clock
from cabinetd.hal.base import HardwareEvent, PartState, PartStateChanged

log = logging.getLogger(__name__)


class PartHealth:
    def __init__(
        self,
        name: str,
        part: str,
        post: Callable[[HardwareEvent], None],
        *,
        detail: str,
        fault_label: str = "",
        clock: Clock | None = None,
    ) -> None:
        self.name = name  # for people: "bus lockbus", "kerong board 3 on bus lockbus"
        self.part = part  # for machines: "bus/lockbus", "lockboard/lockbus/3"
        self.connected: bool | None = None  # None until the first contact was tried
        self.detail = detail
        self._post = post
        self._fault_label = f"{fault_label}: " if fault_label else ""
        self._clock = clock or Clock()
        self.since = self._clock.now()

    def set(self, connected: bool, detail: str) -> bool:
        """Record what the latest contact found; True when that changed the part's state."""
        was, self.connected = self.connected, connected
        self.detail = detail
        if was == connected:
            return False
        self.since = self._clock.now()
        if connected:
            log.info("%s: %s%s", self.name, detail, "" if was is None else " again")
        else:
            log.warning("%s: %s%s", self.name, self._fault_label, detail)
        if not (was is None and connected):
            self._post(PartStateChanged(self.part, connected, detail))
        return True

    def state(self, counters: tuple[tuple[str, int], ...] = ()) -> PartState:
        return PartState(self.part, self.connected is True, self.since, self.detail, counters)

"""The quiet moment for an install: a pure decision (no I/O), as policy.py's are.

An install restarts the daemon, which commands every lock locked and ends what is under way. So it
waits for a cabinet nobody is using (no session on the screen, no door open, no slot in the middle of
a rent, a return or the inspection after it) and, when the store's opening hours are configured, for a
time outside them, in the cabinet's local time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

from cabinetd.openinghours import OpeningHours


@dataclass(frozen=True)
class CabinetNow:
    """What the cabinet is doing at this moment, as the controller and the door sensors say."""

    session: bool  # a person (staff or technician) has a session on the screen
    open_doors: tuple[int, ...]  # slots whose door reads open
    busy_slots: tuple[int, ...]  # slots with a rent or return under way, or dispensing/receiving/inspecting


def not_quiet(now: CabinetNow, local: time, hours: OpeningHours | None, hours_text: str = "") -> str | None:
    """Why this is not the moment to install, in words; None when it is."""
    if now.session:
        return "a person is using the cabinet"
    if now.open_doors:
        return f"the door of slot {', '.join(str(n) for n in now.open_doors)} is open"
    if now.busy_slots:
        return f"slot {', '.join(str(n) for n in now.busy_slots)} is in the middle of a rent or return"
    if hours is not None and hours.open_at(local):
        return f"the store is open ({hours_text or 'opening hours'}); it waits until {local_close(hours, local)}"
    return None


def local_close(hours: OpeningHours, local: time) -> str:
    """When the range open at `local` ends, as HH:MM."""
    minute = local.hour * 60 + local.minute
    for start, end in hours.ranges:
        inside = start <= minute < end if start < end else (minute >= start or minute < end)
        if inside:
            return f"{end // 60 % 24:02d}:{end % 60:02d}"
    return "the store closes"

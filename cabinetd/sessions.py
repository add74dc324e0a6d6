"""The person at the cabinet (a session) and which buttons they get: only those that make sense now.

The choices are pure decisions over what the controller knows (does the person hold a device, does
their limit let them take another, is a return open): the kiosk draws one button per choice, in this
order, the first being the main one. `cancel` (end the session) is always accepted, shown or not: it
is how the page's idle timer ends a session.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Final

from cabinetd.ledger.replicas import StaffMember


# What the person at the cabinet is doing; the kiosk reads the value (`session.kind`).
class SessionKind(enum.StrEnum):
    RENT = "rent"
    RETURN = "return"
    MAINTENANCE = "maintenance"  # a technician, PIN accepted (or none needed)
    PIN = "pin"  # a technician who still has to enter their PIN


@dataclass
class Session:
    staff: StaffMember
    kind: SessionKind
    started: float
    slot: int | None = None
    choices: list[str] = field(default_factory=list)


# What the returning screen offers beyond `rent` and `look`: "I have a problem with this device"
# (flows/report.py; the page opens its form, it is not a POST /kiosk/choose).
RETURNING_EXTRA: Final[list[str]] = ["report"]


def renting(*, holds: bool) -> list[str]:
    """A rent under way: back to returning only for someone who holds a device; else just cancel."""
    return ["return", "cancel"] if holds else ["cancel"]


def returning(*, may_rent: bool) -> list[str]:
    """A return under way (its slot unlocked): take another if the limit allows, or only look."""
    return [*(["rent"] if may_rent else []), *RETURNING_EXTRA, "look"]


def my_devices(*, may_rent: bool) -> list[str]:
    """"My devices" (kiosk.ask_before_return): nothing is open yet; return, take another, or look."""
    return ["return", *(["rent"] if may_rent else []), "look"]

"""The checks of fleet data that need more than one entry: references to stores, work types and device
models, a card held by two people, the PIN a role needs, and who still refers to an entry that is to
be deleted. The seed file and the admin API ask the same functions, so a problem reads the same.

Each problem names the entry's key and carries the status the admin API answers it with: 404 for a
reference to something not known, 409 for a clash with another entry, 422 for a rule of one entry.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cabinetcloud import schema
from cabinetcloud.fleetdata import PRIVILEGED, CabinetEntry, DeviceEntry, StaffEntry, WorkTypeEntry
from cabinetproto.badges import Badge, BadgeError, parse_roster

LISTED: Final = 10  # how many known ids a problem lists before "and N more"


@dataclass(frozen=True)
class Problem:
    key: str
    message: str
    status: int = 422


def listing(ids: Iterable[str], most: int = LISTED) -> str:
    names = sorted(ids)
    shown = ", ".join(names[:most]) or "none"
    return shown if len(names) <= most else f"{shown} and {len(names) - most} more"


@dataclass
class Known:
    """The ids an entry may refer to (for a store-manager, only the stores they see)."""

    stores: set[str] = field(default_factory=set)
    work_types: set[str] = field(default_factory=set)
    device_models: set[str] = field(default_factory=set)

    @classmethod
    def in_cloud(cls, conn: Connection) -> Known:
        return cls(
            stores=set(conn.execute(sa.select(schema.stores.c.id)).scalars()),
            work_types=set(conn.execute(sa.select(schema.work_types.c.id)).scalars()),
            device_models=set(conn.execute(sa.select(schema.device_models.c.id)).scalars()),
        )


def refers(key: str, value: str, known: set[str], what: str) -> list[Problem]:
    if value in known:
        return []
    return [Problem(key, f"no {what} {value!r} (defined: {listing(known)})", 404)]


def cabinet_problems(entry: CabinetEntry, known: Known) -> list[Problem]:
    return refers("store", entry.store, known.stores, "store")


def work_type_problems(entry: WorkTypeEntry, known: Known) -> list[Problem]:
    problems = []
    for index, model in enumerate(entry.device_models):
        problems += refers(f"device_models[{index}]", model, known.device_models, "device model")
    for index, model in enumerate(entry.device_models):
        if model in entry.device_models[:index]:
            problems.append(Problem(f"device_models[{index}]", f"{model!r} is listed twice"))
    return problems


def device_problems(entry: DeviceEntry, known: Known) -> list[Problem]:
    return refers("model", entry.model, known.device_models, "device model") + refers(
        "store", entry.store, known.stores, "store"
    )


class Badges:
    """Badges claimed so far. Two entries are one card when they match in the bits both tell
    (`0011828047` and `180,31567`), so the check is on the card, not on the text."""

    def __init__(self) -> None:
        self._by_key: dict[int, list[tuple[Badge, str]]] = {}

    @classmethod
    def in_cloud(cls, conn: Connection, *, leaving_out: set[str], suffix: str = "") -> Badges:
        """The badges of the cloud's staff, but for `leaving_out` (the entries being written)."""
        badges = cls()
        for row in conn.execute(sa.select(schema.staff.c.id, schema.staff.c.badge).order_by(schema.staff.c.id)):
            if row.id not in leaving_out:
                badges.claim(row.badge, f"staff {row.id!r}{suffix}")
        return badges

    def claim(self, text: str, label: str) -> str:
        """Who holds the card `text` names: `label` when nobody did before."""
        try:
            badge = parse_roster(text)
        except BadgeError:
            return label  # a row kept from before the roster form: it names no card
        held = self._by_key.setdefault(badge.key, [])
        owner = next((owner for other, owner in held if other.matches(badge)), None)
        if owner is not None:
            return owner
        held.append((badge, label))
        return label


def staff_problems(
    entry: StaffEntry, known: Known, badges: Badges, label: str, *, kept_pin: bool = False
) -> list[Problem]:
    """`kept_pin`: the cloud holds a PIN hash for this person that the entry does not replace."""
    problems = refers("store", entry.store, known.stores, "store")
    problems += refers("work_type", entry.work_type, known.work_types, "work type")
    if entry.role in PRIVILEGED and entry.pin is None and not kept_pin:
        problems.append(Problem("pin", f"required for role {entry.role!r}"))
    if entry.role not in PRIVILEGED and entry.pin is not None:
        problems.append(Problem("pin", "only technicians and managers have a PIN"))
    owner = badges.claim(entry.badge, label)
    if owner != label:
        problems.append(Problem("badge", f"{entry.badge!r} is already the badge of {owner}", 409))
    return problems


def _named(what: str, ids: list[str]) -> str:
    return (
        f"{what} "
        + ", ".join(repr(i) for i in ids[:LISTED])
        + (f" and {len(ids) - LISTED} more" if len(ids) > LISTED else "")
    )


def work_type_users(conn: Connection, work_type: str) -> str | None:
    """Who refers to a work type (its staff), as a sentence; None when nobody does."""
    staff = list(
        conn.execute(
            sa.select(schema.staff.c.id).where(schema.staff.c.work_type == work_type).order_by(schema.staff.c.id)
        ).scalars()
    )
    return f"work type {work_type!r} is the work type of {_named('staff', staff)}" if staff else None


def device_model_users(conn: Connection, model: str) -> str | None:
    """Who refers to a device model (work types that allow it, devices of it); None when nobody does."""
    kinds = [
        row.id
        for row in conn.execute(
            sa.select(schema.work_types.c.id, schema.work_types.c.device_models).order_by(schema.work_types.c.id)
        )
        if model in json.loads(row.device_models)
    ]
    devices = list(
        conn.execute(
            sa.select(schema.devices.c.serial).where(schema.devices.c.model == model).order_by(schema.devices.c.serial)
        ).scalars()
    )
    users = ([_named("work types", kinds)] if kinds else []) + ([_named("devices", devices)] if devices else [])
    return f"device model {model!r} is still used by " + " and ".join(users) if users else None

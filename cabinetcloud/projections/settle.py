"""Truth across cabinets: what all of one device's facts add up to (issue 16 §4, docs/fleet-views.md).

`settle` reads every rental, return and fault of a device, whichever cabinet sent it, and decides
by the events' own times which return ended which rental, which rentals overlap (a device in two
open rentals is flagged, never merged) and whether the device is out, in a slot or in repair. It is
a function of the set of facts alone: the same facts give the same result in whatever order the
cabinets' batches were projected. It runs under the device's row lock, so two workers settling the
same device take turns and the second sees what the first committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cabinetcloud.projections import tables

# The order of facts: their time, then where they come from (a tie between cabinets is settled the
# same way every time).
Key = tuple[datetime, str, str, int]


def key_of(row: Any) -> Key:
    at = row.rented_at if hasattr(row, "rented_at") else row.at
    return (at, row.cabinet_id, row.epoch, row.seq)


@dataclass(frozen=True)
class Ending:
    """How a rental ended: the settled columns of projected_rentals."""

    ended_at: datetime | None = None
    ended_by: str | None = None
    end_cabinet: str | None = None
    end_event: str | None = None
    end_store: str | None = None
    battery_in: int | None = None
    conflict: bool = False


def _ending_of(rental: Any, ends: Sequence[Any]) -> Any:
    """The fact that ended a rental: the earliest return of the device after it (at any cabinet), or
    a return or cancel naming it (whatever the clocks said: a cabinet names only its own rentals)."""
    start = key_of(rental)
    candidates = [
        end for end in ends if end.rental_id == rental.rental_id or (end.kind == "returned" and key_of(end) > start)
    ]
    return min(candidates, key=key_of, default=None)


def endings(rentals: Sequence[Any], ends: Sequence[Any]) -> dict[tuple[str, str], Ending]:
    """Each rental's ending and whether it overlaps another rental of the device."""
    found = {(r.cabinet_id, r.rental_id): _ending_of(r, ends) for r in rentals}
    ordered = sorted(rentals, key=key_of)
    conflicts: set[tuple[str, str]] = set()
    for index, rental in enumerate(ordered):
        end = found[(rental.cabinet_id, rental.rental_id)]
        for later in ordered[index + 1 :]:
            if end is not None and key_of(later) >= key_of(end):
                break
            conflicts |= {(rental.cabinet_id, rental.rental_id), (later.cabinet_id, later.rental_id)}
    result = {}
    for name, end in found.items():
        flagged = name in conflicts
        if end is None:
            result[name] = Ending(conflict=flagged)
        else:
            result[name] = Ending(end.at, end.kind, end.cabinet_id, end.event_id, end.store, end.battery_in, flagged)
    return result


def _closed_at(fault: Any, rentals: Sequence[Any], ends: Sequence[Any], faults: Sequence[Any]) -> datetime | None:
    """When a ticket or report stopped keeping the device out of service: it was rented again, came
    back passing its self-test, or (a report) a technician cleared it."""
    times = [r.rented_at for r in rentals if r.rented_at > fault.at]
    times += [e.at for e in ends if e.kind == "returned" and e.passed and e.at > fault.at]
    if fault.kind == "report":
        times += [f.at for f in faults if f.kind == "cleared" and f.at > fault.at]
    return min(times, default=None)


def state_of(ending: dict[tuple[str, str], Ending], faults: Sequence[Any], closed: dict[str, datetime | None]) -> str:
    if any(end.ended_at is None for end in ending.values()):
        return "rented"
    for fault in faults:
        if closed[fault.event_id] is None and (fault.kind == "ticket" or (fault.kind == "report" and fault.critical)):
            return "in_repair"
    return "in_slot"


def settle(conn: Connection, serial: str) -> None:
    """Settle one device from all its facts; the caller holds its projected_devices row."""
    rentals = conn.execute(sa.select(tables.rentals).where(tables.rentals.c.device == serial)).all()
    ends = conn.execute(sa.select(tables.returns).where(tables.returns.c.device == serial)).all()
    faults = conn.execute(sa.select(tables.faults).where(tables.faults.c.device == serial)).all()
    ending = endings(rentals, ends)
    for rental in rentals:
        settled = ending[(rental.cabinet_id, rental.rental_id)]
        values = asdict(settled)
        if any(getattr(rental, name) != value for name, value in values.items()):
            conn.execute(
                sa.update(tables.rentals)
                .where(tables.rentals.c.cabinet_id == rental.cabinet_id, tables.rentals.c.rental_id == rental.rental_id)
                .values(**values)
            )
    closed = {fault.event_id: _closed_at(fault, rentals, ends, faults) for fault in faults}
    for fault in faults:
        if fault.closed_at != closed[fault.event_id]:
            conn.execute(
                sa.update(tables.faults)
                .where(tables.faults.c.cabinet_id == fault.cabinet_id, tables.faults.c.event_id == fault.event_id)
                .values(closed_at=closed[fault.event_id])
            )
    conn.execute(
        sa.update(tables.devices)
        .where(tables.devices.c.serial == serial)
        .values(state=state_of(ending, faults, closed) if rentals or ends or faults else "in_slot")
    )

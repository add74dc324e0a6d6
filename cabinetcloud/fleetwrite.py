"""Writing fleet data: an entry (fleetdata.py) into the rows the cloud keeps and the change feed
cabinets long-poll (fleet.py), with one audit event per entry that changed, in the caller's transaction.

The seed file and the admin API write through here alike. What the audit log and the API show of an
entry is its `record`: never a PIN hash (`has_pin` instead); a staff member's `notify` is in it,
though it never goes to a cabinet.
"""

from __future__ import annotations

from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cabinetcloud import audit, fleet, schema
from cabinetcloud.fleetdata import (
    PRIVILEGED,
    CabinetEntry,
    DeviceEntry,
    DeviceModelEntry,
    StaffEntry,
    StoreEntry,
    WorkTypeEntry,
    name_columns,
)
from cabinetproto.pins import hash_pin, verify_pin
from cabinetproto.wire import Entity

# The audit log's resource names (docs/fleet.md).
RESOURCE: Final = {
    Entity.STAFF: "staff",
    Entity.WORK_TYPES: "work_type",
    Entity.DEVICE_MODELS: "device_model",
    Entity.DEVICES: "device",
}


def work_type_row(entry: WorkTypeEntry) -> dict[str, Any]:
    return {
        **entry.model_dump(),
        **name_columns(entry.name),
        "apps": [app.model_dump() for app in entry.apps],
        "device_models": list(entry.device_models),
    }


def device_model_row(entry: DeviceModelEntry) -> dict[str, Any]:
    return {**entry.model_dump(), **name_columns(entry.name)}


def device_row(entry: DeviceEntry) -> dict[str, Any]:
    return entry.model_dump()


def staff_row(conn: Connection, entry: StaffEntry) -> dict[str, Any]:
    """The replicated row of a staff entry. Without a PIN in the entry, a privileged person keeps the
    hash the cloud holds (the API never sees a PIN again); a role without a PIN drops it."""
    held = fleet.current(conn, Entity.STAFF, entry.id)
    old = None if held is None else held["pin_hash"]
    if entry.role not in PRIVILEGED:
        pin_hash = None
    elif entry.pin is None:
        pin_hash = old
    else:
        # Keep the stored hash while it still matches: a fresh salt would be a change every seed.
        pin_hash = old if old and verify_pin(entry.pin, old) else hash_pin(entry.pin)
    return {
        "id": entry.id,
        "name": entry.name,
        "badge": entry.badge,
        "store": entry.store,
        "work_type": entry.work_type,
        "role": entry.role,
        "pin_hash": pin_hash,
        "active": entry.active,
    }


def notify_of(conn: Connection, staff_id: str) -> str | None:
    table = schema.staff_contacts
    found: str | None = conn.execute(sa.select(table.c.notify).where(table.c.staff_id == staff_id)).scalar()
    return found


def _set_notify(conn: Connection, staff_id: str, notify: str | None) -> None:
    table = schema.staff_contacts
    conn.execute(sa.delete(table).where(table.c.staff_id == staff_id))
    if notify is not None:
        conn.execute(sa.insert(table).values(staff_id=staff_id, notify=notify))


def record(conn: Connection, entity: Entity, entity_id: str) -> dict[str, Any] | None:
    """An entry as the API and the audit log show it; None when there is none."""
    row = fleet.current(conn, entity, entity_id)
    if row is None:
        return None
    row.pop("version", None)
    if entity is Entity.STAFF:
        row["has_pin"] = row.pop("pin_hash") is not None
        row["notify"] = notify_of(conn, entity_id)
    return row


def save(
    conn: Connection,
    actor: audit.Actor,
    entity: Entity,
    row: dict[str, Any],
    *,
    notify: str | None = None,
    action: str | None = None,
) -> bool:
    """Write one entry (its replicated row, and a staff member's `notify`) and audit it. True when
    anything changed; a write that changes nothing writes no event."""
    _, key, _ = fleet.TABLES[entity]
    entity_id = str(row[key])
    before = record(conn, entity, entity_id)
    changed = fleet.upsert(conn, entity, row)
    if entity is Entity.STAFF and notify_of(conn, entity_id) != notify:
        _set_notify(conn, entity_id, notify)  # cloud-only: no change for the cabinets
        changed = True
    if not changed:
        return False
    after = record(conn, entity, entity_id)
    if action is None:
        # A new PIN alone shows nowhere in the record (has_pin stays true): say what it was.
        action = "create" if before is None else ("set_pin" if after == before else "update")
    audit.record(conn, actor, action, RESOURCE[entity], entity_id, before=before, after=after)
    return True


def remove(conn: Connection, actor: audit.Actor, entity: Entity, entity_id: str) -> bool:
    """Delete an entry (cabinets delete it from their replicas at their next sync) and audit it."""
    before = record(conn, entity, entity_id)
    if before is None:
        return False
    fleet.delete(conn, entity, entity_id)
    if entity is Entity.STAFF:
        _set_notify(conn, entity_id, None)
    audit.record(conn, actor, "delete", RESOURCE[entity], entity_id, before=before)
    return True


def save_store(conn: Connection, actor: audit.Actor, entry: StoreEntry) -> bool:
    """A store of the seed file (the API's own route is admin/stores.py)."""
    table = schema.stores
    held = conn.execute(sa.select(table).where(table.c.id == entry.id)).mappings().first()
    if held is not None and held["name"] == entry.name:
        return False
    if held is None:
        conn.execute(sa.insert(table).values(id=entry.id, name=entry.name))
    else:
        conn.execute(sa.update(table).where(table.c.id == entry.id).values(name=entry.name))
    before = None if held is None else dict(held)
    audit.record(
        conn, actor, "create" if held is None else "update", "store", entry.id, before=before, after=entry.model_dump()
    )
    return True


def slots_of(conn: Connection, cabinet_id: str) -> list[int]:
    table = schema.cabinet_slots
    return list(
        conn.execute(sa.select(table.c.slot).where(table.c.cabinet_id == cabinet_id).order_by(table.c.slot)).scalars()
    )


def set_slots(conn: Connection, cabinet_id: str, slots: list[int]) -> bool:
    """The cabinet's slot numbers, which remote commands are checked against. True when they changed."""
    if slots_of(conn, cabinet_id) == slots:
        return False
    table = schema.cabinet_slots
    conn.execute(sa.delete(table).where(table.c.cabinet_id == cabinet_id))
    conn.execute(sa.insert(table), [{"cabinet_id": cabinet_id, "slot": slot} for slot in slots])
    return True


def save_cabinet(conn: Connection, actor: audit.Actor, entry: CabinetEntry) -> bool:
    """A cabinet of the seed file: its store, and its slots when the file gives them."""
    table = schema.cabinets
    held = conn.execute(sa.select(table.c.store).where(table.c.id == entry.id)).first()
    before = None if held is None else {"id": entry.id, "store": held.store, "slots": slots_of(conn, entry.id)}
    if held is None:
        conn.execute(sa.insert(table).values(id=entry.id, store=entry.store))
    elif held.store != entry.store:
        conn.execute(sa.update(table).where(table.c.id == entry.id).values(store=entry.store))
    if entry.slots is not None:
        set_slots(conn, entry.id, entry.slots)
    after = {"id": entry.id, "store": entry.store, "slots": slots_of(conn, entry.id)}
    if after == before:
        return False
    audit.record(conn, actor, "create" if before is None else "update", "cabinet", entry.id, before=before, after=after)
    return True

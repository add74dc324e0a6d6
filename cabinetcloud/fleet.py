"""The fleet data cabinets replicate (staff, work types, device models, devices) and its change feed.

Every write of a replicated entity appends one row to `changes`, numbered from a counter that is held
until commit, so change ids become visible in order. An entity's version is the id of its last
change: a cabinet applies an op only when it is newer than what it holds, which makes pages safe to
apply twice or out of order.

What a cabinet receives: the whole fleet's work types, device models and devices, and every store's
staff, so that a badge from another store is refused as such rather than as unknown; of other
stores' staff it gets no names and no PIN hashes. The data of each op has the fields of the
cabinet's replica (cabinetd.ledger.replicas), which may differ in name from the cloud's columns.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cabinetcloud import schema
from cabinetcloud.apppackages.matching import resolved_apps
from cabinetcloud.storage import counter_value, next_number
from cabinetproto.badges import BADGE_FORMAT
from cabinetproto.links import DEFAULT_LINK
from cabinetproto.wire import ChangeOp, ChangesPage, Entity, Snapshot, page_checksum

# Each replicated entity: its table, the column that is its id, and the columns held as JSON text.
TABLES: Final[dict[Entity, tuple[sa.Table, str, tuple[str, ...]]]] = {
    Entity.STAFF: (schema.staff, "id", ()),
    Entity.WORK_TYPES: (schema.work_types, "id", ("apps", "device_models", "names")),
    Entity.DEVICE_MODELS: (schema.device_models, "id", ("names",)),
    Entity.DEVICES: (schema.devices, "serial", ()),
}


class CursorGone(Exception):
    """The changes after this cursor were compacted away: the cabinet must take a snapshot."""


def _row_data(entity: Entity, row: Mapping[str, Any] | sa.RowMapping) -> dict[str, Any]:
    table, _, json_columns = TABLES[entity]
    data: dict[str, Any] = {}
    for column in table.columns:
        if column.name == "version":
            continue
        value = row[column.name]
        data[column.name] = json.loads(value) if column.name in json_columns else value
    return data


def wire_data(entity: Entity, row: Mapping[str, Any]) -> dict[str, Any]:
    """An entity's row as a cabinet's replica holds it."""
    if entity is Entity.STAFF:
        return {
            "staff_id": row["id"],
            "badge": row["badge"],
            "badge_format": BADGE_FORMAT,
            "name": row["name"],
            "store": row["store"],
            "work_type": row["work_type"],
            "role": row["role"],
            "active": row["active"],
            "pin_hash": row["pin_hash"],
        }
    if entity is Entity.WORK_TYPES:
        return {
            "id": row["id"],
            "name": row["name"],
            "apps": row["apps"],
            "battery_threshold": row["battery_threshold"],
            "rental_limit_minutes": row["rental_limit_minutes"],
            "max_devices_per_staff": row["device_limit"],
            "device_models": row["device_models"],
            "names": row["names"],
        }
    if entity is Entity.DEVICE_MODELS:
        return {
            "model": row["id"],
            "name": row["name"],
            "names": row["names"],
            "slot_types": [row["slot_type"]],
            "link": row.get("link", DEFAULT_LINK),
        }
    return {"serial": row["serial"], "model": row["model"], "store": row["store"], "active": row["active"]}


def replicated(conn: Connection, entity: Entity, row: Mapping[str, Any]) -> dict[str, Any]:
    """What a cabinet receives of an entity: its wire data, a work type's apps with the facts of the
    APKs the fleet holds for them (cabinetcloud/apppackages/matching.py)."""
    data = wire_data(entity, row)
    if entity is Entity.WORK_TYPES:
        data["apps"] = resolved_apps(conn, data["apps"])
    return data


def _to_columns(entity: Entity, data: Mapping[str, Any]) -> dict[str, Any]:
    _, _, json_columns = TABLES[entity]
    return {name: json.dumps(value, sort_keys=True) if name in json_columns else value for name, value in data.items()}


def _record(conn: Connection, entity: Entity, entity_id: str, op: str, data: Mapping[str, Any] | None) -> int:
    change_id = next_number(conn, "changes")
    conn.execute(
        sa.insert(schema.changes).values(
            change_id=change_id,
            entity=entity.value,
            entity_id=entity_id,
            op=op,
            data=None if data is None else json.dumps(replicated(conn, entity, data), sort_keys=True),
            changed_at=datetime.now(UTC),
        )
    )
    return change_id


def current(conn: Connection, entity: Entity, entity_id: str) -> dict[str, Any] | None:
    table, key, _ = TABLES[entity]
    row = conn.execute(sa.select(table).where(table.c[key] == entity_id)).mappings().first()
    return None if row is None else _row_data(entity, row)


def upsert(conn: Connection, entity: Entity, data: dict[str, Any]) -> bool:
    """Write one entity; a write that changes nothing is not a change. True when it changed."""
    table, key, _ = TABLES[entity]
    entity_id = str(data[key])
    if current(conn, entity, entity_id) == data:
        return False
    version = _record(conn, entity, entity_id, "upsert", data)
    values = {**_to_columns(entity, data), "version": version}
    updated = conn.execute(sa.update(table).where(table.c[key] == entity_id).values(**values))
    if updated.rowcount == 0:
        conn.execute(sa.insert(table).values(**values))
    return True


def delete(conn: Connection, entity: Entity, entity_id: str) -> bool:
    table, key, _ = TABLES[entity]
    if current(conn, entity, entity_id) is None:
        return False
    _record(conn, entity, entity_id, "delete", None)
    conn.execute(sa.delete(table).where(table.c[key] == entity_id))
    return True


def republish(conn: Connection, entity: Entity, entity_id: str) -> bool:
    """A change of an entity whose row stayed as it was but whose replica did not (an APK one of a work
    type's apps is came or went), so that the cabinets long-polling see it like any other change."""
    table, key, _ = TABLES[entity]
    data = current(conn, entity, entity_id)
    if data is None:
        return False
    version = _record(conn, entity, entity_id, "upsert", data)
    conn.execute(sa.update(table).where(table.c[key] == entity_id).values(version=version))
    return True


def ids(conn: Connection, entity: Entity) -> set[str]:
    table, key, _ = TABLES[entity]
    return set(conn.execute(sa.select(table.c[key])).scalars())


def _for_store(entity: Entity, data: dict[str, Any] | None, store: str) -> dict[str, Any] | None:
    if data is None or entity is not Entity.STAFF or data.get("store") == store:
        return data
    return {**data, "name": "", "pin_hash": None}


def changes_after(conn: Connection, cursor: int, limit: int, store: str) -> ChangesPage:
    compacted = int(
        conn.execute(
            sa.select(schema.settings.c.value).where(schema.settings.c.name == "compacted_through")
        ).scalar_one()
    )
    if cursor < compacted:
        raise CursorGone(f"cursor {cursor} is older than the compacted history (through {compacted})")
    rows = conn.execute(
        sa.select(schema.changes)
        .where(schema.changes.c.change_id > cursor)
        .order_by(schema.changes.c.change_id)
        .limit(limit)
    ).all()
    ops = [
        ChangeOp(
            entity=Entity(row.entity),
            id=row.entity_id,
            version=row.change_id,
            op=row.op,
            data=_for_store(Entity(row.entity), None if row.data is None else json.loads(row.data), store),
        )
        for row in rows
    ]
    new_cursor = str(rows[-1].change_id) if rows else str(cursor)
    return ChangesPage(ops=ops, cursor=new_cursor, complete=len(rows) < limit, checksum=page_checksum(ops, new_cursor))


def head(conn: Connection) -> int:
    return counter_value(conn, "changes")


def snapshot(conn: Connection, store: str) -> Snapshot:
    """Every replicated entity as it is now; call inside one reading transaction."""
    cursor = str(head(conn))
    ops: list[ChangeOp] = []
    for entity, (table, key, _) in TABLES.items():
        for row in conn.execute(sa.select(table).order_by(table.c[key])).mappings():
            ops.append(
                ChangeOp(
                    entity=entity,
                    id=str(row[key]),
                    version=row["version"],
                    op="upsert",
                    data=_for_store(entity, replicated(conn, entity, _row_data(entity, row)), store),
                )
            )
    return Snapshot(ops=ops, cursor=cursor, checksum=page_checksum(ops, cursor))


def compact(conn: Connection, keep: int) -> int:
    """Drop all but the newest `keep` changes; cabinets behind that get 410 and take a snapshot."""
    through = max(0, head(conn) - keep)
    conn.execute(sa.delete(schema.changes).where(schema.changes.c.change_id <= through))
    conn.execute(
        sa.update(schema.settings).where(schema.settings.c.name == "compacted_through").values(value=str(through))
    )
    return through


def unknown_devices(conn: Connection) -> dict[str, list[str]]:
    """Per cabinet, the devices it holds flagged `unknown_to_fleet` that the fleet still does not
    list: the alarm events folded in each cabinet's order (epoch, then seq), per slot."""
    alarms = (
        sa.select(schema.events.c.cabinet_id, schema.events.c.slot, schema.events.c.device, schema.events.c.type)
        .join(
            schema.epochs,
            sa.and_(
                schema.epochs.c.cabinet_id == schema.events.c.cabinet_id,
                schema.epochs.c.epoch == schema.events.c.epoch,
            ),
        )
        .where(schema.events.c.type.in_(("alarm_raised", "alarm_cleared")))
        .where(schema.events.c.payload.contains('"unknown_to_fleet"'))
        .order_by(schema.events.c.cabinet_id, schema.epochs.c.ordinal, schema.events.c.seq)
    )
    flagged: dict[tuple[str, int], str | None] = {}
    for cabinet_id, slot, device, kind in conn.execute(alarms):
        flagged[cabinet_id, slot] = device if kind == "alarm_raised" else None
    listed = ids(conn, Entity.DEVICES)
    found: dict[str, list[str]] = {}
    for (cabinet_id, _), device in sorted(flagged.items()):
        if device is not None and device not in listed:
            found.setdefault(cabinet_id, []).append(device)
    return found

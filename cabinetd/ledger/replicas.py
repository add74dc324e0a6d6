"""The cabinet's copies of the cloud's fleet data: staff, work types, device models, devices.

Not derived from events: the cloud owns them and the sync client applies its changes here, a whole
page of changes (or a whole snapshot) with its cursor in one transaction, so a roster is never half
new. Every row keeps the version the cloud gave it; an older change never overwrites a newer row.
Fields the cloud adds within a protocol version are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from cabinetd.ledger.errors import LedgerError
from cabinetd.ledger.store import Store
from cabinetproto.badges import BADGE_FORMAT, Badge, BadgeError, parse_old, parse_roster
from cabinetproto.events import Ident, describe
from cabinetproto.links import DEFAULT_LINK, Link
from cabinetproto.names import NamesError, check_names


def _names(value: dict[str, str]) -> dict[str, str]:
    if not value:
        return value  # a cloud that sends one plain name
    try:
        return check_names(value)
    except NamesError as exc:
        raise ValueError(str(exc)) from None


# Language tag → name, beside the plain `name` (cabinetproto.names); {} when the cloud gives only that.
Names = Annotated[dict[str, str], AfterValidator(_names)]


class Replica(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class StaffMember(Replica):
    staff_id: Ident
    # The roster form (cabinetproto.badges.Badge.roster_text), and its key: the bits every form shares
    # (-1 for a badge kept from before the roster form that no card can match).
    badge: Annotated[str, Field(min_length=1, max_length=128)]
    badge_key: int = -1
    name: Annotated[str, Field(max_length=200)]
    store: Ident
    work_type: Ident
    role: Literal["staff", "technician", "manager"] = "staff"
    active: bool
    # Only privileged roles have one: 125 kHz badges clone in seconds, so a privileged badge needs a PIN.
    pin_hash: str | None = None


class WorkTypeApp(Replica):
    """An app a work type needs on the device; where to fetch it comes with it when the fleet has it."""

    package: Annotated[str, Field(min_length=1, max_length=200)]
    version: Annotated[str, Field(min_length=1, max_length=64)]
    version_code: Annotated[int, Field(ge=1)] | None = None
    url: Annotated[str, Field(pattern=r"^https://", max_length=2048)] | None = None
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None
    # The APK's size in bytes and the sha256 of its signing certificate, when the fleet has them: the
    # cabinet's package cache refuses a download that differs (docs/app-packages.md).
    size: Annotated[int, Field(ge=1)] | None = None
    signer_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None


class WorkType(Replica):
    id: Ident
    name: Annotated[str, Field(max_length=200)]
    rental_limit_minutes: Annotated[int, Field(ge=1, le=7 * 24 * 60)]
    battery_threshold: Annotated[int, Field(ge=0, le=100)]
    device_models: list[Ident]
    apps: list[WorkTypeApp]
    # The app launched when the device is handed out; the first app when unset.
    home_app: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    max_devices_per_staff: Annotated[int, Field(ge=1, le=100)] = 1
    names: Names = {}


class DeviceModel(Replica):
    model: Ident
    name: Annotated[str, Field(max_length=200)]
    slot_types: list[Ident]
    names: Names = {}
    link: Link = DEFAULT_LINK  # how the cabinet talks to its handhelds; a cloud that sends none means aoa-agent


class FleetDevice(Replica):
    serial: Ident
    model: Ident
    active: bool = True


class ReplicaOp(BaseModel):
    """One change from the cloud (the shape of cabinetproto.wire.ChangeOp)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    entity: Literal["staff", "work_types", "device_models", "devices"]
    id: Ident
    version: Annotated[int, Field(ge=1)]
    op: Literal["upsert", "delete"]
    data: dict[str, Any] | None = None


@dataclass(frozen=True)
class Entity:
    table: str
    key: str
    model: type[Replica]
    # Fields stored as JSON text.
    json_fields: tuple[str, ...] = ()


ENTITIES: Final[dict[str, Entity]] = {
    "staff": Entity("staff", "staff_id", StaffMember),
    "work_types": Entity("work_types", "id", WorkType, ("device_models", "apps", "names")),
    "device_models": Entity("device_models", "model", DeviceModel, ("slot_types", "names")),
    "devices": Entity("fleet_devices", "serial", FleetDevice),
}


def parse_op(op: Mapping[str, Any] | BaseModel) -> ReplicaOp:
    raw = op.model_dump(mode="json") if isinstance(op, BaseModel) else op
    try:
        return ReplicaOp.model_validate(raw)
    except ValidationError as exc:
        raise LedgerError(f"replica change: {describe(exc)}") from None


def _roster_badge(op: ReplicaOp, data: dict[str, Any]) -> None:
    """The badge of a staff op in the roster form. A cloud that has not normalised its roster (or a
    change it recorded before it did) sends the old hex without `badge_format`."""
    raw = data.get("badge")
    if not isinstance(raw, str):
        return  # the model names the missing or mistyped field
    if data.pop("badge_format", None) == BADGE_FORMAT:
        try:
            badge = parse_roster(raw)
        except BadgeError as exc:
            raise LedgerError(f"replica change staff {op.id!r}: field 'badge': {exc}") from None
    else:
        try:
            badge = parse_old(raw)
        except BadgeError:
            # The old roster took any text; one such entry must not hold up the rest of the roster.
            data["badge_key"] = -1
            return
    data["badge"], data["badge_key"] = badge.roster_text(), badge.key


def _row(entity: Entity, op: ReplicaOp) -> dict[str, Any]:
    data = dict(op.data or {})
    if op.entity == "staff":
        _roster_badge(op, data)
    data.setdefault(entity.key, op.id)
    if data[entity.key] != op.id:
        raise LedgerError(f"replica change {op.entity} {op.id!r}: field {entity.key!r} says {data[entity.key]!r}")
    try:
        record = entity.model.model_validate(data)
    except ValidationError as exc:
        raise LedgerError(f"replica change {op.entity} {op.id!r}: {describe(exc)}") from None
    row: dict[str, Any] = {}
    for name, value in record.model_dump(mode="json").items():
        row[name] = json.dumps(value) if name in entity.json_fields else value
    row["version"] = op.version
    return row


def apply_ops(store: Store, ops: Iterable[Mapping[str, Any] | BaseModel]) -> int:
    """Apply changes inside the caller's transaction; returns how many changed a row."""
    changed = 0
    for raw in ops:
        op = parse_op(raw)
        entity = ENTITIES[op.entity]
        held = store.rows(f"SELECT version FROM {entity.table} WHERE {entity.key} = ?", (op.id,))
        if held and held[0][0] > op.version:
            continue  # the cloud sent this change again after a newer one
        if op.op == "delete":
            store.run(f"DELETE FROM {entity.table} WHERE {entity.key} = ?", (op.id,))
        else:
            row = _row(entity, op)
            names = ", ".join(row)
            marks = ", ".join("?" * len(row))
            store.run(f"INSERT OR REPLACE INTO {entity.table} ({names}) VALUES ({marks})", tuple(row.values()))
        changed += 1
    return changed


def clear(store: Store) -> None:
    for entity in ENTITIES.values():
        store.run(f"DELETE FROM {entity.table}")


def _one(store: Store, entity: Entity, where: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
    columns = ", ".join(entity.model.model_fields)
    rows = store.rows(f"SELECT {columns} FROM {entity.table} WHERE {where}", params)
    if not rows:
        return None
    record = dict(zip(entity.model.model_fields, rows[0], strict=True))
    for name in entity.json_fields:
        record[name] = json.loads(record[name])
    return record


def staff_by_badge(store: Store, badge: Badge) -> StaffMember | None:
    """The staff member a badge read belongs to, whatever form the roster entry was typed in.

    An active holder wins over an inactive one (a badge handed on to someone else), then the entry
    that tells more of the card (typed with its version byte over the printed number over
    facility,card), then the newest.
    """
    columns = list(StaffMember.model_fields)
    rows = store.rows(f"SELECT {', '.join(columns)}, version FROM staff WHERE badge_key = ?", (badge.key,))
    found: list[tuple[bool, int, int, StaffMember]] = []
    for *values, version in rows:
        member = StaffMember.model_validate(dict(zip(columns, values, strict=True)))
        try:
            entry = parse_roster(member.badge)
        except BadgeError:
            continue  # kept from before the migration and unreadable: it matches no card
        if entry.matches(badge):
            found.append((member.active, entry.bits, version, member))
    if not found:
        return None
    return max(found, key=lambda candidate: candidate[:3])[3]


def work_type(store: Store, work_type_id: str) -> WorkType | None:
    record = _one(store, ENTITIES["work_types"], "id = ?", (work_type_id,))
    return None if record is None else WorkType.model_validate(record)


def work_types(store: Store) -> list[WorkType]:
    entity = ENTITIES["work_types"]
    rows = store.rows(f"SELECT id FROM {entity.table} ORDER BY id")
    return [found for (work_type_id,) in rows if (found := work_type(store, work_type_id)) is not None]


def staff_of_store(store: Store, store_id: str) -> list[StaffMember]:
    """The active staff members of one store (the people who may come to rent at its cabinets)."""
    columns = list(StaffMember.model_fields)
    rows = store.rows(
        f"SELECT {', '.join(columns)} FROM staff WHERE store = ? AND active ORDER BY staff_id", (store_id,)
    )
    return [StaffMember.model_validate(dict(zip(columns, values, strict=True))) for values in rows]


def fleet_device(store: Store, serial: str) -> FleetDevice | None:
    record = _one(store, ENTITIES["devices"], "serial = ?", (serial,))
    return None if record is None else FleetDevice.model_validate(record)


def fleet_lists(store: Store, serial: str) -> bool | None:
    """Whether the fleet's device list names this serial; None while the cabinet holds no device list
    at all (never synced one, or the fleet keeps none), when there is nothing to judge by."""
    if store.rows("SELECT 1 FROM fleet_devices WHERE serial = ?", (serial,)):
        return True
    return False if store.rows("SELECT 1 FROM fleet_devices LIMIT 1") else None


def device_link(store: Store, serial: str) -> str | None:
    """The link of the fleet device's model; None for a device or model the fleet data does not hold."""
    rows = store.rows(
        "SELECT m.link FROM fleet_devices d JOIN device_models m ON m.model = d.model WHERE d.serial = ?", (serial,)
    )
    return str(rows[0][0]) if rows else None


def device_model(store: Store, model: str) -> DeviceModel | None:
    record = _one(store, ENTITIES["device_models"], "model = ?", (model,))
    return None if record is None else DeviceModel.model_validate(record)

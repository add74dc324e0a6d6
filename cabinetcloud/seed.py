"""The fleet seed file: stores, cabinets, work types, device models, devices and staff, from TOML.

Seeding is declarative and idempotent: each entry is written only when it differs from what the
cloud holds, so seeding the same file twice changes nothing (no new change-feed entries either).
Entries the file does not name are left alone unless `prune` is asked for. Every problem is reported
as one line naming the file, the table, the entry and the key.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainValidator, ValidationError
from pydantic_core import PydanticCustomError
from sqlalchemy.engine import Connection

from cabinetcloud import fleet, schema
from cabinetproto.badges import Badge, BadgeError, parse_roster
from cabinetproto.links import DEFAULT_LINK, Link
from cabinetproto.names import MAX_NAME, NamesError, check_names, default_name
from cabinetproto.pins import MAX_PIN_DIGITS, MIN_PIN_DIGITS, hash_pin, verify_pin
from cabinetproto.wire import Entity


class SeedError(Exception):
    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def _ident(value: str) -> str:
    if not (
        0 < len(value) <= 64
        and value[0].isascii()
        and value[0].isalnum()
        and all(c.isascii() and (c.isalnum() or c in "._-") for c in value)
    ):
        raise PydanticCustomError(
            "ident",
            "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit, got {got}",
            {"got": repr(value)},
        )
    return value


def _badge(value: str) -> str:
    try:
        badge = parse_roster(value)
    except BadgeError as exc:
        raise PydanticCustomError("badge", "{reason}", {"reason": str(exc)}) from None
    # One text per card, whatever form it was typed in: a cabinet matches it against any reader form.
    return badge.roster_text()


def _local_name(value: object) -> str | dict[str, str]:
    """One plain name, or a table of them by language (`name = { en = "Price tags", zh-CN = "价签" }`)."""
    if isinstance(value, str):
        if not value.strip():
            raise PydanticCustomError("name", "must not be empty")
        if len(value) > MAX_NAME:
            raise PydanticCustomError("name", "must be at most {most} characters", {"most": MAX_NAME})
        return value
    if isinstance(value, dict) and all(isinstance(name, str) for name in value.values()):
        try:
            return check_names(value)
        except NamesError as exc:
            raise PydanticCustomError("name", "{reason}", {"reason": str(exc)}) from None
    example = '{ en = "Price tags", zh-CN = "价签" }'
    raise PydanticCustomError(
        "name", "must be a string or a table of names by language, e.g. {example}", {"example": example}
    )


Ident = Annotated[str, AfterValidator(_ident)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
LocalName = Annotated[str | dict[str, str], PlainValidator(_local_name)]


def _names(name: str | dict[str, str]) -> dict[str, Any]:
    """The columns of a name: the plain one (the first language's), and the table ({} for a plain name)."""
    if isinstance(name, str):
        return {"name": name, "names": {}}
    return {"name": default_name(name), "names": dict(name)}


class Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SeedStore(Entry):
    id: Ident
    name: Name


class SeedCabinet(Entry):
    id: Ident
    store: Ident


class SeedApp(Entry):
    package: Annotated[str, Field(min_length=1, max_length=200)]
    version: Annotated[str, Field(min_length=1, max_length=64)]


class SeedWorkType(Entry):
    id: Ident
    name: LocalName
    apps: list[SeedApp] = []
    battery_threshold: Annotated[int, Field(ge=0, le=100)]
    rental_limit_minutes: Annotated[int, Field(ge=1, le=7 * 24 * 60)]
    device_limit: Annotated[int, Field(ge=1, le=100)] = 1
    device_models: Annotated[list[Ident], Field(min_length=1)]


class SeedDeviceModel(Entry):
    id: Ident
    name: LocalName
    slot_type: Ident
    link: Link = DEFAULT_LINK  # how the cabinet talks to its handhelds (cabinetproto.links)


class SeedDevice(Entry):
    serial: Ident
    model: Ident
    store: Ident
    active: bool = True


class SeedStaff(Entry):
    id: Ident
    name: Name
    badge: Annotated[str, AfterValidator(_badge)]
    store: Ident
    work_type: Ident
    role: Literal["staff", "technician", "manager"] = "staff"
    pin: Annotated[str, Field(pattern=rf"^[0-9]{{{MIN_PIN_DIGITS},{MAX_PIN_DIGITS}}}$")] | None = None
    active: bool = True


class SeedFile(Entry):
    stores: list[SeedStore] = []
    cabinets: list[SeedCabinet] = []
    work_types: list[SeedWorkType] = []
    device_models: list[SeedDeviceModel] = []
    devices: list[SeedDevice] = []
    staff: list[SeedStaff] = []


PRIVILEGED = frozenset({"technician", "manager"})
_KEYS = {"devices": "serial"}


def _entry_label(raw: dict[str, Any], table: str, index: int) -> str:
    entries = raw.get(table)
    label = f"{table}[{index}]"
    if isinstance(entries, list) and index < len(entries) and isinstance(entries[index], dict):
        key = _KEYS.get(table, "id")
        value = entries[index].get(key)
        if isinstance(value, str):
            label += f" ({key} {value!r})"
    return label


def _message(error: Any) -> str:
    if error["type"] == "missing":
        return "required"
    if error["type"] == "extra_forbidden":
        return "unknown key"
    if error["type"] == "string_pattern_mismatch" and error["loc"][-1] == "pin":
        return f"must be {MIN_PIN_DIGITS} to {MAX_PIN_DIGITS} digits"
    return str(error["msg"])


def _lines_from(exc: ValidationError, raw: dict[str, Any]) -> list[str]:
    lines = []
    for error in exc.errors(include_url=False):
        loc = list(error["loc"])
        if len(loc) == 1:
            lines.append(f"{loc[0]}: {_message(error)}")
            continue
        table, index, *rest = loc
        if not isinstance(index, int):
            lines.append(f"{table}: must be an array of tables ([[{table}]])")
            continue
        key = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in rest).lstrip(".")
        lines.append(f"{_entry_label(raw, str(table), index)}: {key or '(entry)'}: {_message(error)}")
    return lines


def load(path: Path) -> SeedFile:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SeedError([f"{path}: cannot read: {exc.strerror}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise SeedError([f"{path}: TOML syntax: {exc}"]) from None
    try:
        return SeedFile.model_validate(raw)
    except ValidationError as exc:
        raise SeedError([f"{path}: {line}" for line in _lines_from(exc, raw)]) from None


@dataclass
class _Checker:
    problems: list[str] = field(default_factory=list)

    def unique(self, table: str, entries: Iterable[Any], key: str) -> None:
        seen: dict[str, int] = {}
        for index, entry in enumerate(entries):
            value = getattr(entry, key)
            first = seen.setdefault(value, index)
            if first != index:
                self.problems.append(
                    f"{table}[{index}] ({key} {value!r}): {key}: {value!r} is already used by {table}[{first}]"
                )

    def refers(self, label: str, key: str, value: str, known: set[str], what: str) -> None:
        if value not in known:
            listed = ", ".join(sorted(known)) or "none"
            self.problems.append(f"{label}: {key}: no {what} {value!r} (defined: {listed})")


def check(conn: Connection, seed: SeedFile) -> list[str]:
    """Problems that span entries or need the database: duplicates and references."""
    c = _Checker()
    for table, key in (
        ("stores", "id"),
        ("cabinets", "id"),
        ("work_types", "id"),
        ("device_models", "id"),
        ("devices", "serial"),
        ("staff", "id"),
    ):
        c.unique(table, getattr(seed, table), key)
    stores = {s.id for s in seed.stores} | set(conn.execute(sa.select(schema.stores.c.id)).scalars())
    models = {m.id for m in seed.device_models} | fleet.ids(conn, Entity.DEVICE_MODELS)
    kinds = {w.id for w in seed.work_types} | fleet.ids(conn, Entity.WORK_TYPES)
    for i, cabinet in enumerate(seed.cabinets):
        c.refers(f"cabinets[{i}] (id {cabinet.id!r})", "store", cabinet.store, stores, "store")
    for i, work_type in enumerate(seed.work_types):
        for j, model in enumerate(work_type.device_models):
            c.refers(f"work_types[{i}] (id {work_type.id!r})", f"device_models[{j}]", model, models, "device model")
    for i, device in enumerate(seed.devices):
        label = f"devices[{i}] (serial {device.serial!r})"
        c.refers(label, "model", device.model, models, "device model")
        c.refers(label, "store", device.store, stores, "store")
    in_file = {member.id for member in seed.staff}
    badges = _Badges()
    for row in conn.execute(sa.select(schema.staff.c.id, schema.staff.c.badge)):
        if row.id not in in_file:
            badges.claim(row.badge, f"staff {row.id!r} (already in the cloud)")
    for i, member in enumerate(seed.staff):
        label = f"staff[{i}] (id {member.id!r})"
        c.refers(label, "store", member.store, stores, "store")
        c.refers(label, "work_type", member.work_type, kinds, "work type")
        if member.role in PRIVILEGED and member.pin is None:
            c.problems.append(f"{label}: pin: required for role {member.role!r}")
        if member.role not in PRIVILEGED and member.pin is not None:
            c.problems.append(f"{label}: pin: only technicians and managers have a PIN")
        owner = badges.claim(member.badge, label)
        if owner != label:
            c.problems.append(f"{label}: badge: {member.badge!r} is already the badge of {owner}")
    return c.problems


class _Badges:
    """Badges claimed so far. Two entries are one card when they match in the bits both tell
    (`0011828047` and `180,31567`), so the check is on the card, not on the text."""

    def __init__(self) -> None:
        self._by_key: dict[int, list[tuple[Badge, str]]] = {}

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


@dataclass
class SeedReport:
    changed: dict[str, int] = field(default_factory=dict)
    removed: dict[str, int] = field(default_factory=dict)

    def text(self) -> str:
        parts = [f"{table} {count}" for table, count in self.changed.items()]
        text = "changed: " + (", ".join(parts) if parts else "nothing")
        if self.removed:
            text += "; removed: " + ", ".join(f"{table} {n}" for table, n in self.removed.items())
        return text


def _staff_row(conn: Connection, member: SeedStaff) -> dict[str, Any]:
    pin_hash = None
    if member.pin is not None:
        held = fleet.current(conn, Entity.STAFF, member.id)
        old = None if held is None else held["pin_hash"]
        # Keep the stored hash while it still matches: a fresh salt would be a change every seed.
        pin_hash = old if old and verify_pin(member.pin, old) else hash_pin(member.pin)
    return {
        "id": member.id,
        "name": member.name,
        "badge": member.badge,
        "store": member.store,
        "work_type": member.work_type,
        "role": member.role,
        "pin_hash": pin_hash,
        "active": member.active,
    }


def _plain_upsert(conn: Connection, table: sa.Table, row: dict[str, Any]) -> bool:
    held = conn.execute(sa.select(table).where(table.c.id == row["id"])).mappings().first()
    if held is not None and all(held[name] == value for name, value in row.items()):
        return False
    if held is None:
        conn.execute(sa.insert(table).values(**row))
    else:
        conn.execute(sa.update(table).where(table.c.id == row["id"]).values(**row))
    return True


def apply(conn: Connection, seed: SeedFile, *, prune: bool = False) -> SeedReport:
    report = SeedReport()

    def count(table: str, changed: bool) -> None:
        if changed:
            report.changed[table] = report.changed.get(table, 0) + 1

    for store in seed.stores:
        count("stores", _plain_upsert(conn, schema.stores, store.model_dump()))
    for cabinet in seed.cabinets:
        count("cabinets", _plain_upsert(conn, schema.cabinets, cabinet.model_dump()))
    replicated: list[tuple[Entity, list[dict[str, Any]]]] = [
        (Entity.DEVICE_MODELS, [{**m.model_dump(), **_names(m.name)} for m in seed.device_models]),
        (
            Entity.WORK_TYPES,
            [
                {
                    **w.model_dump(),
                    **_names(w.name),
                    "apps": [a.model_dump() for a in w.apps],
                    "device_models": list(w.device_models),
                }
                for w in seed.work_types
            ],
        ),
        (Entity.DEVICES, [d.model_dump() for d in seed.devices]),
        (Entity.STAFF, [_staff_row(conn, member) for member in seed.staff]),
    ]
    for entity, rows in replicated:
        for row in rows:
            count(entity.value, fleet.upsert(conn, entity, row))
        if prune:
            _, key, _ = fleet.TABLES[entity]
            wanted = {str(row[key]) for row in rows}
            for gone in sorted(fleet.ids(conn, entity) - wanted):
                fleet.delete(conn, entity, gone)
                report.removed[entity.value] = report.removed.get(entity.value, 0) + 1
    return report


def seed_file(path: Path, writing: Callable[[], Any], *, prune: bool = False) -> SeedReport:
    """Load, check and apply a seed file in one transaction (`writing` opens it)."""
    seed = load(path)
    with writing() as conn:
        problems = check(conn, seed)
        if problems:
            raise SeedError([f"{path}: {line}" for line in problems])
        return apply(conn, seed, prune=prune)

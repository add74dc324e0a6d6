"""The fleet seed file: stores, cabinets, work types, device models, devices and staff, from TOML.

Seeding is declarative and idempotent: each entry is written only when it differs from what the
cloud holds, so seeding the same file twice changes nothing (no new change-feed entries, no audit
events either). Entries the file does not name are left alone unless `prune` is asked for. Every
problem is reported as one line naming the file, the table, the entry and the key. The entries and
their checks are the admin API's own (fleetdata.py, fleetcheck.py); every entry written is audited
(fleetwrite.py).
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy.engine import Connection

from cabinetcloud import audit, fleet, fleetcheck, fleetwrite
from cabinetcloud.fleetcheck import Badges, Known, Problem
from cabinetcloud.fleetdata import (
    CabinetEntry,
    DeviceEntry,
    DeviceModelEntry,
    StaffEntry,
    StoreEntry,
    WorkTypeEntry,
)
from cabinetproto.wire import Entity

# Who a seed's audit events name when the caller says nothing (the CLI names its local user).
SEED_ACTOR = audit.Actor(name="cli:seed", via="seed")


class SeedError(Exception):
    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


class SeedFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    stores: list[StoreEntry] = []
    cabinets: list[CabinetEntry] = []
    work_types: list[WorkTypeEntry] = []
    device_models: list[DeviceModelEntry] = []
    devices: list[DeviceEntry] = []
    staff: list[StaffEntry] = []


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

    def add(self, label: str, problems: list[Problem]) -> None:
        self.problems += [f"{label}: {problem.key}: {problem.message}" for problem in problems]


def check(conn: Connection, seed: SeedFile, *, prune: bool = False) -> list[str]:
    """Problems that span entries or need the database: duplicates and references. With `prune`, the
    work types and models the file does not name are about to go: nothing may refer to them."""
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
    known = Known(set(), set(), set()) if prune else Known.in_cloud(conn)
    known.stores = Known.in_cloud(conn).stores | {s.id for s in seed.stores}  # stores are never pruned
    known.device_models |= {m.id for m in seed.device_models}
    known.work_types |= {w.id for w in seed.work_types}
    for i, cabinet in enumerate(seed.cabinets):
        c.add(f"cabinets[{i}] (id {cabinet.id!r})", fleetcheck.cabinet_problems(cabinet, known))
    for i, work_type in enumerate(seed.work_types):
        c.add(f"work_types[{i}] (id {work_type.id!r})", fleetcheck.work_type_problems(work_type, known))
    for i, device in enumerate(seed.devices):
        c.add(f"devices[{i}] (serial {device.serial!r})", fleetcheck.device_problems(device, known))
    # Staff the file does not name keep their cards, unless they are about to be pruned.
    in_file = {member.id for member in seed.staff}
    badges = Badges() if prune else Badges.in_cloud(conn, leaving_out=in_file, suffix=" (already in the cloud)")
    for i, member in enumerate(seed.staff):
        # A seed file is the whole truth of an entry: a privileged person's PIN is in it, never kept.
        label = f"staff[{i}] (id {member.id!r})"
        c.add(label, fleetcheck.staff_problems(member, known, badges, label))
    return c.problems


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


def apply(conn: Connection, seed: SeedFile, *, prune: bool = False, actor: audit.Actor = SEED_ACTOR) -> SeedReport:
    report = SeedReport()

    def count(table: str, changed: bool) -> None:
        if changed:
            report.changed[table] = report.changed.get(table, 0) + 1

    for store in seed.stores:
        count("stores", fleetwrite.save_store(conn, actor, store))
    for cabinet in seed.cabinets:
        count("cabinets", fleetwrite.save_cabinet(conn, actor, cabinet))
    replicated: list[tuple[Entity, list[tuple[dict[str, Any], str | None]]]] = [
        (Entity.DEVICE_MODELS, [(fleetwrite.device_model_row(m), None) for m in seed.device_models]),
        (Entity.WORK_TYPES, [(fleetwrite.work_type_row(w), None) for w in seed.work_types]),
        (Entity.DEVICES, [(fleetwrite.device_row(d), None) for d in seed.devices]),
        (Entity.STAFF, [(fleetwrite.staff_row(conn, member), member.notify) for member in seed.staff]),
    ]
    for entity, rows in replicated:
        for row, notify in rows:
            count(entity.value, fleetwrite.save(conn, actor, entity, row, notify=notify))
        if prune:
            _, key, _ = fleet.TABLES[entity]
            wanted = {str(row[key]) for row, _ in rows}
            for gone in sorted(fleet.ids(conn, entity) - wanted):
                fleetwrite.remove(conn, actor, entity, gone)
                report.removed[entity.value] = report.removed.get(entity.value, 0) + 1
    return report


def seed_file(
    path: Path, writing: Callable[[], Any], *, prune: bool = False, actor: audit.Actor = SEED_ACTOR
) -> SeedReport:
    """Load, check and apply a seed file in one transaction (`writing` opens it)."""
    seed = load(path)
    with writing() as conn:
        problems = check(conn, seed, prune=prune)
        if problems:
            raise SeedError([f"{path}: {line}" for line in problems])
        return apply(conn, seed, prune=prune, actor=actor)

"""Remote commands: queued by an operator, fetched by their cabinet, closed by its command_result.

The cloud hands a cabinet every command it has not yet seen a result for, expired ones included:
the cabinet judges expiry by the cloud's clock as it estimates it, refuses what is late, and says so
in its result, so the operator always learns what became of a command.

Every command is checked here before it is queued, from the CLI and the admin API alike: a known
kind, the arguments it takes with their types, and a slot the cabinet has (its `slots` setting:
docs/fleet.md, "Fleet data").
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cabinetcloud import schema
from cabinetcloud.fleetwrite import slots_of
from cabinetcloud.storage import counter_value, next_number
from cabinetproto.wire import COMMAND_ARGS, REQUIRED_COMMAND_ARGS, Command, CommandKind

MAX_TEXT_ARG = 200


class CommandError(Exception):
    """A command cannot be queued; the message names the cabinet, the kind or the argument, and
    `field` the part of a request body it is about (`kind`, `args.slot`)."""

    def __init__(self, message: str, field: str = "args") -> None:
        super().__init__(message)
        self.field = field


def _kind(kind: str) -> CommandKind:
    try:
        return CommandKind(kind)
    except ValueError:
        kinds = ", ".join(member.value for member in CommandKind)
        raise CommandError(f"unknown command kind {kind!r} (known: {kinds})", "kind") from None


def _ranges(slots: list[int]) -> str:
    """`1-8, 11`: slot numbers as a person reads them."""
    runs: list[list[int]] = []
    for slot in slots:
        if runs and slot == runs[-1][-1] + 1:
            runs[-1].append(slot)
        else:
            runs.append([slot])
    return ", ".join(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]) for run in runs)


def _checked_value(kind: CommandKind, name: str, value: object, takes: type) -> str | int | bool:
    if takes is int and (not isinstance(value, int) or isinstance(value, bool)):
        raise CommandError(f"command {kind}: {name} must be a whole number, got {value!r}", f"args.{name}")
    if takes is str and not isinstance(value, str):
        raise CommandError(f"command {kind}: {name} must be text, got {value!r}", f"args.{name}")
    if isinstance(value, str) and len(value) > MAX_TEXT_ARG:
        raise CommandError(f"command {kind}: {name} must be at most {MAX_TEXT_ARG} characters", f"args.{name}")
    assert isinstance(value, str | int | bool)
    return value


def check(
    conn: Connection, cabinet_id: str, kind: str, args: dict[str, object]
) -> tuple[CommandKind, dict[str, str | int | bool]]:
    """The command as it will be queued, or CommandError naming what is wrong with it."""
    known = _kind(kind)
    takes = COMMAND_ARGS[known]
    checked: dict[str, str | int | bool] = {}
    for name, value in args.items():
        if name not in takes:
            raise CommandError(f"command {kind}: takes {', '.join(sorted(takes))}, not {name!r}", f"args.{name}")
        checked[name] = _checked_value(known, name, value, takes[name])
    missing = sorted((REQUIRED_COMMAND_ARGS & takes.keys()) - checked.keys())
    if missing:
        raise CommandError(f"command {kind}: missing {', '.join(missing)}", f"args.{missing[0]}")
    if "slot" in checked:
        slots = slots_of(conn, cabinet_id)
        if not slots:
            raise CommandError(
                f"cabinet {cabinet_id!r} has no slots set: set them first "
                f"(PUT /v1/admin/cabinets/{cabinet_id}/slots, or slots in the seed file)",
                "args.slot",
            )
        if checked["slot"] not in slots:
            raise CommandError(
                f"command {kind}: cabinet {cabinet_id!r} has no slot {checked['slot']} (its slots: {_ranges(slots)})",
                "args.slot",
            )
    return known, checked


def parse_args(kind: str, pairs: list[str]) -> tuple[CommandKind, dict[str, str | int | bool]]:
    """`slot=3 reason=jammed` into typed arguments for `kind`; queue() checks them."""
    known = _kind(kind)
    takes = COMMAND_ARGS[known]
    args: dict[str, str | int | bool] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise CommandError(f"command {kind}: argument {pair!r} is not NAME=VALUE")
        if name not in takes:
            raise CommandError(f"command {kind}: takes {', '.join(sorted(takes))}, not {name!r}")
        if takes[name] is int:
            try:
                args[name] = int(text)
            except ValueError:
                raise CommandError(f"command {kind}: {name} must be a whole number, got {text!r}") from None
        else:
            args[name] = text
    return known, args


def _command(row: Any) -> Command:
    return Command(
        command_id=row.command_id,
        number=row.number,
        kind=row.kind,
        args=json.loads(row.args),
        issued_at=row.issued_at,
        expires_at=row.expires_at,
    )


def queue(
    conn: Connection,
    cabinet_id: str,
    kind: CommandKind,
    args: dict[str, str | int | bool],
    expires_in: timedelta,
    now: datetime | None = None,
) -> Command:
    known = conn.execute(sa.select(schema.cabinets.c.id).where(schema.cabinets.c.id == cabinet_id)).first()
    if known is None:
        raise CommandError(f"cabinet {cabinet_id!r} is not known")
    kind, args = check(conn, cabinet_id, kind.value, dict(args))
    if expires_in <= timedelta(0):
        raise CommandError(f"command {kind}: expiry must be in the future")
    now = now or datetime.now(UTC)
    values = {
        "command_id": str(uuid.uuid4()),
        "number": next_number(conn, "commands"),
        "cabinet_id": cabinet_id,
        "kind": kind.value,
        "args": json.dumps(args, sort_keys=True),
        "issued_at": now,
        "expires_at": now + expires_in,
        "status": "pending",
    }
    conn.execute(sa.insert(schema.commands).values(**values))
    return Command.model_validate({**values, "args": args})


def pending(conn: Connection, cabinet_id: str, after: int, now: datetime) -> list[Command]:
    """Commands without a result, numbered after `after`; marks them delivered."""
    rows = conn.execute(
        sa.select(schema.commands)
        .where(
            schema.commands.c.cabinet_id == cabinet_id,
            schema.commands.c.status == "pending",
            schema.commands.c.number > after,
        )
        .order_by(schema.commands.c.number)
        .limit(100)
    ).all()
    fresh = [row.command_id for row in rows if row.delivered_at is None]
    if fresh:
        conn.execute(sa.update(schema.commands).where(schema.commands.c.command_id.in_(fresh)).values(delivered_at=now))
    return [_command(row) for row in rows]


def undelivered(conn: Connection, cabinet_id: str) -> bool:
    return (
        conn.execute(
            sa.select(schema.commands.c.command_id)
            .where(
                schema.commands.c.cabinet_id == cabinet_id,
                schema.commands.c.status == "pending",
                schema.commands.c.delivered_at.is_(None),
            )
            .limit(1)
        ).first()
        is not None
    )


def status(conn: Connection, command_id: str) -> Any:
    return conn.execute(sa.select(schema.commands).where(schema.commands.c.command_id == command_id)).first()


def status_of(row: Any, now: datetime) -> str:
    """What became of a command: done or failed by its result; else expired, delivered or pending."""
    if row.status != "pending":
        return str(row.status)
    if row.expires_at <= now:
        return "expired"
    return "delivered" if row.delivered_at is not None else "pending"


def of_cabinet(conn: Connection, cabinet_id: str, limit: int, before: int | None = None) -> list[Any]:
    """A cabinet's commands, newest first, numbered below `before`."""
    query = (
        sa.select(schema.commands)
        .where(schema.commands.c.cabinet_id == cabinet_id)
        .order_by(schema.commands.c.number.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(schema.commands.c.number < before)
    return list(conn.execute(query).all())


def head(conn: Connection) -> int:
    return counter_value(conn, "commands")

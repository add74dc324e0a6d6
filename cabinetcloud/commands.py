"""Remote commands: queued by an operator, fetched by their cabinet, closed by its command_result.

The cloud hands a cabinet every command it has not yet seen a result for, expired ones included:
the cabinet judges expiry by the cloud's clock as it estimates it, refuses what is late, and says so
in its result, so the operator always learns what became of a command.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cabinetcloud import schema
from cabinetcloud.storage import counter_value, next_number
from cabinetproto.wire import COMMAND_ARGS, REQUIRED_COMMAND_ARGS, Command, CommandKind


class CommandError(Exception):
    """A command cannot be queued; the message names the cabinet, the kind or the argument."""


def parse_args(kind: str, pairs: list[str]) -> tuple[CommandKind, dict[str, str | int | bool]]:
    """`slot=3 reason=jammed` into typed arguments for `kind`, checked against what it takes."""
    try:
        known = CommandKind(kind)
    except ValueError:
        kinds = ", ".join(member.value for member in CommandKind)
        raise CommandError(f"unknown command kind {kind!r} (known: {kinds})") from None
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
    missing = sorted((REQUIRED_COMMAND_ARGS & takes.keys()) - args.keys())
    if missing:
        raise CommandError(f"command {kind}: missing {', '.join(missing)}")
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


def head(conn: Connection) -> int:
    return counter_value(conn, "commands")

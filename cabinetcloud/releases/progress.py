"""What became of a rollout, cabinet by cabinet: the last update_* event each sent for its release
(from the projector's facts, projections/facts.py), else what became of its offer_update command,
beside the version the cabinet reports at its sessions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cabinetcloud import commands, schema
from cabinetcloud.projections.tables import updates
from cabinetcloud.releases.tables import releases, rollout_cabinets, rollouts
from cabinetcloud.releases.uploads import record

# Every state a cabinet of a rollout can be in, in the order of a release's way onto the cabinet.
STATES: Final = (
    "current",  # reported the release's version already: no command was queued
    "queued",  # the offer waits for the cabinet to fetch it
    "delivered",  # fetched, no update_* event back yet
    "offered",
    "downloaded",
    "installing",
    "installed",
    "refused",
    "rolled_back",
    "expired",  # the offer expired before the cabinet said anything of it
    "failed",  # the command's result failed, with no update_* event (e.g. a cabinet too old for it)
)


def _state(row: Any, fact: Any, now: datetime) -> str:
    if fact is not None:
        return str(fact.type).removeprefix("update_")
    if row.command_id is None:
        return "current"
    status = commands.status_of(row, now)
    return {"pending": "queued", "done": "delivered"}.get(status, status)


def _last_facts(conn: Connection, release_id: int, cabinet_ids: list[str]) -> dict[str, Any]:
    """Each cabinet's latest update_* fact for the release, by (epoch ordinal, seq)."""
    rows = conn.execute(
        sa.select(updates)
        .where(updates.c.release == str(release_id), updates.c.cabinet_id.in_(cabinet_ids))
        .order_by(updates.c.cabinet_id, updates.c.ordinal, updates.c.seq)
    ).all()
    return {row.cabinet_id: row for row in rows}  # the last of each cabinet's wins


def _cabinets(conn: Connection, rollout_id: int) -> list[Any]:
    return list(
        conn.execute(
            sa.select(
                rollout_cabinets.c.cabinet_id,
                rollout_cabinets.c.command_id,
                schema.cabinets.c.store,
                schema.cabinets.c.software_version,
                schema.commands.c.status,
                schema.commands.c.expires_at,
                schema.commands.c.delivered_at,
                schema.commands.c.result_detail,
            )
            .join(schema.cabinets, schema.cabinets.c.id == rollout_cabinets.c.cabinet_id)
            .outerjoin(schema.commands, schema.commands.c.command_id == rollout_cabinets.c.command_id)
            .where(rollout_cabinets.c.rollout_id == rollout_id)
            .order_by(rollout_cabinets.c.cabinet_id)
        ).all()
    )


def summary(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "release_id": row.release_id,
        "target": row.target,
        "store": row.store,
        "percent": row.percent,
        "allow_downgrade": row.allow_downgrade,
        "created_by": row.created_by,
        "created_at": row.created_at,
        "expires_at": row.expires_at,
    }


def of_rollout(
    conn: Connection, rollout_id: int, now: datetime, sees_store: Callable[[str], bool] = lambda _store: True
) -> dict[str, Any] | None:
    """The rollout, its release, each chosen cabinet's state and the counts; None when not known."""
    rollout = conn.execute(sa.select(rollouts).where(rollouts.c.id == rollout_id)).first()
    if rollout is None:
        return None
    release = conn.execute(sa.select(releases).where(releases.c.id == rollout.release_id)).one()
    rows = [row for row in _cabinets(conn, rollout_id) if sees_store(row.store)]
    if not rows:
        return None  # a store-manager who sees none of its cabinets: as if it did not exist
    facts = _last_facts(conn, release.id, [row.cabinet_id for row in rows])
    cabinets = []
    for row in rows:
        fact = facts.get(row.cabinet_id)
        state = _state(row, fact, now)
        cabinets.append(
            {
                "cabinet": row.cabinet_id,
                "store": row.store,
                "software_version": row.software_version,
                "state": state,
                "reason": fact.reason if fact is not None else (row.result_detail if state == "failed" else None),
                "at": fact.at if fact is not None else None,
                "command_id": row.command_id,
            }
        )
    counted = Counter(cabinet["state"] for cabinet in cabinets)
    counts = {state: counted.get(state, 0) for state in STATES}
    return {**summary(rollout), "release": record(release), "counts": counts, "cabinets": cabinets}


def of_release(conn: Connection, release_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(sa.select(rollouts).where(rollouts.c.release_id == release_id).order_by(rollouts.c.id.desc()))
    return [summary(row) for row in rows]

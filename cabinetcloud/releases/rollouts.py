"""A rollout: a release offered to a store, to listed cabinets, or to a share of the fleet (or of a
store), one `offer_update` command per chosen cabinet through the fleet's command queue.

A share is taken in a fixed order per release: the cabinets sorted by SHA-256 of "release/cabinet",
the first ceil(percent × cabinets / 100) of them. Raising a share from 10 % to 50 % takes the same
first cabinets again, and a cabinet offered the release before keeps that offer: no second command.
Only enrolled cabinets (holding a token) count for a store or a share; listed cabinets are taken as
listed. A rollout that would take a cabinet to an older version than it reports is refused unless it
allows a downgrade; a cabinet that reports the release's version already gets no command.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cabinetcloud import audit, commands, schema
from cabinetcloud.releases.tables import releases, rollout_cabinets, rollouts
from cabinetcloud.releases.uploads import ReleaseError
from cabinetcloud.storage import Storage
from cabinetproto import debversion
from cabinetproto.wire import CommandKind

DEFAULT_EXPIRY: Final = timedelta(days=7)
SHOWN: Final = 5  # cabinets named in a refusal before "and N more"
# An earlier offer still standing (or carried out): the cabinet is not offered the release again.
STANDING: Final = frozenset({"pending", "delivered", "done"})


@dataclass(frozen=True)
class Target:
    kind: str  # store | cabinets | share
    store: str | None = None
    cabinets: tuple[str, ...] = field(default_factory=tuple)
    percent: int | None = None


def share_key(release_id: int, cabinet_id: str) -> bytes:
    return hashlib.sha256(f"{release_id}/{cabinet_id}".encode()).digest()


def _named(ids: list[str]) -> str:
    more = f" and {len(ids) - SHOWN} more" if len(ids) > SHOWN else ""
    return ", ".join(repr(one) for one in ids[:SHOWN]) + more


def _enrolled(conn: Connection, store: str | None) -> list[Any]:
    cabinets = schema.cabinets
    query = sa.select(cabinets).where(cabinets.c.token_hash.is_not(None)).order_by(cabinets.c.id)
    if store is not None:
        query = query.where(cabinets.c.store == store)
    return list(conn.execute(query).all())


def _listed(conn: Connection, ids: tuple[str, ...]) -> list[Any]:
    unique = sorted(set(ids))
    rows = list(conn.execute(sa.select(schema.cabinets).where(schema.cabinets.c.id.in_(unique))).all())
    unknown = sorted(set(unique) - {row.id for row in rows})
    if unknown:
        raise ReleaseError(422, "invalid", f"body.cabinets: cabinet {_named(unknown)} not known")
    return sorted(rows, key=lambda row: row.id)


def chosen(conn: Connection, release_id: int, target: Target) -> list[Any]:
    """The cabinets (rows of `cabinets`) a target takes."""
    stores = schema.stores
    if (
        target.store is not None
        and conn.execute(sa.select(stores.c.id).where(stores.c.id == target.store)).first() is None
    ):
        raise ReleaseError(404, "not_found", f"store {target.store!r} is not known")
    if target.kind == "cabinets":
        return _listed(conn, target.cabinets)
    found = _enrolled(conn, target.store)
    if target.kind == "share":
        assert target.percent is not None
        found.sort(key=lambda row: share_key(release_id, row.id))
        found = sorted(found[: math.ceil(target.percent * len(found) / 100)], key=lambda row: row.id)
    return found


def _reported(row: Any) -> str | None:
    """The version a cabinet reported, when it is a Debian version: a checkout or a test rig reports
    other text, which orders against nothing (the cabinet judges the offer itself)."""
    try:
        return debversion.check(row.software_version) if row.software_version else None
    except debversion.VersionError:
        return None


def _order(release: Any, row: Any) -> int | None:
    """Below 0 when the release is older than what the cabinet runs; None when that is not known."""
    reported = _reported(row)
    return None if reported is None else debversion.compare(release.version, reported)


def _refuse_downgrade(release: Any, cabinets: list[Any]) -> None:
    newer = [f"{row.id} ({row.software_version})" for row in cabinets if (_order(release, row) or 0) < 0]
    if newer:
        raise ReleaseError(
            422,
            "downgrade",
            f"release {release.id} ({release.version}) is older than what cabinet {_named(newer)} runs: "
            "set allow_downgrade to roll it back",
        )


def _standing_offer(conn: Connection, release_id: int, cabinet_id: str, now: datetime) -> str | None:
    offers = conn.execute(
        sa.select(schema.commands)
        .join(rollout_cabinets, rollout_cabinets.c.command_id == schema.commands.c.command_id)
        .where(rollout_cabinets.c.release_id == release_id, rollout_cabinets.c.cabinet_id == cabinet_id)
        .order_by(schema.commands.c.number.desc())
    ).all()
    for offer in offers:
        if commands.status_of(offer, now) in STANDING:
            return str(offer.command_id)
    return None


def _offer(release: Any, allow_downgrade: bool) -> dict[str, str | int | bool]:
    return {
        "release": str(release.id),
        "version": release.version,
        "sha256": release.sha256,
        "size": int(release.size),
        "signature": release.signature,
        "allow_downgrade": allow_downgrade,
    }


@dataclass(frozen=True)
class Order:
    target: Target
    allow_downgrade: bool = False
    expires_in: timedelta = DEFAULT_EXPIRY


def start(
    storage: Storage,
    release_id: int,
    order: Order,
    actor: audit.Actor,
    now: datetime,
    sees_store: Callable[[str], bool] = lambda _store: True,
) -> int:
    """Record the rollout and queue its offers; returns its id, or ReleaseError."""
    with storage.writing() as conn:
        # Two rollouts of one release at once would both see no offer standing: one after the other.
        release = conn.execute(storage.lock_for_update(sa.select(releases).where(releases.c.id == release_id))).first()
        if release is None:
            raise ReleaseError(404, "not_found", f"release {release_id} is not known")
        cabinets = chosen(conn, release_id, order.target)
        hidden = sorted(row.id for row in cabinets if not sees_store(row.store))
        if hidden:
            raise ReleaseError(404, "not_found", f"cabinet {_named(hidden)} not known")
        if not cabinets:
            where = f"store {order.target.store!r}" if order.target.store else "the fleet"
            raise ReleaseError(
                422, "no_cabinets", f"{where} has no enrolled cabinet to roll release {release_id} out to"
            )
        if not order.allow_downgrade:
            _refuse_downgrade(release, cabinets)
        rollout_id = _record(conn, release, order, cabinets, actor, now)
    return rollout_id


def _record(
    conn: Connection, release: Any, order: Order, cabinets: list[Any], actor: audit.Actor, now: datetime
) -> int:
    target = order.target
    rollout_id = int(
        conn.execute(
            sa.insert(rollouts)
            .values(
                release_id=release.id,
                target=target.kind,
                store=target.store,
                percent=target.percent,
                allow_downgrade=order.allow_downgrade,
                created_by=actor.name,
                created_at=now,
                expires_at=now + order.expires_in,
            )
            .returning(rollouts.c.id)
        ).scalar_one()
    )
    queued = 0
    for row in cabinets:
        command_id: str | None = None
        if _order(release, row) != 0:
            command_id = _standing_offer(conn, release.id, row.id, now)
            if command_id is None:
                offer = _offer(release, order.allow_downgrade)
                command_id = commands.queue(
                    conn, row.id, CommandKind.OFFER_UPDATE, offer, order.expires_in, now
                ).command_id
                queued += 1
        conn.execute(
            sa.insert(rollout_cabinets).values(
                rollout_id=rollout_id, cabinet_id=row.id, command_id=command_id, release_id=release.id
            )
        )
    after = {
        "release": release.id,
        "version": release.version,
        "target": target.kind,
        "store": target.store,
        "percent": target.percent,
        "cabinets": [row.id for row in cabinets],
        "commands_queued": queued,
        "allow_downgrade": order.allow_downgrade,
    }
    audit.record(conn, actor, "start", "rollout", str(rollout_id), after=after, now=now)
    return rollout_id

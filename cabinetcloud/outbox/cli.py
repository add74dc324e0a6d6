"""`cabinet-cloud deliveries list|retry|run`: the outbox from the command line.

`list` shows each delivery with its endpoint, attempts, next try and last status; `retry` makes failed or
held deliveries due now (audited, as any operator's change); `run` sends what is due, once or until
nothing is due (every `serve` process does this by itself; `run` is for a host that only sends).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from cabinetcloud import audit, schema
from cabinetcloud.outbox import queue, worker
from cabinetcloud.storage import Storage

STATUSES = ("pending", "delivered", "failed", "held")


def add_parser(sub: Any, db: argparse.ArgumentParser) -> None:
    deliveries = sub.add_parser("deliveries", help="outbound deliveries: list, retry, run")
    verbs = deliveries.add_subparsers(dest="verb", required=True)
    listing = verbs.add_parser("list", parents=[db], help="list deliveries, newest first")
    listing.add_argument("--status", choices=STATUSES)
    listing.add_argument("--store", metavar="STORE")
    listing.add_argument("--limit", type=int, default=50, metavar="N")
    again = verbs.add_parser("retry", parents=[db], help="make failed or held deliveries due now")
    again.add_argument("ids", nargs="*", type=int, metavar="ID")
    again.add_argument("--all-failed", action="store_true", help="every failed delivery")
    run = verbs.add_parser("run", parents=[db], help="send what is due")
    run.add_argument("--until-idle", action="store_true", help="keep sending until nothing is due")


def _list(storage: Storage, args: argparse.Namespace) -> int:
    d, e = schema.deliveries, schema.endpoints
    query = (
        sa.select(d, e.c.store, e.c.name.label("endpoint"))
        .join(e, e.c.id == d.c.endpoint_id)
        .order_by(d.c.id.desc())
        .limit(max(1, args.limit))
    )
    if args.status:
        query = query.where(d.c.status == args.status)
    if args.store:
        query = query.where(e.c.store == args.store)
    with storage.reading() as conn:
        rows = conn.execute(query).all()
    print(f"{'id':>6}  {'endpoint':<24} {'type':<22} {'status':<10} {'tries':>5}  {'next try':<20} last")
    for row in rows:
        nxt = row.next_attempt_at.isoformat(timespec="seconds") if row.next_attempt_at else "-"
        last = "" if row.last_status is None else str(row.last_status)
        if row.last_error:
            last = f"{last} {row.last_error}".strip()
        where = f"{row.store}/{row.endpoint}"
        print(f"{row.id:>6}  {where:<24} {row.event_type:<22} {row.status:<10} {row.attempts:>5}  {nxt:<20} {last}")
    return 0


def _retry(storage: Storage, args: argparse.Namespace, actor: audit.Actor) -> int:
    now = datetime.now(UTC)
    with storage.writing() as conn:
        ids = list(args.ids)
        if args.all_failed:
            d = schema.deliveries
            ids += list(conn.execute(sa.select(d.c.id).where(d.c.status == queue.FAILED)).scalars())
        moved = queue.retry(conn, sorted(set(ids)), now)
        audit.record(
            conn, actor, "retry", "deliveries", ",".join(map(str, sorted(set(ids))))[:128], after={"due_again": moved}
        )
    print(
        f"{moved} deliveries due again now"
        + ("" if moved == len(set(ids)) else " (the others were not failed or held)")
    )
    return 0


def run(args: argparse.Namespace, storage: Storage, actor: audit.Actor) -> int:
    if args.verb == "list":
        return _list(storage, args)
    if args.verb == "retry":
        return _retry(storage, args, actor)
    sent = worker.run_once(storage)
    total = sent
    while args.until_idle and sent:
        sent = worker.run_once(storage)
        total += sent
    print(f"{total} attempts made")
    return 0

"""`cabinet-cloud`: serve the sync endpoint, enrol cabinets, seed the fleet, queue commands."""

from __future__ import annotations

import argparse
import copy
import logging
import logging.config
import os
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from cabinetcloud import audit, auth, commands, database_copy, fleet, operators, schema, users
from cabinetcloud.outbox import cli as outbox_cli
from cabinetcloud.releases import cli as release_cli
from cabinetcloud.releases.keys import RELEASE_KEY_ENV, fleet_key
from cabinetcloud.seed import SeedError, seed_file
from cabinetcloud.storage import Storage, StorageError, current_version
from cabinetproto import __version__, releasesig

log = logging.getLogger("cabinetcloud")

EXIT_REFUSED = 1
EXIT_USAGE = 2


def _parser() -> argparse.ArgumentParser:
    db = argparse.ArgumentParser(add_help=False)
    db.add_argument(
        "--db",
        default=os.environ.get("CABINET_CLOUD_DB") or None,
        metavar="URL",
        help="sqlite:///PATH or postgresql+psycopg://USER@HOST/NAME (default: $CABINET_CLOUD_DB; one is required)",
    )
    parser = argparse.ArgumentParser(
        prog="cabinet-cloud", description="The reference cloud endpoint for smart device cabinets."
    )
    parser.add_argument("--version", action="version", version=f"cabinet-cloud {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", parents=[db], help="serve the sync API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--workers", type=int, default=1, metavar="N", help="processes serving one address (PostgreSQL only)"
    )
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    release_cli.add_serve_option(serve)
    sub.add_parser("migrate", parents=[db], help="bring the database to the newest schema")
    moving = sub.add_parser("copy", help="copy a whole fleet database into an empty one (e.g. SQLite to PostgreSQL)")
    moving.add_argument("--from", dest="source", required=True, metavar="URL", help="the database to copy")
    moving.add_argument("--to", dest="target", required=True, metavar="URL", help="an empty database")

    token_file = argparse.ArgumentParser(add_help=False)
    token_file.add_argument(
        "--token-file", type=Path, metavar="PATH", help="write the token to PATH (mode 0600) instead of printing it"
    )
    enroll = sub.add_parser("enroll", parents=[db, token_file], help="register a cabinet and issue its token")
    enroll.add_argument("--cabinet", required=True, metavar="ID")
    enroll.add_argument("--store", required=True, metavar="STORE")
    rotate = sub.add_parser("rotate", parents=[db, token_file], help="replace a cabinet's token")
    rotate.add_argument("--cabinet", required=True, metavar="ID")
    revoke = sub.add_parser("revoke", parents=[db], help="revoke a cabinet's token")
    revoke.add_argument("--cabinet", required=True, metavar="ID")

    seed = sub.add_parser("seed", parents=[db], help="load a fleet seed file (idempotent)")
    seed.add_argument("file", type=Path, metavar="FILE.toml")
    seed.add_argument("--prune", action="store_true", help="also delete fleet entries the file does not name")

    command = sub.add_parser("command", parents=[db], help="queue a remote command for a cabinet")
    command.add_argument("--cabinet", required=True, metavar="ID")
    command.add_argument("--expires-in", type=float, default=60.0, metavar="MINUTES")
    command.add_argument(
        "kind", metavar="KIND", help="unlock_slot, disable_slot, enable_slot, power_cycle_port, reprovision"
    )
    command.add_argument("args", nargs="*", metavar="NAME=VALUE")

    compact = sub.add_parser("compact", parents=[db], help="drop old change-feed entries")
    compact.add_argument("--keep", type=int, default=10_000, metavar="N", help="changes to keep (default 10000)")

    sub.add_parser("cabinets", parents=[db], help="list cabinets with their sync state")
    users.add_parser(sub, db)
    release_cli.add_parser(sub)
    outbox_cli.add_parser(sub, db)
    return parser


def _hand_out(token: str, path: Path | None, cabinet_id: str) -> None:
    if path is None:
        print(token)
        print(
            f"cabinet {cabinet_id}: this token is shown once; put it in the cabinet's token file (mode 0600)",
            file=sys.stderr,
        )
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(token + "\n")
    print(f"cabinet {cabinet_id}: token written to {path}")


def _log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, and ours on stderr beside it, set up the same way in every worker process."""
    import uvicorn.config

    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["formatters"]["plain"] = {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    config["handlers"]["plain"] = {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}
    config["root"] = {"handlers": ["plain"], "level": level.upper()}
    return config


def _serve(storage: Storage, url: str, args: argparse.Namespace) -> int:
    if args.workers < 1:
        print(f"cabinet-cloud: --workers {args.workers}: at least 1", file=sys.stderr)
        return EXIT_USAGE
    if args.workers > 1 and storage.dialect != "postgresql":
        print(
            f"cabinet-cloud: --workers {args.workers}: a SQLite database is served by one process; "
            "several need PostgreSQL (docs/fleet.md, PostgreSQL and several processes)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        fleet_key(args.release_key)  # each process loads it again: a bad file stops serve here, once
    except releasesig.ReleaseKeyError as exc:
        print(f"cabinet-cloud: --release-key: {exc}", file=sys.stderr)
        return EXIT_USAGE
    import uvicorn

    storage.dispose()  # each process opens its own connections
    os.environ["CABINET_CLOUD_DB"] = url  # read by app_from_environment in each process
    os.environ.pop(RELEASE_KEY_ENV, None)
    if args.release_key:
        os.environ[RELEASE_KEY_ENV] = str(Path(args.release_key).resolve())
    logging.config.dictConfig(_log_config(args.log_level))
    log.info("serving %s on http://%s:%d with %d process(es)", storage.url, args.host, args.port, args.workers)
    # A poll still held past the graceful shutdown (a tick longer than it) is cut after a few seconds.
    uvicorn.run(
        "cabinetcloud.app:app_from_environment",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        log_config=_log_config(args.log_level),
        access_log=False,
        timeout_graceful_shutdown=3,
    )
    return 0


def _cabinets(storage: Storage) -> int:
    with storage.reading() as conn:
        rows = conn.execute(sa.select(schema.cabinets).order_by(schema.cabinets.c.id)).all()
        held = {(row.cabinet_id, row.epoch): row.acked_seq for row in conn.execute(sa.select(schema.epochs)).all()}
        unknown = fleet.unknown_devices(conn)
    columns = f"{'cabinet':<16} {'store':<12} {'token':<8} {'last session':<26} {'skew s':>8}"
    print(f"{columns}  events held  unknown devices")
    for row in rows:
        token = "revoked" if row.revoked_at else ("yes" if row.token_hash else "no")
        skew = "" if row.skew_s is None else f"{row.skew_s:.0f}" + (" !" if row.skew_flagged else "")
        acked = sum(seq for (cabinet, _), seq in held.items() if cabinet == row.id)
        session = row.last_session_at.isoformat(timespec="seconds") if row.last_session_at else "never"
        flagged = ", ".join(unknown.get(row.id, [])) or "-"
        print(f"{row.id:<16} {row.store:<12} {token:<8} {session:<26} {skew:>8}  {acked:>11}  {flagged}")
    return 0


def _run(args: argparse.Namespace, storage: Storage) -> int:
    if args.command == "serve":
        return _serve(storage, args.db, args)
    if args.command == "cabinets":
        return _cabinets(storage)
    if args.command == "user":
        return users.run(args, storage)
    if args.command == "deliveries":
        return outbox_cli.run(args, storage, users.cli_actor())
    if args.command == "seed":
        # Audited as the local user, `via` seed: the audit log tells a seeded change from a typed one.
        actor = audit.Actor(name=users.cli_actor().name, via="seed")
        report = seed_file(args.file, storage.writing, prune=args.prune, actor=actor)
        print(f"seeded {args.file}: {report.text()}")
        return 0
    with storage.writing() as conn:
        if args.command in ("enroll", "rotate", "revoke"):
            before = auth.cabinet_record(conn, args.cabinet)
        if args.command == "enroll":
            token = auth.enroll(conn, args.cabinet, args.store)
        elif args.command == "rotate":
            token = auth.rotate(conn, args.cabinet)
        elif args.command == "revoke":
            auth.revoke(conn, args.cabinet)
            after = auth.cabinet_record(conn, args.cabinet)
            audit.record(conn, users.cli_actor(), "revoke", "cabinet", args.cabinet, before=before, after=after)
            print(f"cabinet {args.cabinet}: token revoked")
            return 0
        elif args.command == "command":
            kind, values = commands.parse_args(args.kind, args.args)
            queued = commands.queue(conn, args.cabinet, kind, values, timedelta(minutes=args.expires_in))
            after = queued.model_dump(mode="json")
            audit.record(conn, users.cli_actor(), "queue", "command", queued.command_id, after=after)
            print(f"{queued.command_id} queued for cabinet {args.cabinet}, expires {queued.expires_at.isoformat()}")
            return 0
        else:
            through = fleet.compact(conn, args.keep)
            print(f"change feed compacted through {through}")
            return 0
        after = auth.cabinet_record(conn, args.cabinet)
        audit.record(conn, users.cli_actor(), args.command, "cabinet", args.cabinet, before=before, after=after)
    _hand_out(token, args.token_file, args.cabinet)
    return 0


def _copy(source_url: str, target_url: str) -> int:
    try:
        report = database_copy.copy_database(source_url, target_url)
    except (StorageError, database_copy.CopyError, sa.exc.OperationalError) as exc:
        print(f"cabinet-cloud: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    for line in report.lines():
        print(line)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "copy":
        return _copy(args.source, args.target)
    if args.command == "release":
        return release_cli.run(args)
    if not args.db:
        # Never a database in the current directory by accident: an empty fleet nobody meant to create.
        print("cabinet-cloud: no database: pass --db URL or set CABINET_CLOUD_DB", file=sys.stderr)
        return EXIT_USAGE
    try:
        storage = Storage(args.db)
        # Every command, `serve` too, first brings the schema forward: `migrate` does only that.
        with storage.reading() as conn:
            before = current_version(conn)
        after = storage.migrate()
    except (StorageError, sa.exc.OperationalError) as exc:
        print(f"cabinet-cloud: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.command == "migrate":
        storage.dispose()
        moved = f"from schema version {before} to {after}" if before != after else f"already at schema version {after}"
        print(f"{storage.url}: {moved}")
        return 0
    try:
        return _run(args, storage)
    except SeedError as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return EXIT_REFUSED
    except (auth.EnrolmentError, commands.CommandError, operators.OperatorError, users.UserError) as exc:
        print(f"cabinet-cloud: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    finally:
        storage.dispose()


if __name__ == "__main__":
    sys.exit(main())

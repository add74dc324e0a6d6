"""`cabinet-cloud user add|passwd|token|disable`: operators' accounts from the command line, audited.

The CLI acts as `cli:<local user>`: whoever can run it against the database is trusted as an admin,
so it is how the first admin is made.
"""

from __future__ import annotations

import argparse
import getpass
import os
import pwd
import sys
from typing import Any

from cabinetcloud import audit, operators
from cabinetcloud.operators import Role
from cabinetcloud.storage import Storage


class UserError(Exception):
    """The command line asks for something that cannot be done; the message says what."""


def cli_actor() -> audit.Actor:
    try:
        user = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        user = str(os.getuid())
    return audit.Actor(name=f"cli:{user}", via="cli")


def add_parser(sub: Any, db: argparse.ArgumentParser) -> None:
    user = sub.add_parser("user", help="operators' accounts: add, passwd, token, disable")
    verbs = user.add_subparsers(dest="verb", required=True)
    password = argparse.ArgumentParser(add_help=False)
    password.add_argument(
        "--password-stdin", action="store_true", help="read the password from the first line of standard input"
    )
    add = verbs.add_parser("add", parents=[db, password], help="create an operator")
    add.add_argument("name", metavar="NAME")
    add.add_argument("--role", required=True, choices=[role.value for role in Role])
    add.add_argument("--store", action="append", default=[], metavar="STORE", help="a store-manager's store (repeat)")
    add.add_argument("--no-password", action="store_true", help="no password: the operator uses API tokens only")
    passwd = verbs.add_parser("passwd", parents=[db, password], help="set an operator's password")
    passwd.add_argument("name", metavar="NAME")
    token = verbs.add_parser("token", parents=[db], help="issue an API token (printed once)")
    token.add_argument("name", metavar="NAME")
    token.add_argument("--name", dest="label", default="cli", metavar="LABEL", help="what the token is for")
    disable = verbs.add_parser("disable", parents=[db], help="disable an operator (sessions end, tokens stop)")
    disable.add_argument("name", metavar="NAME")


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        line = sys.stdin.readline()
        if not line.strip():
            raise UserError(f"operator {args.name!r}: no password on standard input")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise UserError(f"operator {args.name!r}: standard input is not a terminal: use --password-stdin")
    first = getpass.getpass(f"password for {args.name}: ")
    if getpass.getpass("again: ") != first:
        raise UserError(f"operator {args.name!r}: the passwords differ")
    return first


def run(args: argparse.Namespace, storage: Storage) -> int:
    actor = cli_actor()
    password = None
    if args.verb == "passwd" or (args.verb == "add" and not args.no_password):
        password = _password(args)
        operators.check_password(args.name, password)
    with storage.writing() as conn:
        if args.verb == "add":
            made = operators.add(conn, args.name, Role(args.role), tuple(args.store), password)
            audit.record(conn, actor, "create", "operator", made.name, after=made.view())
            print(f"operator {made.name}: added as {made.role}")
        elif args.verb == "passwd":
            assert password is not None
            before = operators.get(conn, args.name)
            after = operators.set_password(conn, args.name, password)
            audit.record(conn, actor, "set_password", "operator", args.name, before=before.view(), after=after.view())
            print(f"operator {args.name}: password set; their browser sessions ended")
        elif args.verb == "token":
            record, token = operators.issue_token(conn, args.name, args.label)
            audit.record(conn, actor, "issue_token", "operator", args.name, after=record)
            print(token)
            print(
                f"operator {args.name}: token {record['id']} ({args.label}) is shown once; keep it secret",
                file=sys.stderr,
            )
        else:
            old, new = operators.update(conn, args.name, active=False)
            audit.record(conn, actor, "disable", "operator", args.name, before=old.view(), after=new.view())
            print(f"operator {args.name}: disabled")
    return 0

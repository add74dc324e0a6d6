"""`cabinet-cloud user ...`: accounts made, passwords hashed, tokens shown once, every action audited,
and no command without a database."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import sqlalchemy as sa

from cabinetcloud import audit, operators, schema
from cabinetcloud.__main__ import main
from cabinetcloud.storage import Storage
from testbed import cloudharness

PASSWORD = "correct horse battery"


def _stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(text))


@pytest.mark.parametrize(
    "argv", [["cabinets"], ["user", "token", "alice"], ["enroll", "--cabinet", "a", "--store", "b"]]
)
def test_fail__no_command_runs_without_a_database(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CABINET_CLOUD_DB", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert capsys.readouterr().err == "cabinet-cloud: no database: pass --db URL or set CABINET_CLOUD_DB\n"
    assert list(tmp_path.iterdir()) == []


def test_ok__the_database_may_come_from_the_environment(
    sqlite_storage: Storage, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CABINET_CLOUD_DB", sqlite_storage.url)
    assert main(["user", "add", "bot", "--role", "viewer", "--no-password"]) == 0
    assert capsys.readouterr().out == "operator bot: added as viewer\n"


def test_ok__add_passwd_token_disable_each_audited_and_nothing_raw_stored(
    storage: Storage, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--db", storage.url]
    cloudharness.seeded(storage)
    _stdin(monkeypatch, PASSWORD + "\n")
    assert main(["user", "add", "mia", "--role", "store-manager", "--store", "demo", *db, "--password-stdin"]) == 0
    assert capsys.readouterr().out == "operator mia: added as store-manager\n"
    _stdin(monkeypatch, "another long one\n")
    assert main(["user", "passwd", "mia", *db, "--password-stdin"]) == 0
    assert main(["user", "token", "mia", "--name", "script", *db]) == 0
    out, err = capsys.readouterr()
    token = out.splitlines()[-1]
    assert token.startswith("op1_")
    assert len(token) > 40
    assert err == "operator mia: token 1 (script) is shown once; keep it secret\n"
    assert main(["user", "disable", "mia", *db]) == 0
    with storage.reading() as conn:
        everything = repr([tuple(row) for table in schema.OPERATOR_TABLES for row in conn.execute(sa.select(table))])
        assert token not in everything
        assert PASSWORD not in everything
        assert "another long one" not in everything
        assert "$argon2id$" in everything
        mia = operators.get(conn, "mia")
        assert (mia.role, mia.stores, mia.active) == (operators.Role.STORE_MANAGER, ("demo",), False)
        assert operators.by_token(conn, token, operators.datetime.now(operators.UTC)) is None  # disabled
        events, _ = audit.page(conn, resource="operator", resource_id="mia")
    assert [e["action"] for e in events] == ["disable", "issue_token", "set_password", "create"]
    assert {e["via"] for e in events} == {"cli"}
    assert all(e["actor"].startswith("cli:") for e in events)
    assert events[0]["before"]["active"] is True
    assert events[0]["after"]["active"] is False


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (
            ["user", "add", "x", "--role", "admin", "--password-stdin"],
            "short\n",
            "operator 'x': a password needs at least 10 characters",
        ),
        (
            ["user", "add", "x", "--role", "admin", "--password-stdin"],
            "\n",
            "operator 'x': no password on standard input",
        ),
        (
            ["user", "add", "x", "--role", "store-manager", "--no-password"],
            "",
            "operator 'x': a store-manager needs at least one store",
        ),
        (
            ["user", "add", "x", "--role", "store-manager", "--store", "nowhere", "--no-password"],
            "",
            "operator 'x': store 'nowhere' is not known",
        ),
        (
            ["user", "add", "x", "--role", "viewer", "--store", "demo", "--no-password"],
            "",
            "operator 'x': only a store-manager has stores, not a viewer",
        ),
        (["user", "token", "ghost"], "", "operator 'ghost' is not known"),
        (["user", "passwd", "ghost"], "", "operator 'ghost': standard input is not a terminal: use --password-stdin"),
    ],
)
def test_fail__bad_user_commands_say_why(
    sqlite_storage: Storage,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    stdin: str,
    message: str,
) -> None:
    cloudharness.seeded(sqlite_storage)
    _stdin(monkeypatch, stdin)
    assert main([*argv, "--db", sqlite_storage.url]) == 1
    assert capsys.readouterr().err == f"cabinet-cloud: {message}\n"


def test_fail__an_operator_name_is_taken_once(sqlite_storage: Storage, capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--db", sqlite_storage.url]
    assert main(["user", "add", "bot", "--role", "viewer", "--no-password", *db]) == 0
    assert main(["user", "add", "bot", "--role", "admin", "--no-password", *db]) == 1
    assert capsys.readouterr().err == "cabinet-cloud: operator 'bot' already exists\n"


def test_ok__cabinet_enrolment_and_commands_from_the_cli_are_audited(sqlite_storage: Storage) -> None:
    db = ["--db", sqlite_storage.url]
    cloudharness.seeded(sqlite_storage)
    assert main(["rotate", *db, "--cabinet", "sim-1"]) == 0
    assert main(["revoke", *db, "--cabinet", "sim-1"]) == 0
    assert main(["command", *db, "--cabinet", "sim-1", "unlock_slot", "slot=2"]) == 0
    with sqlite_storage.reading() as conn:
        events, _ = audit.page(conn, resource="cabinet")
    assert [(e["action"], e["resource_id"], e["via"]) for e in events] == [
        ("revoke", "sim-1", "cli"),
        ("rotate", "sim-1", "cli"),
        ("create", "sim-1", "seed"),
    ]
    assert events[0]["before"]["enrolled"] is True
    assert events[0]["after"]["enrolled"] is False
    with sqlite_storage.reading() as conn:
        queued, _ = audit.page(conn, resource="command")
    assert [(e["action"], e["after"]["kind"], e["after"]["args"]) for e in queued] == [
        ("queue", "unlock_slot", {"slot": 2})
    ]

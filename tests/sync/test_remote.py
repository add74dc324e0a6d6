"""Remote commands run at most once: the `command_started` event is committed before the controller
runs one, and a command started without a result is recorded as failed, never run again."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cabinetd.ledger import Ledger, LedgerError
from cabinetd.sync.errors import SyncError
from cabinetd.sync.remote import CommandRunner
from cabinetproto.wire import Command, CommandOutcome
from testbed.syncrig import Executed

NOW = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def command(number: int, kind: str = "unlock_slot", *, expires_in: timedelta = timedelta(minutes=5)) -> Command:
    return Command(
        command_id=f"00000000-0000-7000-8000-{number:012d}",
        number=number,
        kind=kind,
        args={"slot": 1},
        issued_at=NOW,
        expires_at=NOW + expires_in,
    )


def runner(ledger: Any, execute: Any) -> CommandRunner:
    return CommandRunner(ledger, execute, lambda: NOW, timeout_s=5.0)


def command_events(ledger: Ledger) -> list[tuple[str, str, Any]]:
    return [
        (e.type, e.payload["command_id"], e.payload.get("ok"))
        for e in ledger.events_after(0, 1000, 1 << 30)
        if e.type.startswith("command_")
    ]


async def test_ok__the_start_is_committed_before_the_command_runs_and_the_result_after(ledger: Ledger) -> None:
    seen: list[list[tuple[str, str, Any]]] = []

    async def execute(cmd: Command) -> CommandOutcome:
        seen.append(command_events(ledger))
        return CommandOutcome(True, "opened")

    first = command(1)
    assert await runner(ledger, execute).handle([first]) == 1
    assert seen == [[("command_started", first.command_id, None)]]
    assert command_events(ledger) == [
        ("command_started", first.command_id, None),
        ("command_result", first.command_id, True),
    ]
    # Asked again (the cloud had not seen the result yet): nothing runs, nothing is recorded.
    assert await runner(ledger, execute).handle([first]) == 0
    assert len(seen) == 1


async def test_ok__a_command_cut_short_by_a_restart_is_failed_not_run_again(ledger: Ledger) -> None:
    async def dies(cmd: Command) -> CommandOutcome:
        raise asyncio.CancelledError  # the daemon stopped while the controller ran it

    cut_short = command(1)
    with pytest.raises(asyncio.CancelledError):
        await runner(ledger, dies).handle([cut_short])
    assert command_events(ledger) == [("command_started", cut_short.command_id, None)]

    executed = Executed()
    restarted = runner(ledger, executed)
    assert await restarted.handle([cut_short, command(2)]) == 2
    assert [c.number for c in executed.commands] == [2]
    result = ledger.tail(3)[0]
    assert (result.type, result.payload["ok"], result.payload["detail"]) == (
        "command_result",
        False,
        "interrupted by a restart of the cabinet; not run again",
    )
    assert restarted.after == 2


async def test_fail__a_start_that_cannot_be_recorded_runs_nothing(ledger: Ledger) -> None:
    class FullDisk:
        def command_executed(self, command_id: str) -> bool:
            return ledger.command_executed(command_id)

        def command_started(self, command_id: str) -> bool:
            return ledger.command_started(command_id)

        def append(self, event_type: str, payload: Mapping[str, Any]) -> object:
            raise LedgerError("ledger x: could not commit command_started (seq 1): database or disk is full")

    executed = Executed()
    commands = runner(FullDisk(), executed)
    blocked = command(1)
    with pytest.raises(SyncError) as caught:
        await commands.handle([blocked])
    assert str(caught.value) == (
        f"command {blocked.command_id}: could not record command_started: "
        "ledger x: could not commit command_started (seq 1): database or disk is full"
    )
    assert executed.commands == []
    assert commands.after == 0  # asked for again next time


async def test_ok__expired_and_unknown_commands_are_failed_without_a_start(ledger: Ledger) -> None:
    executed = Executed()
    late, odd = command(1, expires_in=timedelta(0)), command(2, "self_destruct")
    assert await runner(ledger, executed).handle([late, odd]) == 2
    assert executed.commands == []
    assert command_events(ledger) == [
        ("command_result", late.command_id, False),
        ("command_result", odd.command_id, False),
    ]

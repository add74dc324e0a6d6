"""Remote commands from the cloud, executed at most once each, through the controller.

The client does not open locks or power ports itself: it hands each command to a `CommandExecutor`
(the controller) and records the outcome as a `command_result` ledger event. At most once, even
across a crash: before a command runs, a `command_started` event is committed to the ledger (the
write-ahead rule, as for a door); a command started without a result was cut short by a restart,
and is recorded as failed rather than run again. A command past its expiry (by the cloud's clock as
the cabinet estimates it) is refused, not run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Final, Protocol

from cabinetd.ledger.errors import LedgerError
from cabinetd.sync.errors import SyncError
from cabinetproto.wire import Command, CommandKind, CommandOutcome

log = logging.getLogger(__name__)

DETAIL_MAX: Final = 500


CommandExecutor = Callable[[Command], Awaitable[CommandOutcome]]


class CommandLedger(Protocol):
    """What this module needs of the ledger."""

    def command_executed(self, command_id: str) -> bool: ...

    def command_started(self, command_id: str) -> bool: ...

    def append(self, event_type: str, payload: dict[str, object]) -> object: ...


class CommandRunner:
    def __init__(
        self,
        ledger: CommandLedger,
        execute: CommandExecutor,
        cloud_now: Callable[[], datetime],
        timeout_s: float,
    ) -> None:
        self.ledger = ledger
        self.execute = execute
        self.cloud_now = cloud_now
        self.timeout_s = timeout_s
        self.after = 0

    def _append(self, command: Command, event_type: str, payload: dict[str, object]) -> None:
        try:
            self.ledger.append(event_type, payload)
        except LedgerError as exc:
            # Not recorded, so not done: a start that failed to commit means the command must not run.
            raise SyncError(f"command {command.command_id}: could not record {event_type}: {exc}") from None

    def _record(self, command: Command, ok: bool, detail: str) -> None:
        if len(detail) > DETAIL_MAX:
            detail = detail[: DETAIL_MAX - 3] + "..."
        payload: dict[str, object] = {
            "command_id": command.command_id,
            "kind": command.kind[:64] or "unknown",
            "ok": ok,
            "detail": detail,
        }
        self._append(command, "command_result", payload)
        log.info("command %s (%s): %s %s", command.command_id, command.kind, "done" if ok else "failed", detail)

    async def handle(self, commands: list[Command]) -> int:
        """Run what is new in `commands`; returns how many results were recorded."""
        recorded = 0
        for command in sorted(commands, key=lambda c: c.number):
            if not self.ledger.command_executed(command.command_id):
                await self._handle(command)
                recorded += 1
            # Only past a command once it is recorded: one that could not be asked again next time.
            self.after = max(self.after, command.number)
        return recorded

    async def _handle(self, command: Command) -> None:
        if self.ledger.command_started(command.command_id):
            self._record(command, False, "interrupted by a restart of the cabinet; not run again")
            return
        now = self.cloud_now()
        if now >= command.expires_at:
            self._record(
                command,
                False,
                f"expired at {command.expires_at.isoformat()} (cloud time now {now.isoformat(timespec='seconds')})",
            )
            return
        if command.kind not in set(CommandKind):
            self._record(command, False, f"unknown command kind {command.kind!r}")
            return
        self._append(command, "command_started", {"command_id": command.command_id, "kind": command.kind})
        try:
            outcome = await asyncio.wait_for(self.execute(command), self.timeout_s)
        except TimeoutError:
            outcome = CommandOutcome(False, f"not finished within {self.timeout_s:.0f} s")
        except Exception as exc:  # the controller's failure is the command's result, not ours
            log.exception("command %s (%s) raised", command.command_id, command.kind)
            outcome = CommandOutcome(False, f"{exc.__class__.__name__}: {exc}")
        self._record(command, outcome.ok, outcome.detail)

"""Remote commands from the cloud, executed at most once each, through the controller.

The client does not open locks or power ports itself: it hands each command to a `CommandExecutor`
(the controller) and records the outcome as a `command_result` ledger event. At most once, even
across a crash: before a command runs, its id is written and synced to a small journal in the state
directory; a command found in the journal without a result was cut short by a restart, and is
recorded as failed rather than run again. A command past its expiry (by the cloud's clock as the
cabinet estimates it) is refused, not run.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Final, Protocol

from cabinetd.sync.protocol import Command, CommandKind

log = logging.getLogger(__name__)

JOURNAL_FILE: Final = "commands-started"
DETAIL_MAX: Final = 500


@dataclass(frozen=True)
class CommandOutcome:
    ok: bool
    detail: str = ""


CommandExecutor = Callable[[Command], Awaitable[CommandOutcome]]


class CommandLedger(Protocol):
    """What this module needs of the ledger."""

    def command_executed(self, command_id: str) -> bool: ...

    def append(self, event_type: str, payload: dict[str, object]) -> object: ...


class CommandJournal:
    """Ids of commands that were started, synced to disk before each one runs."""

    def __init__(self, state_dir: Path) -> None:
        self.path = Path(state_dir) / JOURNAL_FILE
        try:
            self._started = set(self.path.read_text(encoding="ascii").split())
        except FileNotFoundError:
            self._started = set()

    def started(self, command_id: str) -> bool:
        return command_id in self._started

    def mark(self, command_id: str) -> None:
        created = not self.path.exists()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, f"{command_id}\n".encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            _sync_dir(self.path.parent)
        self._started.add(command_id)

    def forget_finished(self, finished: Callable[[str], bool]) -> None:
        """Drop ids whose result is in the ledger, so the journal stays small."""
        keep = sorted(command_id for command_id in self._started if not finished(command_id))
        if len(keep) == len(self._started):
            return
        temporary = self.path.with_suffix(".new")
        temporary.write_text("".join(f"{command_id}\n" for command_id in keep), encoding="ascii")
        with temporary.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)
        _sync_dir(self.path.parent)
        self._started = set(keep)


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class CommandRunner:
    def __init__(
        self,
        ledger: CommandLedger,
        execute: CommandExecutor,
        journal: CommandJournal,
        cloud_now: Callable[[], datetime],
        timeout_s: float,
    ) -> None:
        self.ledger = ledger
        self.execute = execute
        self.journal = journal
        self.cloud_now = cloud_now
        self.timeout_s = timeout_s
        self.after = 0
        journal.forget_finished(ledger.command_executed)

    def _record(self, command: Command, ok: bool, detail: str) -> None:
        if len(detail) > DETAIL_MAX:
            detail = detail[: DETAIL_MAX - 3] + "..."
        payload: dict[str, object] = {
            "command_id": command.command_id,
            "kind": command.kind[:64] or "unknown",
            "ok": ok,
            "detail": detail,
        }
        self.ledger.append("command_result", payload)
        log.info("command %s (%s): %s %s", command.command_id, command.kind, "done" if ok else "failed", detail)

    async def handle(self, commands: list[Command]) -> int:
        """Run what is new in `commands`; returns how many results were recorded."""
        recorded = 0
        for command in sorted(commands, key=lambda c: c.number):
            self.after = max(self.after, command.number)
            if self.ledger.command_executed(command.command_id):
                continue
            recorded += 1
            if self.journal.started(command.command_id):
                self._record(command, False, "interrupted by a restart of the cabinet; not run again")
                continue
            now = self.cloud_now()
            if now >= command.expires_at:
                self._record(
                    command,
                    False,
                    f"expired at {command.expires_at.isoformat()} (cloud time now {now.isoformat(timespec='seconds')})",
                )
                continue
            if command.kind not in set(CommandKind):
                self._record(command, False, f"unknown command kind {command.kind!r}")
                continue
            self.journal.mark(command.command_id)
            try:
                outcome = await asyncio.wait_for(self.execute(command), self.timeout_s)
            except TimeoutError:
                outcome = CommandOutcome(False, f"not finished within {self.timeout_s:.0f} s")
            except Exception as exc:  # the controller's failure is the command's result, not ours
                log.exception("command %s (%s) raised", command.command_id, command.kind)
                outcome = CommandOutcome(False, f"{exc.__class__.__name__}: {exc}")
            self._record(command, outcome.ok, outcome.detail)
        return recorded

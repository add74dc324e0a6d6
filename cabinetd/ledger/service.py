"""The ledger as one of the daemon's subsystems: opened first, closed last; in between it folds the
write-ahead log into the file every few seconds."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Final

from cabinetd.ledger.errors import LedgerError
from cabinetd.ledger.integrity import open_ledger
from cabinetd.ledger.ledger import Ledger
from cabinetd.lifecycle import Subsystem

log = logging.getLogger(__name__)

FOLD_EVERY_S: Final = 5.0


class LedgerService(Subsystem):
    name = "ledger"

    def __init__(self, state_dir: Path, cabinet_id: str) -> None:
        super().__init__()
        self._state_dir = state_dir
        self._cabinet_id = cabinet_id
        self._ledger: Ledger | None = None

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            raise LedgerError(f"the ledger in {self._state_dir} is not open")
        return self._ledger

    async def prepare(self) -> None:
        self._ledger = open_ledger(self._state_dir, self._cabinet_id)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(FOLD_EVERY_S)
            try:
                self.ledger.fold_log()
            except LedgerError as exc:
                # Nothing committed depends on it (the log holds every commit, synced); SQLite's own
                # checkpoint tries again as the log grows.
                log.warning("%s", exc)

    async def cleanup(self) -> None:
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None

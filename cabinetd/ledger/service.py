"""The ledger as one of the daemon's subsystems: opened first, closed last."""

from __future__ import annotations

from pathlib import Path

from cabinetd.ledger.errors import LedgerError
from cabinetd.ledger.integrity import open_ledger
from cabinetd.ledger.ledger import Ledger
from cabinetd.lifecycle import Subsystem


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

    async def cleanup(self) -> None:
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None

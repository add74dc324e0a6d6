"""The cabinet assembled from its configuration: which subsystems run, in which order."""

from __future__ import annotations

import time

from cabinetd.api.app import build_app
from cabinetd.api.server import ApiServer
from cabinetd.config import CabinetConfig
from cabinetd.lifecycle import Subsystem


class Cabinet:
    """Owns the subsystems; their order is the start order (cleanup runs in reverse)."""

    def __init__(self, config: CabinetConfig) -> None:
        self.config = config
        self.started_at = time.monotonic()
        self.subsystems: list[Subsystem] = []
        app = build_app(config.cabinet.id, lambda: self.subsystems, self.started_at)
        self.api = ApiServer(app, config.api.host, config.api.port)
        self.subsystems.append(self.api)

    def describe(self) -> str:
        mode = "simulated cabinet" if self.config.hal.type == "sim" else "cabinet"
        return f"{mode} {self.config.cabinet.id}: local API on {self.api.url}"

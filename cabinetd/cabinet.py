"""The cabinet assembled from its configuration: which subsystems run, in which order."""

from __future__ import annotations

import time

from cabinetd.api.app import build_app
from cabinetd.api.server import ApiServer
from cabinetd.clock import Clock
from cabinetd.config import CabinetConfig
from cabinetd.controller import Controller
from cabinetd.hal.hardware import Hardware, build_hardware
from cabinetd.hal.sim.cabinet import SimCabinet
from cabinetd.ledger import LedgerService
from cabinetd.lifecycle import Subsystem
from cabinetd.sync.client import CloudSync


class Cabinet:
    """Owns the subsystems; their order is the start order (cleanup runs in reverse): the ledger first
    and closed last, then the hardware (every lock commanded locked), the controller (which rebuilds the
    slots from the ledger and reconciles them with the hardware), and the local API."""

    def __init__(self, config: CabinetConfig, *, sim: SimCabinet | None = None, clock: Clock | None = None) -> None:
        self.config = config
        self.started_at = time.monotonic()
        if sim is None and config.hal.type == "sim":
            sim = SimCabinet(config)
        self.sim = sim
        self.ledger = LedgerService(config.cabinet.state_dir, config.cabinet.id)
        # The drivers hand facts to the controller, which needs the drivers: the lambdas close over it.
        if sim is not None:
            self.hardware: Hardware = sim.build(lambda fact: controller.post(fact), lambda fact: controller.post(fact))
        else:
            self.hardware = build_hardware(
                config, lambda fact: controller.post(fact), lambda fact: controller.post(fact)
            )
        controller = Controller(config, self.ledger, self.hardware, clock=clock)
        self.controller = controller
        self.sync = CloudSync(config, lambda: self.ledger.ledger, controller.execute_command)
        app = build_app(config.cabinet.id, lambda: self.subsystems, self.started_at)
        self.api = ApiServer(app, config.api.host, config.api.port)
        self.subsystems: list[Subsystem] = [self.ledger, *self.hardware.subsystems(), controller, self.sync, self.api]

    def describe(self) -> str:
        mode = "simulated cabinet" if self.sim is not None else "cabinet"
        return f"{mode} {self.config.cabinet.id}: local API on {self.api.url}"

    def close(self) -> None:
        """After the daemon stopped: the simulator's ptys and temp files go too."""
        if self.sim is not None:
            self.sim.close()

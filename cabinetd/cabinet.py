"""The cabinet assembled from its configuration: which subsystems run, in which order."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from cabinetd.api.app import build_app
from cabinetd.api.control.answers import Desk
from cabinetd.api.control.badges import BadgeWatch
from cabinetd.api.control.server import ControlServer
from cabinetd.api.kiosk import kiosk_routes
from cabinetd.api.server import ApiServer
from cabinetd.clock import Clock
from cabinetd.config import CabinetConfig
from cabinetd.controller import Controller
from cabinetd.hal.base import BadgeRead, HardwareEvent
from cabinetd.hal.hardware import Hardware, build_hardware
from cabinetd.ledger import LedgerService
from cabinetd.lifecycle import Subsystem
from cabinetd.packages.service import AppPackages
from cabinetd.release import current
from cabinetd.sync.client import CloudSync
from cabinetd.updates.fetching import Fetching
from cabinetd.updates.service import Updates
from cabinetd.updates.watching import cabinet_now
from cabinetd.views import CabinetView

if TYPE_CHECKING:
    from cabinetd.sim.cabinet import SimCabinet


def simulated_world(config: CabinetConfig) -> SimCabinet | None:
    """The simulated world kept in the state directory when the config says `hal.type = "sim"`."""
    if config.hal.type != "sim":
        return None
    # Imported here: a real cabinet never loads the simulator (nor its mock pin factory).
    from cabinetd.sim.world import SimWorld

    return SimWorld(config)


class Cabinet:
    """Owns the subsystems; their order is the start order (cleanup runs in reverse): the ledger first
    and closed last, then the hardware (every lock commanded locked), the controller (which rebuilds the
    slots from the ledger and reconciles them with the hardware), and the local API."""

    def __init__(self, config: CabinetConfig, *, sim: SimCabinet | None = None, clock: Clock | None = None) -> None:
        self.config = config
        self.started_at = time.monotonic()
        self.sim = sim = simulated_world(config) if sim is None else sim
        self.ledger = LedgerService(config.cabinet.state_dir, config.cabinet.id)
        # The drivers hand facts to the controller, which needs the drivers: the lambdas close over it.
        # `cabinetctl badge watch` sees every fact on its way too (BadgeWatch keeps badge reads only).
        self.badges = BadgeWatch()

        def hand_over(fact: HardwareEvent) -> None:
            controller.post(fact)
            if isinstance(fact, BadgeRead):
                # After the controller's turn: watching a badge must not add to badge-to-unlock time.
                asyncio.get_running_loop().call_soon(self.badges.see, fact)

        if sim is not None:
            self.hardware: Hardware = sim.build(hand_over, lambda fact: controller.post(fact))
        else:
            self.hardware = build_hardware(config, hand_over, lambda fact: controller.post(fact))
        controller = Controller(config, self.ledger, self.hardware, clock=clock)
        self.controller = controller
        self.release = current()  # read once: an update restarts the daemon
        # The fleet sees the installed release (the package's version), which a rollout compares with.
        self.sync = CloudSync(
            config, lambda: self.ledger.ledger, controller.execute_command, software_version=self.release.installed
        )
        self.packages = self._package_cache(controller)  # a technician's `sync now` wakes it with the sync
        if config.cloud.url is not None:
            controller.roster.refresh = self.sync.refresh_roster  # an unknown badge asks the office
        self.updates = self._updater(controller)
        # What every screen reads: the kiosk and the control socket render the same view of the cabinet.
        self.view = CabinetView(
            controller,
            self.sync.status,
            lambda: self.subsystems,
            started_at=self.started_at,
            simulated=sim is not None,
            software=lambda: self.updates.release_now(self.release),
        )
        routes = kiosk_routes(self.view, controller)
        if sim is not None:
            from cabinetd.api.sim import sim_routes  # the panel of a simulated world only
            from cabinetd.sim.world import SimWorld

            if isinstance(sim, SimWorld):
                routes += sim_routes(sim, lambda: self.ledger.ledger)
        app = build_app(
            config.cabinet.id, lambda: self.subsystems, self.started_at, routes, part_states=self.hardware.locks.parts
        )
        self.api = ApiServer(app, config.api.host, config.api.port)
        # The updater after the controller: the unit's outcome is recorded once the slots are rebuilt.
        parts = [self.ledger, *self.hardware.subsystems(), controller, self.updates, self.sync, self.packages, self.api]
        self.subsystems: list[Subsystem] = parts
        # The technicians' socket (cabinetctl) gets the controller's maintenance desk and the view, not
        # the cabinet: what it may do is what the desk offers.
        self.desk = Desk(controller.maintenance, self.view, lambda: self.ledger.ledger, config, self.packages.report)
        self.control = ControlServer(self.desk, self.badges)
        self.subsystems.append(self.control)

    def _package_cache(self, controller: Controller) -> AppPackages:
        """The app package cache fills adb.packages from the cloud while online (docs/app-packages.md);
        a technician's `sync now` makes it ask the cloud again too."""
        sim = self.sim
        packages = AppPackages(self.config, lambda: self.ledger.ledger, directory=None if sim is None else sim.packages)

        def sync_now() -> None:
            self.sync.wake()
            packages.wake()

        controller.maintenance.wake_sync = sync_now
        return packages

    def _updater(self, controller: Controller) -> Updates:
        """The fleet's signed updates (cabinetd/updates): offers come through the maintenance desk."""
        clock = controller.core.clock
        updates = Updates(
            self.config,
            lambda: self.ledger.ledger,
            lambda: cabinet_now(controller),
            clock,
            lambda: self.release.installed,
        )
        updates.fetching = Fetching(self.config, clock, updates.idle, lambda: self.sync.status().online)
        if self.config.updates.enabled:
            controller.maintenance.take_update = updates.offer
        return updates

    def describe(self) -> str:
        mode = "simulated cabinet" if self.sim is not None else "cabinet"
        return f"{mode} {self.config.cabinet.id}: local API on {self.api.url}"

    def close(self) -> None:
        """After the daemon stopped: the simulator's ptys and temp files go too."""
        if self.sim is not None:
            self.sim.close()

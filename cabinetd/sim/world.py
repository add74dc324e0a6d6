"""The simulated cabinet as `cabinetd run` plays it: its contents kept in the state directory, and what
a person does at it (take a device, put one back, open or force a door) paced like a person.

A person's action is several physical steps (pull the door, take the handheld out, push the door
shut). Each step waits until the production drivers have reported it (at most `STEP_S`), as a person
takes a moment between them; without that, a door opened and shut within one poll of the lock board
would never be seen, which no person manages.

A lock's unlock pulse lasts half a second, too short to click a button in. As on a real latch, a door
whose lock was released while it was shut has sprung off its catch: it stays free to pull until it is
shut again, or until the controller's `door_open_s` has run out (by then the flow has given up and
relocked). A lock that is stuck never lets go, so its door stays held.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

from cabinetd.config import CabinetConfig
from cabinetd.hal.base import (
    DevicePlugged,
    DeviceRefreshSink,
    DeviceUnplugged,
    DoorClosed,
    DoorOpened,
    EventSink,
    HardwareEvent,
    UnlockSent,
)
from cabinetd.hal.hardware import Hardware
from cabinetd.sim.agent import healthy_checks
from cabinetd.sim.cabinet import DEMO_MODELS, SimCabinet
from cabinetd.sim.door import SimDoor
from cabinetd.sim.handheld import LinkFault, SimHandheld
from cabinetd.sim.worldfile import FILE_NAME, DeviceRecord, WorldRecord, check_selftest, demo_stock, load, save

log = logging.getLogger(__name__)

STEP_S: Final = 2.0

# The facts a person's step waits for.
Step = type[DoorOpened] | type[DoorClosed] | type[DevicePlugged] | type[DeviceUnplugged]


class SimConflict(Exception):
    """The world does not allow that now (a locked door, an occupied slot); nothing was changed."""


class SimNotFound(Exception):
    """No such slot or device in the simulated world."""


class SimWorld(SimCabinet):
    def __init__(
        self,
        config: CabinetConfig,
        *,
        path: Path | None = None,
        stock: WorldRecord | None = None,
        models: Mapping[str, str] = DEMO_MODELS,
        **link_options: Any,
    ) -> None:
        super().__init__(config, occupied=(), models=models, **link_options)
        self.path = path or config.cabinet.state_dir / FILE_NAME
        self.door_open_s = config.timeouts.door_open_s
        self.selftests: dict[str, str] = {}  # serial -> "pass" | "fail:CHECK"
        self._taken_at: dict[str, float] = {}  # serial -> when a person took it (wall clock)
        self._unlatched: dict[int, float] = {}  # slot -> when its latch let go (monotonic)
        self._waiting: list[tuple[Step, int, asyncio.Future[None]]] = []
        saved = load(self.path)
        self._restore(saved if saved is not None else (stock or demo_stock()))
        origin = f"restored from {self.path}" if saved else "the demo stock"
        log.info("simulated world (%s): %s", origin, self.describe())

    def build(self, sink: EventSink, on_refresh: DeviceRefreshSink) -> Hardware:
        def seen(fact: HardwareEvent) -> None:
            self._observe(fact)
            sink(fact)

        return super().build(seen, on_refresh)

    def describe(self) -> str:
        held = {slot: self.holds(slot) for slot in sorted(self.paths)}
        inside = ", ".join(f"{slot}: {h.serial}" for slot, h in held.items() if h is not None) or "none"
        out = [h.serial for h in self.handhelds.values() if h not in held.values()]
        return f"devices in slots {inside}; out {', '.join(out) or 'none'}"

    # --- what a person does ---------------------------------------------------------------------

    def released(self, slot: int) -> bool:
        """The door can be pulled open without force now."""
        since = self._unlatched.get(slot)
        sprung = since is not None and time.monotonic() - since < self.door_open_s
        return sprung or self.locks.lock_released(slot)

    async def take(self, slot: int) -> SimHandheld:
        """Open the released door, take the handheld out, shut the door."""
        door = self._door(slot)
        handheld = self.holds(slot)
        if handheld is None:
            raise SimConflict(f"slot {slot} holds no device")
        if not door.is_open and not self.released(slot):
            raise SimConflict(f"slot {slot}: the lock is not released")
        if not door.is_open:
            await self._step(lambda: door.pull(force=True), DoorOpened, slot)
        await self._step(lambda: self.remove(slot), DeviceUnplugged, slot)
        handheld.agent.set_battery(handheld.agent.battery_percent, charging=False)
        self._taken_at[handheld.serial] = time.time()
        await self._step(door.push, DoorClosed, slot)
        self.save()
        return handheld

    async def put(self, slot: int, serial: str, model: str | None = None) -> SimHandheld:
        """Open the released door, put this handheld in (made if the world does not have it yet), shut."""
        door = self._door(slot)
        there = self.holds(slot)
        if there is not None:
            raise SimConflict(f"slot {slot} already holds {there.serial}")
        found = self.handhelds.get(serial)
        if found is not None:
            where = self.slot_of(found)
            if where is not None:
                raise SimConflict(f"device {serial} is in slot {where}")
        if not door.is_open and not self.released(slot):
            raise SimConflict(f"slot {slot}: the lock is not released")
        handheld = found or self.handheld(serial, model=model or self.models.get(self.config.slot_type(slot), "pda-s1"))
        self.selftests.setdefault(serial, "pass")
        if not door.is_open:
            await self._step(lambda: door.pull(force=True), DoorOpened, slot)
        self._worked(handheld)
        handheld.agent.set_battery(handheld.agent.battery_percent, charging=True)
        await self._step(lambda: self.insert(slot, handheld), DevicePlugged, slot)
        await self._step(door.push, DoorClosed, slot)
        self.save()
        return handheld

    def _worked(self, handheld: SimHandheld) -> None:
        """A stock handheld coming back was used while out: its work apps in turn, the screen on."""
        android = self.androids.get(handheld.serial)
        taken = self._taken_at.pop(handheld.serial, None)
        if android is None or taken is None:
            return
        apps = sorted(name for name, package in android.packages.items() if package.enabled) or ["android"]
        android.worked(taken, time.time(), [a for a in apps if a not in android.protected] or apps, drain=0)

    async def door(self, slot: int, *, to_open: bool, force: bool = False) -> None:
        door = self._door(slot)
        if to_open and not door.is_open:
            if not force and not self.released(slot):
                raise SimConflict(f"slot {slot}: the lock is not released")
            await self._step(lambda: door.pull(force=True), DoorOpened, slot)
        elif not to_open and door.is_open:
            await self._step(door.push, DoorClosed, slot)
        self.save()

    def set_device(
        self, serial: str, *, battery: float | None = None, selftest: str | None = None, responsive: bool | None = None
    ) -> SimHandheld:
        handheld = self.handhelds.get(serial)
        if handheld is None:
            raise SimNotFound(f"no device {serial} in the simulated world")
        if battery is not None and not 0 <= battery <= 100:
            raise ValueError(f"battery must be between 0 and 100, got {battery}")
        if selftest is not None:
            check_selftest(selftest)
        if battery is not None:
            handheld.agent.set_battery(battery)
        if selftest is not None:
            self._set_selftest(handheld, selftest)
        if responsive is not None:
            handheld.fault = None if responsive else LinkFault.SILENT
        self.save()
        return handheld

    # --- what the simulator shows -----------------------------------------------------------------

    def slot_of(self, handheld: SimHandheld) -> int | None:
        return next((slot for slot in self.paths if self.holds(slot) is handheld), None)

    def state(self) -> dict[str, Any]:
        slots = []
        for slot in sorted(self.paths):
            handheld = self.holds(slot)
            slots.append(
                {
                    "slot": slot,
                    "door": "open" if self._door(slot).is_open else "closed",
                    "lock": "released" if self.released(slot) else "locked",
                    "led": self.locks.led_lit(slot) if self.locks.has_led(slot) else None,
                    "device": handheld.serial if handheld else None,
                    "battery": handheld.agent.battery_percent if handheld else None,
                }
            )
        devices = [
            {
                "serial": h.serial,
                "model": h.agent.model,
                "slot": self.slot_of(h),
                "battery": h.agent.battery_percent,
                "charging": h.agent.charging,
                "selftest": self.selftests.get(h.serial, "pass"),
                "responsive": h.fault is None,
            }
            for h in sorted(self.handhelds.values(), key=lambda h: h.serial)
        ]
        return {"slots": slots, "devices": devices}

    # --- keeping the world ------------------------------------------------------------------------

    def record(self) -> WorldRecord:
        devices = []
        for handheld in self.handhelds.values():
            agent = handheld.agent
            devices.append(
                DeviceRecord(
                    serial=handheld.serial,
                    model=agent.model,
                    link="adb" if handheld.serial in self.androids else "aoa-agent",
                    slot=self.slot_of(handheld),
                    battery=agent.battery_percent,
                    charging=agent.charging,
                    selftest=self.selftests.get(handheld.serial, "pass"),
                    responsive=handheld.fault is None,
                    installed=dict(agent.installed),
                    enabled=sorted(agent.enabled),
                    work_type=agent.work_type,
                )
            )
        open_doors = [slot for slot, door in sorted(self.locks.doors.items()) if door.is_open]
        return WorldRecord(devices=sorted(devices, key=lambda d: d.serial), open_doors=open_doors)

    def save(self) -> None:
        try:
            save(self.path, self.record())
        except OSError as exc:
            # The simulated world must not take the daemon down; the next action tries again.
            log.error("cannot save the simulated world to %s: %s", self.path, exc)

    def close(self) -> None:
        self.save()  # batteries charged meanwhile
        super().close()

    def _restore(self, world: WorldRecord) -> None:
        for record in world.devices:
            handheld = self.handheld(record.serial, model=record.model, link=record.link)
            agent = handheld.agent
            agent.set_battery(record.battery, charging=record.charging)
            agent.installed = dict(record.installed)
            agent.enabled = set(record.enabled)
            agent.managed = set(record.installed)
            agent.work_type = record.work_type
            self._set_selftest(handheld, record.selftest)
            handheld.fault = None if record.responsive else LinkFault.SILENT
            if record.slot is not None:
                if record.slot not in self.paths:
                    log.warning("simulated world: no slot %d here for device %s", record.slot, record.serial)
                    continue
                self.insert(record.slot, handheld)
        for slot in world.open_doors:
            if slot in self.locks.doors:
                self.locks.door(slot).pull(force=True)

    def _set_selftest(self, handheld: SimHandheld, selftest: str) -> None:
        self.selftests[handheld.serial] = selftest
        android = self.androids.get(handheld.serial)
        if android is not None:  # a stock device shows it in what adb reads (docs/device-adb.md)
            android.battery.health = 3 if selftest == "fail:battery_health" else 2  # overheat, good
            android.free_k = 100 * 1024 if selftest == "fail:storage" else 5_778_792
        handheld.agent.checks = healthy_checks()
        if selftest != "pass":
            check = selftest.split(":", 1)[1]
            handheld.agent.fail_check(check, f"{check} failed its check (set on the simulator)")

    # --- pacing by what the drivers report --------------------------------------------------------

    def _door(self, slot: int) -> SimDoor:
        if slot not in self.locks.doors:
            raise SimNotFound(f"no slot {slot} in this cabinet")
        return self.locks.door(slot)

    def _observe(self, fact: HardwareEvent) -> None:
        match fact:
            case UnlockSent(slot=slot) if self.locks.lock_released(slot):
                self._unlatched[slot] = time.monotonic()
            case DoorClosed(slot=slot):
                self._unlatched.pop(slot, None)  # the latch caught the door again
        for kind, slot, seen in self._waiting:
            if isinstance(fact, kind) and fact.slot == slot and not seen.done():
                seen.set_result(None)

    async def _step(self, act: Callable[[], object], kind: Step, slot: int) -> None:
        seen: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (kind, slot, seen)
        self._waiting.append(entry)
        try:
            act()
            async with asyncio.timeout(STEP_S):
                await seen
        except TimeoutError:
            log.warning("slot %d: the drivers did not report %s within %.1f s", slot, kind.__name__, STEP_S)
        finally:
            self._waiting.remove(entry)

"""The stateful test's harder steps (test_stateful.py): the daemon crashing at each point where a rent
or a return has committed something and waits for the next physical fact, the cloud syncing and sending
commands through the real uplink and command runner, a technician disabling and enabling slots, a hub
that cannot switch port power, and a handheld that goes silent at the USB level.

A crash here is the rig's stop and start over the same ledger file. That is a SIGKILL at that point
as far as the ledger can tell: every commit is synchronous, nothing on the way down writes (the
subsystems' cleanups only close), and `crash` checks that the file holds as many events after the stop
as before it. It lands between two facts, which is where every flow waits; what a kill inside a
commit does is the ledger's crash tests' business (tests/ledger/test_process_crash.py).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Final

from cabinetd.maintenance import Refused, Technician
from cabinetd.sim.handheld import LinkFault
from cabinetd.sim.usbdevices import SWITCHING
from cabinetproto.wire import CommandKind
from tests.flows.cabinet_day import AT_REST, CabinetDayModel, event
from tests.flows.model_cloud import ModelCloud

# Where a rent or a return waits for the next fact after a commit, and so where a crash is tried.
RENT_CRASHES: Final = (
    "after dispense_started",  # unlocked, the door still shut
    "after the door opened",
    "after device_rented",  # taken, the door still open
    "after device_rented, put back while down",  # the person changed their mind while it was down
    "after the door closed",
)
RETURN_CRASHES: Final = (
    "after return_started",  # unlocked, the door still shut
    "after the door opened",
    "after the device was inserted",
    "while inspecting",
    "after device_returned",
)
SYNC_FAULTS: Final = ("pass", "connect", "timeout", "lost_reply", "503:0")


def events_in_file(path: str) -> int:
    uri = f"{Path(path).absolute().as_uri()}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
        count: int = db.execute("SELECT count(*) FROM events").fetchone()[0]
        return count


class CabinetFaultsModel(CabinetDayModel):
    def __init__(self) -> None:
        super().__init__()
        self.cloud = ModelCloud(self.directory)

    def teardown(self) -> None:
        try:
            super().teardown()
        finally:
            self.cloud.close()

    # --- the crash -------------------------------------------------------------------------------

    async def crash(self, while_down: Callable[[], object] | None = None) -> None:
        rig = self.rig
        path, written = rig.ledger.path, rig.ledger.store.rows("SELECT count(*) FROM events")[0][0]
        await rig.stop()
        assert events_in_file(path) == written, "something was written on the way down: not a crash"
        await rig.start_again(while_down)
        self.watch.ledger_path = rig.ledger.path
        await self.settled()

    async def rent_cut_short(self, staff: str, badge: str, point: str) -> None:
        rig = self.rig
        shown = await self.badge(badge, lambda s: s["view"] in ("refused", "busy") or s.get("step") == "door")
        if shown["view"] == "returning":
            await self.controller.choose("rent" if "rent" in (self.controller.session.choices or []) else "cancel")
            await rig.until(lambda: self.screen()["view"] in ("idle", "refused") or self.screen().get("step") == "door")
        if self.screen().get("step") != "door":
            event("crash in a rent: no rent started")
            await self.settled()
            return
        event(f"crash in a rent: {point}")
        slot = int(self.screen()["slot"])
        door, doors = rig.sim.locks.door(slot), rig.controller.core.hardware.doors(slot)
        if point == "after dispense_started":
            await self.crash()  # the person walks away
            return
        assert door.pull(), f"slot {slot}: unlocked for a rent, yet the door does not open"
        await rig.until(lambda: doors.is_open(slot) and rig.controller.inbox.empty())
        if point == "after the door opened":
            await self.crash(door.push)
            return
        handheld = rig.sim.remove(slot)
        assert handheld is not None
        await rig.until(lambda: self.screen().get("step") == "close")
        if point == "after device_rented, put back while down":

            def put_back() -> None:
                rig.sim.insert(slot, handheld)
                door.push()

            await self.crash(put_back)
            return
        self.pocket[handheld.serial] = staff
        if point == "after device_rented":
            await self.crash(door.push)
            return
        door.push()
        await rig.until(lambda: self.slot_state(slot) == "empty" and self.controller.session is None)
        await self.crash()

    async def return_cut_short(self, staff: str, badge: str, point: str) -> None:
        rig = self.rig
        shown = await self.badge(badge, lambda s: s["view"] in ("refused", "busy") or s.get("step") == "door")
        held = rig.ledger.held_by(staff)
        if shown["view"] != "returning" or not held or held[0].device not in self.pocket:
            event("crash in a return: no return started")
            if self.controller.session is not None:
                await self.controller.choose("cancel")
            await self.settled()
            return
        event(f"crash in a return: {point}")
        slot, expected = int(shown["slot"]), held[0].device
        door = rig.sim.locks.door(slot)
        if point == "after return_started":
            await self.crash()
            return
        assert door.pull(), f"slot {slot}: unlocked for a return, yet the door does not open"
        await rig.until(lambda: self.screen().get("step") == "insert")
        if point == "after the door opened":
            await self.crash(door.push)
            return
        handheld = rig.sim.handheld(expected)
        self.pocket.pop(expected)
        rig.sim.insert(slot, handheld)
        await rig.until(lambda: rig.controller.core.hardware.ports.present(slot) is not None)
        if point == "after the device was inserted":
            await self.crash(door.push)
            return
        if point == "while inspecting":
            # Slow answers keep the self-test running when the crash comes; the device is well again
            # by the time the cabinet is back.
            handheld.fault = LinkFault.SLOW
            door.push()
            await rig.until(lambda: self.slot_state(slot) == "inspecting")

            def recovers() -> None:
                handheld.fault = None

            await self.crash(recovers)
            return
        door.push()
        await self.settled()
        if point == "after device_returned":
            await self.crash()

    # --- the cloud -------------------------------------------------------------------------------

    async def sync_through(self, faults: list[tuple[str, str]]) -> None:
        tries = await self.cloud.upload(self.rig.ledger, faults)
        event(f"sync: {'at once' if tries == 1 else 'after retries'}")
        lost, doubled = self.cloud.lost_and_doubled(self.rig.ledger)
        assert not lost, f"{len(lost)} events never reached the cloud"
        assert not doubled, f"events the cloud holds twice: {doubled}"

    async def cloud_command(self, kind: CommandKind, slot: int) -> None:
        args: dict[str, str | int | bool] = {"slot": slot}
        if kind in (CommandKind.UNLOCK_SLOT, CommandKind.DISABLE_SLOT):
            args["reason"] = "from the office"
        command = self.cloud.queue(kind, args)
        ran = await self.cloud.deliver(self.rig.ledger, self.controller.execute_command)
        assert ran == 1, f"{ran} commands ran for {command.kind} {command.args}"
        result = next(
            e
            for e in reversed(self.rig.ledger.tail(50))
            if e.type == "command_result" and e.payload["command_id"] == command.command_id
        )
        event(f"cloud {kind.value}: {'done' if result.payload['ok'] else 'refused'}")
        if kind is CommandKind.UNLOCK_SLOT and result.payload["ok"]:
            await self.open_the_released_door(slot)
        await self.settled()

    async def open_the_released_door(self, slot: int) -> None:
        door = self.rig.sim.locks.door(slot)
        assert door.pull(), f"slot {slot}: unlocked from the cloud, yet the door does not open"
        await self.rig.until(lambda: self.rig.controller.core.hardware.doors(slot).is_open(slot))
        door.push()

    # --- the technician's desk and the hardware --------------------------------------------------

    async def desk_switches(self, slot: int, action: str) -> None:
        desk, tom = self.controller.maintenance, Technician("tom")
        try:
            await (desk.disable(slot, tom, "check") if action == "disable" else desk.enable(slot, tom))
        except Refused as refused:
            event(f"desk {action}: refused ({refused.why.value})")
        else:
            event(f"desk {action}: done")
            assert self.slot_state(slot) == "disabled" if action == "disable" else self.slot_state(slot) != "disabled"
        await self.settled()

    def hub_switching(self, slot: int, switching: str) -> None:
        """The hub behind `slot` now switches port power `switching` (a hub swapped for a cheaper one)."""
        hub = self.rig.sim.usb.port(self.rig.sim.paths[slot]).hub
        hub.characteristics = SWITCHING[switching]

    async def goes_silent(self, slot: int, survives_power_cycle: bool) -> None:
        handheld = self.rig.sim.holds(slot)
        if handheld is None or self.slot_state(slot) not in AT_REST:
            event("silent: nothing at rest in the slot")
            return
        event(f"silent at the USB level{', for good' if survives_power_cycle else ''}")
        handheld.usb.make_unresponsive(survives_power_cycle=survives_power_cycle)
        await self.settled()

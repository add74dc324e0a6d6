"""The stateful test's cabinet day (test_stateful.py): its cast, the simulated cabinet it runs on, and
the steps people take at it, from a badge tap to a door shut. The rules there pick the steps; the
steps check what a person would see on the way, and end with the cabinet settled.
"""

from __future__ import annotations

import asyncio
import functools
import shutil
import tempfile
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import hypothesis
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine

from cabinetd.config import GpioModuleLock, KerongModuleLock
from cabinetd.maintenance import Technician
from cabinetd.sim.handheld import LinkFault, SimHandheld
from cabinetd.sim.lockboard import SimBoard
from tests.flows.lockwatch import LockPin, LockWatch
from tests.flows.rig import Rig

ANNA, PIET, OLGA, TOM, NOBODY = "A1B2C3", "B2C3D4", "C3D4E5", "D4E5F6", "ABCDEF"
TOM_PIN = "2468"  # the rig's roster: Tom is a technician with this PIN
STAFF = {ANNA: "anna", PIET: "piet"}
MODEL = {"anna": "pda-s1", "piet": "pda-r1"}
LIMIT = {"anna": 1, "piet": 2}  # max_devices_per_staff of their work types in the rig's roster
HOLDING = {"ready", "charging", "faulty", "inspecting"}
AT_REST = {"ready", "charging"}
DOOR_OPEN_S = 20.0  # the default timeouts.door_open_s, which the rig keeps
# Short, so that a silent handheld is given up on in a second or two rather than twenty.
DEVICE_REQUEST_S = 0.5
WITHIN_S = 15.0


def event(value: str) -> None:
    """Counted in hypothesis's statistics; nothing when a plain test plays the steps (test_crash_points)."""
    if hypothesis.currently_in_test_context():
        hypothesis.event(value)


class CabinetDayModel(RuleBasedStateMachine):
    """The cabinet and what happens at it; test_stateful.CabinetDay adds the rules and the invariants."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.directory = Path(tempfile.mkdtemp(prefix="cabinet-day-"))
        self.rig = Rig(
            self.directory,
            reader_reopen_s=0.05,
            device_request_s=DEVICE_REQUEST_S,
        )
        self.watch = LockWatch()
        self._slot_of_channel: dict[tuple[int, int], int] = {}
        self._watch_locks()
        # Devices out of the cabinet: serial -> who has it (a staff id, or "" for one taken by force).
        self.pocket: dict[str, str] = {}
        self.strangers = 0
        self.tapped: dict[str, float] = {}  # badge -> when it was last presented
        self.started = False

    # --- plumbing ---------------------------------------------------------------------------------

    def run(self, step: Coroutine[Any, Any, Any]) -> Any:
        return self.loop.run_until_complete(step)

    def _watch_locks(self) -> None:
        """Probe pins on the GPIO locks (made before the driver claims them) and a hook on each board."""
        sim = self.rig.sim
        for module in self.rig.config.modules:
            for slot in module.slots:
                if isinstance(module.lock, GpioModuleLock) and slot.lock.pin is not None:
                    pin: LockPin = sim.locks.pin_factory.pin(slot.lock.pin, pin_class=LockPin)
                    pin.on_active = functools.partial(self.watch.released, slot.number)
                elif isinstance(module.lock, KerongModuleLock) and slot.lock.channel is not None:
                    board = sim.locks.boards[slot.number]
                    self._hook_board(board)
                    self._slot_of_channel[id(board), slot.lock.channel] = slot.number

    def _hook_board(self, board: SimBoard) -> None:
        if getattr(board, "_watched", False):
            return
        unlock = board.unlock

        def watched_unlock(channel: int) -> None:
            unlock(channel)
            self.watch.released(self._slot_of_channel[id(board), channel])

        board.unlock = watched_unlock  # type: ignore[method-assign]
        board._watched = True  # type: ignore[attr-defined]

    def teardown(self) -> None:
        try:
            if self.started:
                self.run(self.rig.stop())
        finally:
            self.rig.sim.close()
            self.loop.close()
            shutil.rmtree(self.directory, ignore_errors=True)

    @property
    def controller(self) -> Any:
        return self.rig.controller

    def screen(self) -> dict[str, Any]:
        return dict(self.controller.screen.state)

    def slot_state(self, number: int) -> str:
        return self.rig.state(number)

    async def settled(self) -> None:
        """Until the drivers agree with the fakes, every inspection has ended and no fact is waiting."""
        rig = self.rig
        hardware = rig.controller.core.hardware

        def caught_up() -> bool:
            for number in rig.controller.slots:
                held, present = rig.sim.holds(number), hardware.ports.present(number)
                if (held is None) != (present is None):
                    return False
                # The poller has seen the handheld's current face too (normal or accessory mode), so
                # that every step starts from a port view that matches the fakes (test_found_bugs.py:
                # test_fail__a_handheld_entering_accessory_mode_during_a_rent_is_not_taken_for_a_removal).
                face = None if held is None else (held.usb.vendor_id, held.usb.product_id)
                if face != (None if present is None else (present.vendor_id, present.product_id)):
                    return False
                if bool(hardware.doors(number).is_open(number)) != rig.sim.locks.door(number).is_open:
                    return False
                if self.slot_state(number) == "inspecting":
                    return False
            return bool(rig.controller.inbox.empty())

        await rig.until(caught_up, within=WITHIN_S)

    async def badge(self, badge: str, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        # The reader merges reads of one badge that come within its repeat window (a badge held on
        # it): a second tap must come after it, as a person's does.
        window = self.rig.config.timeouts.badge_repeat_s * 2
        await asyncio.sleep(max(0.0, self.tapped.get(badge, -window) + window - time.monotonic()))
        before = self.controller.screen.version
        self.rig.sim.badge(badge)
        self.tapped[badge] = time.monotonic()
        await self.rig.until(lambda: self.controller.screen.version > before and done(self.screen()), within=WITHIN_S)
        return self.screen()

    async def someone_else_taps(self, badge: str, staff: str, *, pulled: bool) -> None:
        """A second person taps during a session: told to wait, and the session goes on unmixed."""
        if not pulled:  # a notice over the screen; the first person's screen stays
            await self.badge(badge, lambda s: self.controller.screen.notice is not None and s["view"] != "busy")
            return
        # The door's opening redraws the screen too, perhaps right over "busy": wait for the read to be
        # handled instead, and look at the session.
        reader = self.rig.cabinet.hardware.reader
        good = dict(reader.state().counters)["good"]
        await self.badge(badge, lambda s: True)
        await self.rig.until(lambda: dict(reader.state().counters)["good"] > good and self.controller.inbox.empty())
        session = self.controller.session
        assert session is not None
        assert session.staff.staff_id == staff

    def history(self, slot: int) -> list[str]:
        """The slot's latest events, for a failure's message."""
        events = [e for e in self.rig.ledger.tail(200) if e.slot == slot][-12:]
        return [f"{e.type} {e.device or ''} {e.payload}" for e in events]

    def new_stranger(self, model: str) -> SimHandheld:
        self.strangers += 1
        return self.rig.sim.handheld(f"STRANGER{self.strangers:03d}", model=model)

    # --- what people do at the cabinet, step by step -----------------------------------------------

    async def staff_session(self, staff: str, badge: str, data: st.DataObject) -> None:
        shown = await self.badge(badge, lambda s: s["view"] in ("refused", "busy") or s.get("step") == "door")
        if shown["view"] == "dispensing":
            await self.dispense(staff, int(shown["slot"]), data)
        elif shown["view"] == "returning":
            held = self.rig.ledger.held_by(staff)
            await self.receive(staff, int(shown["slot"]), held[0].device if held else None, data)
        else:
            assert shown["view"] == "refused", shown
            assert shown["reason"] in ("no_device_available", "no_free_slot", "limit_reached"), shown
        await self.settled()

    async def dispense(self, staff: str, slot: int, data: st.DataObject) -> None:
        rig, door = self.rig, self.rig.sim.locks.door(slot)
        assert self.slot_state(slot) == "dispensing"
        choices = list(self.controller.session.choices) if self.controller.session else []
        ways = ["take", "take", "walk away", "shut on the device", *(c for c in ("cancel", "return") if c in choices)]
        what = data.draw(st.sampled_from(ways))
        event(f"rent: {what}")
        if what in ("take", "shut on the device"):
            # At once: the lock lets go of the latch only for its pulse.
            assert door.pull(), f"slot {slot}: unlocked for a rent, yet the door does not open"
        if data.draw(st.booleans(), label="someone else taps meanwhile"):
            other = data.draw(st.sampled_from([b for b in (ANNA, PIET, OLGA, NOBODY) if STAFF.get(b) != staff]))
            await self.someone_else_taps(other, staff, pulled=what in ("take", "shut on the device"))
            assert self.slot_state(slot) == "dispensing"
        if what == "walk away":
            await rig.clock.advance(DOOR_OPEN_S + 1)
            await rig.until(lambda: self.slot_state(slot) in AT_REST)
        elif what == "cancel":
            await self.controller.choose("cancel")
            await rig.until(lambda: self.slot_state(slot) in AT_REST)
        elif what == "return":
            await self.controller.choose("return")
            await rig.until(lambda: self.screen().get("view") in ("returning", "refused"))
            if self.screen()["view"] == "returning":
                await self.receive(staff, int(self.screen()["slot"]), None, data)
        else:
            doors = rig.controller.core.hardware.doors(slot)
            await rig.until(lambda: doors.is_open(slot) and rig.controller.inbox.empty())
            if what == "take":
                handheld = rig.sim.remove(slot)
                assert handheld is not None
                self.pocket[handheld.serial] = staff
                await rig.until(lambda: self.screen().get("step") == "close")
            await self.while_the_door_is_open(slot, data)
            door.push()
            await rig.until(lambda: self.slot_state(slot) in ("empty", *AT_REST) and self.controller.session is None)
            wanted = {"empty"} if what == "take" else AT_REST
            assert self.slot_state(slot) in wanted, f"slot {slot} is {self.slot_state(slot)}: {self.history(slot)}"

    async def while_the_door_is_open(self, slot: int, data: st.DataObject) -> None:
        meanwhile = data.draw(st.sampled_from([None, None, None, "left open", "restart"]), label="door open")
        event(f"door open: {meanwhile}")
        if meanwhile == "left open":
            await self.rig.clock.advance(self.rig.config.timeouts.door_left_open_s + 1)
            await self.rig.until(lambda: "door_left_open" in {a.value for a in self.controller.slots[slot].alarms})
        elif meanwhile == "restart":
            await self.restart()

    async def receive(self, staff: str, slot: int, expected: str | None, data: st.DataObject) -> None:
        rig, door = self.rig, self.rig.sim.locks.door(slot)
        assert self.slot_state(slot) == "receiving"
        choices = list(self.controller.session.choices) if self.controller.session else []
        ways = ["the expected one", "another one", "one never rented here", "walk away", "shut it empty"]
        ways += [way for choice, way in (("look", "only look"), ("rent", "rent instead")) if choice in choices]
        what = data.draw(st.sampled_from(ways))
        if what == "walk away":
            event("return: walk away")
            await rig.clock.advance(DOOR_OPEN_S + 1)
            await rig.until(lambda: self.slot_state(slot) == "empty")
            return
        if what == "only look":
            event("return: only look")
            await self.controller.choose("look")
            await rig.until(lambda: self.slot_state(slot) == "empty")
            return
        if what == "rent instead":
            event("return: rent instead")
            await self.controller.choose("rent")
            await rig.until(lambda: self.screen().get("view") == "refused" or self.screen().get("step") == "door")
            if self.screen()["view"] == "dispensing":
                await self.dispense(staff, int(self.screen()["slot"]), data)
            return
        handheld: SimHandheld | None = None
        if what == "the expected one" and expected in self.pocket:
            handheld = rig.sim.handheld(expected)
        elif what == "another one" and any(serial != expected for serial in self.pocket):
            handheld = rig.sim.handheld(data.draw(st.sampled_from(sorted(s for s in self.pocket if s != expected))))
        elif what != "shut it empty":
            what = "one never rented here"
            handheld = self.new_stranger(data.draw(st.sampled_from(sorted(set(MODEL.values())))))
        if handheld is not None:
            faults = [None, None, None, None, "self-test fails", "silent"]
            fault = data.draw(st.sampled_from(faults), label="fault")
            event(f"return: {what}, fault: {fault}")
            if fault == "self-test fails":
                handheld.agent.checks["scanner"].passed = False
            elif fault == "silent":
                handheld.fault = LinkFault.SILENT
        else:
            event("return: shut it empty")
        assert door.pull(), f"slot {slot}: unlocked for a return, yet the door does not open"
        await rig.until(lambda: self.screen().get("step") == "insert")
        if handheld is not None:
            self.pocket.pop(handheld.serial, None)
            rig.sim.insert(slot, handheld)
            await rig.until(lambda: rig.controller.core.hardware.ports.present(slot) is not None)
            if data.draw(st.booleans(), label="takes it out again"):
                event("return: taken out again")
                rig.sim.remove(slot)
                self.pocket[handheld.serial] = staff
                await rig.until(lambda: rig.controller.core.hardware.ports.present(slot) is None)
                handheld = None
        await self.while_the_door_is_open(slot, data)
        door.push()
        await rig.until(lambda: self.slot_state(slot) != "receiving")
        await self.settled()
        wanted = HOLDING if handheld is not None else {"empty"}
        assert self.slot_state(slot) in wanted, f"slot {slot} is {self.slot_state(slot)}: {self.history(slot)}"

    async def force_the_door(self, slot: int, act: str) -> None:
        rig, door = self.rig, self.rig.sim.locks.door(slot)
        assert door.pull(force=True)
        await rig.until(lambda: "door_forced" in {a.value for a in rig.controller.slots[slot].alarms})
        if act == "take" and rig.sim.holds(slot) is not None:
            taken = rig.sim.remove(slot)
            assert taken is not None
            self.pocket[taken.serial] = ""
        elif act == "put" and rig.sim.holds(slot) is None:
            rig.sim.insert(slot, self.new_stranger(MODEL["anna"]))
        door.push()
        await rig.until(lambda: "door_forced" not in {a.value for a in rig.controller.slots[slot].alarms})
        await self.settled()

    async def open_and_shut(self, slot: int, technician: str) -> None:
        """`cabinetctl slot open`: the lock lets go, the door is opened and shut, nothing is raised."""
        await self.controller.maintenance.open(slot, Technician(technician), "check")  # raises if refused
        door = self.rig.sim.locks.door(slot)
        assert door.pull(), f"slot {slot}: opened by a technician, yet the door does not open"
        await self.rig.until(lambda: self.rig.controller.core.hardware.doors(slot).is_open(slot))
        door.push()
        await self.settled()
        assert "door_forced" not in {a.value for a in self.controller.slots[slot].alarms}

    async def restart(self) -> None:
        await self.rig.restart()
        self.watch.ledger_path = self.rig.ledger.path
        await self.settled()

"""A day at the cabinet, as hypothesis plays it: staff and strangers at the badge reader, rents and
returns that go right and wrong, doors that are never opened, shut on the device or forced, a reader
pulled out, devices that come back broken or silent, time passing and the daemon restarted. After
every step the cabinet must still be sound:

- every lock release seen at the hardware (a mock lock pin going active, a board told to unlock) was
  preceded by a committed `dispense_started`, `return_started` or technician `open` for that slot of
  its own (a board driver's quick retry of the same unlock aside), read through a connection of our
  own, which sees only committed transactions; and each of those events belongs to someone allowed
  to start it;
- no device is in two open rentals, nobody holds more than their work type allows, and no device out
  on a rental sits in a slot ready to be rented again;
- every slot's state agrees with the fakes (a slot holding a device has one on its USB port, an empty
  one has none) and with the ledger's projection, alarms included;
- the ledger's hash chain holds.

Every step ends with the cabinet idle (no session, no flow, the drivers caught up with the fakes), so
the checks look at a settled cabinet rather than one halfway through a door cycle.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import shutil
import sqlite3
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from gpiozero.pins.mock import MockPin
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from cabinetd.config import GpioModuleLock, KerongModuleLock
from cabinetd.maintenance import Technician
from cabinetd.sim.handheld import LinkFault, SimHandheld
from cabinetd.sim.lockboard import SimBoard
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
# An RS-485 board driver sends an unlock again when the board's reply does not come in time (the board
# may have acted on the first): a second release this soon after the first is that retry.
RETRY_S = 1.0


class LockPin(MockPin):  # type: ignore[misc]  # gpiozero ships no type information
    """A lock's mock output pin that reports when it goes active (the solenoid releases the latch)."""

    def __init__(self, factory: Any, info: Any) -> None:
        self.on_active: Callable[[], None] | None = None
        super().__init__(factory, info)

    def _change_state(self, value: bool) -> bool:
        changed: bool = super()._change_state(value)
        if changed and value and self.on_active is not None:
            self.on_active()
        return changed


class LockWatch:
    """Every release of every slot's lock: when, and how many authorising events for that slot were
    committed at that moment."""

    def __init__(self) -> None:
        self.ledger_path: str | None = None
        self.releases: dict[int, list[tuple[float, int]]] = defaultdict(list)

    def released(self, slot: int) -> None:
        # Called on whichever thread moved the lock (the loop for GPIO, the board simulator's thread).
        self.releases[slot].append((time.monotonic(), self.committed_authorisations(slot)))

    def committed_authorisations(self, slot: int) -> int:
        if self.ledger_path is None:
            return 0
        uri = f"{Path(self.ledger_path).absolute().as_uri()}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
            rows = db.execute(
                "SELECT type, payload FROM events WHERE slot = ? "
                "AND type IN ('dispense_started', 'return_started', 'technician_action')",
                (slot,),
            ).fetchall()
        opens = [kind != "technician_action" or json.loads(payload)["action"] == "open" for kind, payload in rows]
        return sum(opens)


class CabinetDay(RuleBasedStateMachine):
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
        if not pulled:
            await self.badge(badge, lambda s: s["view"] == "busy")
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

    # --- the day ------------------------------------------------------------------------------------

    @initialize()
    def open_the_cabinet(self) -> None:
        async def start() -> None:
            await self.rig.start()
            self.watch.ledger_path = self.rig.ledger.path
            await self.rig.until(lambda: all(self.slot_state(n) in AT_REST for n in (1, 3, 5, 7)), within=WITHIN_S)
            await self.settled()

        self.started = True
        self.run(start())

    @rule(badge=st.sampled_from([OLGA, NOBODY]))
    def a_stranger_taps(self, badge: str) -> None:
        before = self.rig.events("dispense_started", "return_started")
        shown = self.run(self.badge(badge, lambda s: s["view"] == "refused"))
        assert shown["reason"] == ("other_store" if badge == OLGA else "unknown_badge")
        assert self.rig.events("dispense_started", "return_started") == before

    @rule(badge=st.sampled_from(sorted(STAFF)), data=st.data())
    def staff_taps(self, badge: str, data: st.DataObject) -> None:
        self.run(self._staff_taps(STAFF[badge], badge, data))

    async def _staff_taps(self, staff: str, badge: str, data: st.DataObject) -> None:
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
            await self._restart()

    async def receive(self, staff: str, slot: int, expected: str | None, data: st.DataObject) -> None:
        rig, door = self.rig, self.rig.sim.locks.door(slot)
        assert self.slot_state(slot) == "receiving"
        choices = list(self.controller.session.choices) if self.controller.session else []
        ways = ["the expected one", "another one", "one never rented here", "walk away", "shut it empty"]
        ways += [way for choice, way in (("cancel", "cancel"), ("rent", "rent instead")) if choice in choices]
        what = data.draw(st.sampled_from(ways))
        if what == "walk away":
            event("return: walk away")
            await rig.clock.advance(DOOR_OPEN_S + 1)
            await rig.until(lambda: self.slot_state(slot) == "empty")
            return
        if what == "cancel":
            event("return: cancel")
            await self.controller.choose("cancel")
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
            fault = data.draw(st.sampled_from([None, None, None, None, "self-test fails", "silent"]), label="fault")
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

    @rule(slot=st.integers(1, 8), act=st.sampled_from(["look", "take", "put"]))
    def a_door_is_forced(self, slot: int, act: str) -> None:
        self.run(self._forced(slot, act))

    async def _forced(self, slot: int, act: str) -> None:
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

    @rule(slot=st.integers(1, 8))
    def a_technician_opens_a_slot(self, slot: int) -> None:
        self.run(self.open_and_shut(slot, "tom"))

    async def open_and_shut(self, slot: int, technician: str) -> None:
        """`cabinetctl slot open`: the lock lets go, the door is opened and shut, nothing is raised."""
        await self.controller.maintenance.open(slot, Technician(technician), "check")  # raises if refused
        door = self.rig.sim.locks.door(slot)
        assert door.pull(), f"slot {slot}: opened by a technician, yet the door does not open"
        await self.rig.until(lambda: self.rig.controller.core.hardware.doors(slot).is_open(slot))
        door.push()
        await self.settled()
        assert "door_forced" not in {a.value for a in self.controller.slots[slot].alarms}

    @rule(pins=st.lists(st.sampled_from(["0000", TOM_PIN]), max_size=4), slot=st.none() | st.integers(1, 8))
    def a_technician_taps(self, pins: list[str], slot: int | None) -> None:
        """Tom at the screen: his PIN, maybe wrong a few times, maybe a slot opened, then done."""

        async def session() -> None:
            await self.badge(TOM, lambda s: s["view"] == "pin")
            accepted = False
            for pin in pins:
                accepted = await self.controller.submit_pin(pin)
                if accepted:
                    break
            event(f"technician: PIN {'accepted' if accepted else 'not accepted'}")
            if accepted and slot is not None:
                await self.open_and_shut(slot, "tom")
            await self.controller.choose("cancel")

        self.run(session())

    @rule()
    def the_reader_is_pulled_out_and_plugged_back(self) -> None:
        async def unplug_and_plug() -> None:
            reader = self.rig.cabinet.hardware.reader
            self.rig.sim.reader.unplug()
            await self.rig.until(lambda: not reader.state().connected)
            self.rig.sim.reader.plug()
            await self.rig.until(lambda: reader.state().connected)

        self.run(unplug_and_plug())
        self.a_stranger_taps(NOBODY)  # the reader reads again

    @rule(minutes=st.integers(1, 300))
    def time_passes(self, minutes: int) -> None:
        self.run(self.rig.clock.advance(minutes * 60))

    @rule()
    def the_daemon_restarts(self) -> None:
        self.run(self._restart())

    async def _restart(self) -> None:
        await self.rig.restart()
        self.watch.ledger_path = self.rig.ledger.path
        await self.settled()

    # --- what must hold after every step ------------------------------------------------------------

    @invariant()
    def idle(self) -> None:
        if not self.started:
            return
        assert self.controller.session is None
        assert self.controller.core.flows == {}
        assert not [n for n in self.controller.slots if self.slot_state(n) in ("dispensing", "receiving")]

    @invariant()
    def every_release_follows_a_committed_authorisation(self) -> None:
        for slot, releases in self.watch.releases.items():
            used, last = 0, -RETRY_S
            for n, (at, committed) in enumerate(releases, start=1):
                if committed > used:
                    used += 1  # a release of its own, on an authorisation of its own
                else:
                    # No new authorisation: only a board driver's retry of the same unlock may do that.
                    assert at - last <= RETRY_S, f"slot {slot}: release {n} with {committed} authorisations committed"
                last = at
        if not self.started:
            return
        for recorded in self.rig.ledger.tail(100_000):
            if recorded.type in ("dispense_started", "return_started"):
                assert recorded.staff in ("anna", "piet"), recorded
            elif recorded.type == "technician_action" and recorded.payload["action"] == "open":
                assert recorded.payload["technician"] == "tom", recorded

    @invariant()
    def no_device_in_two_rentals_and_no_one_over_the_limit(self) -> None:
        if not self.started:
            return
        open_rentals = self.rig.ledger.open_rentals()
        devices = [r.device for r in open_rentals]
        assert len(devices) == len(set(devices)), devices
        for staff, limit in LIMIT.items():
            assert len([r for r in open_rentals if r.staff == staff]) <= limit
        at_rest = {s.device for n, s in self.controller.slots.items() if self.slot_state(n) in AT_REST}
        assert not at_rest & set(devices), f"in a slot, ready to rent, yet out on a rental: {at_rest & set(devices)}"

    @invariant()
    def slots_agree_with_the_hardware_and_the_ledger(self) -> None:
        if not self.started:
            return
        rows = {row.slot: row for row in self.rig.ledger.slot_states()}
        projected = {number: row.state.value for number, row in rows.items()}
        for number, slot in self.controller.slots.items():
            state, held = self.slot_state(number), self.rig.sim.holds(number)
            if state in HOLDING:
                assert held is not None, f"slot {number} is {state} but its USB port is empty"
            if state == "empty":
                assert held is None, f"slot {number} is empty but holds {held}"
            if state in AT_REST and held is not None:
                assert slot.device == held.serial, f"slot {number}: thinks it holds {slot.device}, holds {held}"
            assert projected.get(number, "empty") == state, f"slot {number}: ledger {projected.get(number)}, {state}"
            # The alarms the controller holds are exactly those the ledger recorded, restarts included.
            alarms = {alarm.value for alarm in slot.alarms}
            recorded = set(rows[number].alarms) if number in rows else set()
            assert alarms == recorded, f"slot {number}: alarms {alarms}, the ledger has {recorded}"

    @invariant()
    def the_chain_holds(self) -> None:
        if self.started:
            assert self.rig.ledger.verify().ok


# About 30-40 s on a 2-core machine; a longer hunt: --hypothesis-seed, or raise both for a local run.
CabinetDay.TestCase.settings = settings(
    max_examples=10,
    stateful_step_count=16,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TestCabinetDay = CabinetDay.TestCase

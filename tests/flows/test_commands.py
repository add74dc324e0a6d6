"""The fleet's remote commands go through the controller's maintenance desk, the one the control socket
uses: the same checks (the slot exists, no rent or return under way) and the same `technician_action`
record, by `cloud:<command id>`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cabinetproto.chain import uuid7
from cabinetproto.wire import SLOT_COMMANDS, Command, CommandKind, CommandOutcome
from tests.flows.rig import Rig
from tests.flows.test_flows import ANNA, put_back, rent, screen

ALL_SLOTS = "1, 2, 3, 4, 5, 6, 7, 8"


def command(kind: CommandKind, **args: str | int) -> Command:
    now = datetime.now(UTC)
    return Command(
        command_id=str(uuid7()), number=1, kind=kind, args=args, issued_at=now, expires_at=now + timedelta(minutes=5)
    )


def technician_actions(rig: Rig) -> list[tuple[str, int | None, str, dict[str, Any]]]:
    return [
        (e.payload["action"], e.slot, e.payload["technician"], e.payload["args"])
        for e in rig.ledger.tail(10_000)
        if e.type == "technician_action"
    ]


async def rent_under_way(rig: Rig) -> int:
    rig.sim.badge(ANNA)
    await rig.until(lambda: screen(rig).get("step") == "door", within=10)
    return int(screen(rig)["slot"])  # type: ignore[call-overload]


async def test_ok__a_power_cycle_from_the_cloud_is_recorded_as_a_technician_action(rig: Rig) -> None:
    cycle = command(CommandKind.POWER_CYCLE_PORT, slot=3)
    outcome = await rig.controller.execute_command(cycle)
    assert outcome == CommandOutcome(True, "device after the cycle: SIM0003")
    assert technician_actions(rig) == [("usb_power", 3, f"cloud:{cycle.command_id}", {"power": "cycle"})]
    assert rig.state(3) in ("ready", "charging")


async def test_fail__a_power_cycle_from_the_cloud_leaves_a_slot_with_a_rent_under_way_alone(rig: Rig) -> None:
    slot = await rent_under_way(rig)
    outcome = await rig.controller.execute_command(command(CommandKind.POWER_CYCLE_PORT, slot=slot))
    assert outcome == CommandOutcome(False, f"slot {slot} is busy: a rent is under way")
    assert technician_actions(rig) == []
    assert rig.state(slot) == "dispensing"


@pytest.mark.parametrize("kind", sorted(SLOT_COMMANDS - {CommandKind.POWER_CYCLE_PORT}))
async def test_fail__no_command_touches_a_slot_with_a_rent_under_way(rig: Rig, kind: CommandKind) -> None:
    slot = await rent_under_way(rig)
    outcome = await rig.controller.execute_command(command(kind, slot=slot, reason="stuck"))
    assert outcome == CommandOutcome(False, f"slot {slot} is busy: a rent is under way")
    assert technician_actions(rig) == []
    assert rig.state(slot) == "dispensing"


@pytest.mark.parametrize("kind", sorted(SLOT_COMMANDS))
async def test_fail__every_command_for_a_slot_that_does_not_exist(rig: Rig, kind: CommandKind) -> None:
    outcome = await rig.controller.execute_command(command(kind, slot=9))
    assert outcome == CommandOutcome(False, f"no slot 9 (slots: {ALL_SLOTS})")
    assert technician_actions(rig) == []


async def test_ok__disable_and_enable_from_the_cloud_are_recorded_with_the_reason(rig: Rig) -> None:
    disable = command(CommandKind.DISABLE_SLOT, slot=2, reason="door jammed")
    enable = command(CommandKind.ENABLE_SLOT, slot=2)
    assert await rig.controller.execute_command(disable) == CommandOutcome(True, "done")
    assert rig.state(2) == "disabled"
    assert await rig.controller.execute_command(enable) == CommandOutcome(True, "done")
    assert rig.state(2) == "empty"
    assert technician_actions(rig) == [
        ("disable", 2, f"cloud:{disable.command_id}", {"reason": "door jammed"}),
        ("enable", 2, f"cloud:{enable.command_id}", {}),
    ]


async def test_fail__enable_from_the_cloud_of_a_slot_in_service(rig: Rig) -> None:
    outcome = await rig.controller.execute_command(command(CommandKind.ENABLE_SLOT, slot=2))
    assert outcome == CommandOutcome(False, "slot 2 cannot be enabled while empty")


async def test_fail__reprovision_of_a_device_never_provisioned(rig: Rig) -> None:
    outcome = await rig.controller.execute_command(command(CommandKind.REPROVISION, slot=1))
    assert outcome == CommandOutcome(False, "device SIM0001 is not provisioned for any work type")
    outcome = await rig.controller.execute_command(command(CommandKind.REPROVISION, slot=2))
    assert outcome == CommandOutcome(False, "slot 2 holds no device at rest")
    assert technician_actions(rig) == []


async def test_ok__reprovision_from_the_cloud_is_recorded_as_a_technician_action(rig: Rig) -> None:
    await rent(rig)
    device = rig.ledger.held_by("anna")[0].device
    slot = await put_back(rig, device)
    await rig.until(lambda: rig.state(slot) in ("ready", "charging"))
    again = command(CommandKind.REPROVISION, slot=slot)
    assert await rig.controller.execute_command(again) == CommandOutcome(True, "done")
    assert technician_actions(rig) == [("reprovision", slot, f"cloud:{again.command_id}", {"work_type": "price-tags"})]
    assert rig.events("device_provisioned", "technician_action")[-2:] == ["device_provisioned", "technician_action"]

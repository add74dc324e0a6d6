"""What the cabinet remembers of each slot's USB port: which faults make a port untrusted, and what
clears them (the return policy prefers a trusted port; tests/flows/test_flows.py shows it)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from cabinetd.flows.ports import PortHealth, hub_part, hubs_down
from cabinetd.hal.base import PartState, PortRecovery, UsbIdentity
from tests.flows.rig import sim_config

GIVES_SERIAL = UsbIdentity(0x1209, 0x0001, "SIM0002")
NO_SERIAL = UsbIdentity(0x1209, 0x0001, None)
T0 = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def test_ok__every_slot_knows_its_hub(tmp_path: Path) -> None:
    health = PortHealth.for_config(sim_config(tmp_path))
    assert health.hub_of == {n: "USB hub 1-1" for n in (1, 2, 3, 4)} | {n: "USB hub 1-2" for n in (5, 6, 7, 8)}
    assert hub_part("1-3") == "USB hub usb1"  # a root port hangs off the bus's root hub


@pytest.mark.parametrize(
    ("recoveries", "working"),
    [
        ([PortRecovery.UNRESPONSIVE], False),
        ([PortRecovery.GONE], False),
        ([PortRecovery.UNRESPONSIVE, PortRecovery.ANSWERING], False),  # no cycle: nothing learnt
        ([PortRecovery.UNRESPONSIVE, PortRecovery.RECOVERED], True),
        ([PortRecovery.ANSWERING], True),
    ],
)
def test_ok__the_last_power_cycle_decides(recoveries: list[PortRecovery], working: bool) -> None:
    health = PortHealth()
    for recovery in recoveries:
        health.power_cycled(2, recovery)
    assert health.working(2, set()) is working
    assert health.working(4, set()) is True


@pytest.mark.parametrize(
    ("seen", "working"),
    [
        ([NO_SERIAL], False),
        ([NO_SERIAL, None], False),  # the device left: the port's last reading stands
        ([NO_SERIAL, GIVES_SERIAL], True),
        ([GIVES_SERIAL, NO_SERIAL], False),
    ],
)
def test_ok__the_last_identity_read_decides(seen: list[UsbIdentity | None], working: bool) -> None:
    health = PortHealth()
    for identity in seen:
        health.identity_read(2, identity)
    assert health.working(2, set()) is working


def test_fail__a_port_behind_a_hub_off_the_bus_is_not_trusted() -> None:
    health = PortHealth(hub_of={2: "USB hub 1-1", 6: "USB hub 1-2"})
    parts = [PartState("USB hub 1-1", False, T0, "not on the bus"), PartState("USB hub 1-2", True, T0)]
    down = hubs_down(parts)
    assert (health.working(2, down), health.working(6, down)) == (False, True)

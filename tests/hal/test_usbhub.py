"""USB port paths and hub descriptors: byte fixtures from the hub class definitions."""

from __future__ import annotations

import pytest

from cabinetd.hal.usbhub import HubSighting, PortPath, companion, parse_container_id, parse_hub_descriptor
from cabinetd.sim.usbdevices import SimHub

# A 4-port USB 2 hub with per-port power switching and per-port over-current: bLength 9, type 0x29,
# 4 ports, wHubCharacteristics 0x0009, 100 ms power-on to power-good, 100 mA, DeviceRemovable 0,
# PortPwrCtrlMask 0xFF.
USB2_PER_PORT = bytes.fromhex("09 29 04 09 00 32 64 00 ff")
# A 7-port USB 2 hub with ganged switching.
USB2_GANGED = bytes.fromhex("09 29 07 00 00 32 64 00 ff")
# A 4-port USB 3 hub: bLength 12, type 0x2A, per-port switching.
USB3_PER_PORT = bytes.fromhex("0c 2a 04 09 00 32 00 00 00 00 00 00")
# A one-port USB 2 hub (a Raspberry Pi's OTG root hub kind) that says "ganged".
USB2_ONE_PORT_GANGED = bytes.fromhex("09 29 01 00 00 32 64 00 ff")
# A BOS descriptor (type 0x0F, 27 bytes, 2 capabilities): USB 2.0 extension (type 2, 7 bytes), then
# Container ID (type 4, 20 bytes: reserved byte, 16-byte UUID).
CONTAINER = bytes.fromhex("5cf3ee30d5074925b001802d79434c30")
BOS = bytes.fromhex("05 0f 20 00 02") + bytes.fromhex("07 10 02 06 00 00 00") + bytes.fromhex("14 10 04 00") + CONTAINER


@pytest.mark.parametrize(
    ("text", "bus", "ports", "hub", "port"),
    [
        ("1-1.4", 1, (1, 4), "1-1", 4),
        ("1-1", 1, (1,), "usb1", 1),
        ("3-2.1.7", 3, (2, 1, 7), "3-2.1", 7),
    ],
)
def test_ok__port_path(text: str, bus: int, ports: tuple[int, ...], hub: str, port: int) -> None:
    path = PortPath.parse(text)
    assert (path.bus, path.ports, str(path.hub), path.port, str(path)) == (bus, ports, hub, port, text)


@pytest.mark.parametrize("text", ["1", "1-", "0-1", "1-1.0", "1-1..2", "a-1", "1-1.4 "])
def test_fail__port_path(text: str) -> None:
    with pytest.raises(ValueError, match=r"not a USB port path like '1-1\.4'"):
        PortPath.parse(text)


@pytest.mark.parametrize(
    ("data", "usb3", "ports", "switching", "power_bit"),
    [
        (USB2_PER_PORT, False, 4, "per port", 0x0100),
        (USB2_GANGED, False, 7, "ganged", 0x0100),
        (USB3_PER_PORT, True, 4, "per port", 0x0200),
        (USB2_ONE_PORT_GANGED, False, 1, "per port", 0x0100),  # its one port is its whole gang
    ],
)
def test_ok__hub_descriptor(data: bytes, usb3: bool, ports: int, switching: str, power_bit: int) -> None:
    descriptor = parse_hub_descriptor(data, usb3=usb3)
    assert (descriptor.ports, descriptor.switching, descriptor.power_bit) == (ports, switching, power_bit)
    assert descriptor.per_port_power == (switching == "per port")


@pytest.mark.parametrize(
    ("data", "usb3", "message"),
    [
        (b"", False, "not a hub descriptor: empty"),
        (USB2_PER_PORT[:4], False, "not a hub descriptor: 09 29 04 09"),
        (USB2_PER_PORT, True, "not a USB 3 hub descriptor: 09 29 04 09 00 32 64 00 ff"),
    ],
)
def test_fail__hub_descriptor(data: bytes, usb3: bool, message: str) -> None:
    with pytest.raises(ValueError, match="hub descriptor") as caught:
        parse_hub_descriptor(data, usb3=usb3)
    assert str(caught.value) == message


def test_ok__emulated_hubs_send_the_fixture_descriptors() -> None:
    assert SimHub(4).hub_descriptor() == USB2_PER_PORT
    assert SimHub(7, switching="ganged").hub_descriptor() == USB2_GANGED
    assert SimHub(4, usb3=True).hub_descriptor() == USB3_PER_PORT


def test_ok__container_id_from_a_bos_descriptor() -> None:
    assert parse_container_id(BOS) == CONTAINER
    assert parse_container_id(BOS[:5] + BOS[12:]) == CONTAINER  # the capability alone
    assert parse_container_id(BOS[:12]) is None  # USB 2.0 extension only
    assert parse_container_id(b"") is None
    assert parse_container_id(bytes.fromhex("05 0f 08 00 01 00 10 04")) is None  # a zero length ends it


def hub(path: str, usb3: bool, container: bytes | None = CONTAINER, ports: int = 4) -> HubSighting:
    where = PortPath.parse(path) if "-" in path else PortPath(int(path), ())
    return HubSighting(where, usb3, ports, container)


@pytest.mark.parametrize(
    ("mine", "others", "expected"),
    [
        # The SuperSpeed half at the same port numbers on the next bus.
        (hub("1-1", False), [hub("2-1", True)], 0),
        (hub("2-1", True), [hub("1-1", False)], 0),
        # Hubs of one model share a Container ID: the same port numbers win, then the next bus.
        (hub("1-1", False), [hub("2-3", True), hub("2-1", True)], 1),
        (hub("1-1", False), [hub("4-1", True), hub("2-1", True)], 1),
        # No match: the same speed, other port counts, another Container ID, none on one side.
        (hub("1-1", False), [hub("1-2", False)], None),
        (hub("1-1", False), [hub("2-1", True, ports=7)], None),
        (hub("1-1", False), [hub("2-1", True, container=bytes(16))], None),
        (hub("1-1", False), [hub("2-1", True, container=None)], None),
        # Root hubs give no Container ID: the USB 3 one on the bus after the USB 2 one.
        (hub("1", False, None), [hub("2", True, None)], 0),
        (hub("1", False, None), [hub("3", True, None)], None),
        (hub("2", False, None), [hub("1", True, None)], None),
    ],
)
def test_ok__usb3_companion(mine: HubSighting, others: list[HubSighting], expected: int | None) -> None:
    found = companion(mine, others)
    assert found == (None if expected is None else others[expected])

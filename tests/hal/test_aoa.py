"""The accessory handshake and the link's faults: the real aoa.py against simulated handhelds."""

from __future__ import annotations

import asyncio
import time

import pytest

from cabinetd.hal.agentframe import encode_frame
from cabinetd.hal.agentprotocol import Request, encode_message
from cabinetd.hal.errors import LinkError, LinkFailure
from cabinetd.sim.handheld import ACCESSORY, ACCESSORY_ADB, AOA_VENDOR, LinkFault, SimHandheld
from testbed.handheldrig import link_rig


def reply_frame_size(handheld: SimHandheld, request_id: int) -> int:
    """How long the agent's reply to `hello` is on the wire (the handheld's state decides)."""
    (reply,) = handheld.agent.handle(Request(id=request_id, type="hello"))
    return len(encode_frame(encode_message(reply)))


async def test_ok__handshake_switches_the_device_and_gives_our_identity() -> None:
    handheld = SimHandheld("SIM0001")
    async with link_rig({1: handheld}) as rig:
        hello = await rig.link.hello(1)
        assert hello.serial == "SIM0001"
        assert handheld.starts == 1
        assert handheld.accessory_strings == {
            0: "cabinetd",
            1: "device-cabinet",
            2: "Smart device cabinet",
            3: "1",
            4: "",
            5: "test-1/slot-1",
        }
        device = rig.bus.device_at("1-1.1")
        assert device is handheld.accessory
        assert (device.vendor_id, device.product_id) == (AOA_VENDOR, ACCESSORY)
        assert rig.link.accessory(1).serial == "SIM0001"


async def test_ok__waits_for_the_device_to_come_back_on_its_port() -> None:
    handheld = SimHandheld("SIM0001")
    async with link_rig({1: handheld}, enumerate_delay_s=0.2, handshake_s=1.0) as rig:
        # The device is on the bus before the link starts; only the switch's re-enumeration is awaited.
        await asyncio.sleep(0.25)
        started = time.monotonic()
        await rig.link.hello(1)
        assert time.monotonic() - started >= 0.2
        assert handheld.starts == 1


async def test_ok__a_device_already_in_accessory_mode_is_used_as_it_is() -> None:
    handheld = SimHandheld("SIM0001", in_accessory_mode=True)
    async with link_rig({1: handheld}) as rig:
        assert (await rig.link.hello(1)).serial == "SIM0001"
        assert handheld.starts == 0
        assert handheld.accessory_strings == {}


async def test_ok__accessory_with_adb() -> None:
    handheld = SimHandheld("SIM0001", adb=True)
    async with link_rig({1: handheld}) as rig:
        await rig.link.hello(1)
        assert rig.bus.device_at("1-1.1") is handheld.accessory
        assert handheld.accessory.product_id == ACCESSORY_ADB


async def test_ok__one_handshake_serves_many_requests() -> None:
    handheld = SimHandheld("SIM0001")
    async with link_rig({1: handheld}) as rig:
        for _ in range(5):
            await rig.link.hello(1)
        assert handheld.starts == 1
        assert rig.link.accessory(1).handshakes == 1


async def test_ok__a_power_cycled_device_is_switched_again() -> None:
    handheld = SimHandheld("SIM0001")
    async with link_rig({1: handheld}) as rig:
        await rig.link.hello(1)
        rig.power_cycle(1)
        assert rig.bus.device_at("1-1.1") is handheld.normal  # back in its normal mode
        assert (await rig.link.hello(1)).serial == "SIM0001"
        assert handheld.starts == 2


async def test_ok__slots_are_independent() -> None:
    first, second = SimHandheld("SIM0001"), SimHandheld("SIM0002")
    second.fault = LinkFault.SILENT
    async with link_rig({1: first, 2: second}) as rig:
        started = time.monotonic()
        results = await asyncio.gather(rig.link.hello(2), rig.link.hello(1), return_exceptions=True)
        assert isinstance(results[0], LinkError)
        assert not isinstance(results[1], BaseException)
        assert results[1].serial == "SIM0001"
        assert time.monotonic() - started < 0.5


# --- handshake failures -------------------------------------------------------------------------------


async def test_fail__no_device_on_the_port() -> None:
    async with link_rig() as rig:
        with pytest.raises(LinkError) as caught:
            await rig.link.hello(2)
        assert str(caught.value) == "slot 2, device unknown: no device: nothing on port 1-1.2"
        assert caught.value.failure is LinkFailure.NO_DEVICE


async def test_fail__no_accessory_support() -> None:
    async with link_rig({1: SimHandheld("SIM0001", aoa_protocol=0)}) as rig:
        with pytest.raises(LinkError) as caught:
            await rig.link.hello(1)
        assert str(caught.value) == (
            "slot 1, device SIM0001: no accessory support: 1209:0001 on port 1-1.1 refused GET_PROTOCOL"
            " ([Errno 32] Pipe error)"
        )


async def test_fail__handshake_timeout_when_the_device_never_comes_back() -> None:
    handheld = SimHandheld("SIM0001", reenumerates=False)
    async with link_rig({1: handheld}, handshake_s=0.2) as rig:
        started = time.monotonic()
        with pytest.raises(LinkError) as caught:
            await rig.link.hello(1)
        assert str(caught.value) == (
            "slot 1, device SIM0001: handshake timeout: no accessory on port 1-1.1 within 0.2 s of START"
        )
        assert 0.2 <= time.monotonic() - started < 1.0
        assert handheld.starts == 1


async def test_fail__wrong_serial_after_reenumeration() -> None:
    async with link_rig({1: SimHandheld("SIM0001", accessory_serial="SIM0666")}) as rig:
        with pytest.raises(LinkError) as caught:
            await rig.link.hello(1)
        assert str(caught.value) == (
            "slot 1, device SIM0001: wrong serial: the accessory that came back on port 1-1.1 has serial 'SIM0666'"
        )


async def test_fail__agent_reports_another_serial() -> None:
    handheld = SimHandheld("SIM0001")
    handheld.agent.serial = "SIM0002"
    async with link_rig({1: handheld}) as rig:
        with pytest.raises(LinkError) as caught:
            await rig.link.hello(1)
        assert str(caught.value) == "slot 1, device SIM0001: wrong serial: the agent reports serial 'SIM0002'"


async def test_fail__agent_speaks_only_other_versions() -> None:
    handheld = SimHandheld("SIM0001")
    handheld.agent.protocol_versions = [2, 3]
    async with link_rig({1: handheld}) as rig:
        with pytest.raises(LinkError) as caught:
            await rig.link.hello(1)
        assert str(caught.value) == (
            "slot 1, device SIM0001: unknown version: the agent speaks versions 2, 3, the cabinet 1"
        )


async def test_fail__device_that_hangs_on_usb() -> None:
    handheld = SimHandheld("SIM0001")
    handheld.normal.make_unresponsive()
    async with link_rig({1: handheld}) as rig:
        with pytest.raises(LinkError) as caught:
            await rig.link.hello(1)
        # Its serial cannot even be read, so the message cannot name it.
        assert str(caught.value) == (
            "slot 1, device unknown: unresponsive: 1209:0001 on port 1-1.1 did not answer GET_PROTOCOL"
        )
        rig.power_cycle(1)  # what the controller does next, once
        assert (await rig.link.hello(1)).serial == "SIM0001"


async def test_fail__accessory_that_hangs_after_the_switch() -> None:
    handheld = SimHandheld("SIM0001")
    handheld.accessory.make_unresponsive()
    async with link_rig({1: handheld}) as rig:
        with pytest.raises(LinkError) as caught:
            await rig.link.hello(1)
        assert str(caught.value) == (
            "slot 1, device SIM0001: unresponsive: the accessory on port 1-1.1 did not give its serial"
        )
        rig.power_cycle(1)  # cures it: the handheld starts over in its normal mode
        assert (await rig.link.hello(1)).serial == "SIM0001"
        assert handheld.starts == 2


# --- faults of the agent's replies --------------------------------------------------------------------

FAULTS = {
    LinkFault.SILENT: "unresponsive: no reply to hello within 0.25 s",
    LinkFault.GARBAGE: "bad frame: reply to hello, byte 0: expected magic byte 0x43, got 0x00",
    LinkFault.SLOW: "unresponsive: no reply to hello within 0.25 s",
    LinkFault.BAD_JSON: "bad JSON: reply to hello, byte 31: not JSON: Expecting value",
    LinkFault.OVERSIZED: (
        "frame too long: reply to hello, byte 4: frame announces 1048576 bytes, over the 65536-byte limit"
    ),
    LinkFault.WRONG_VERSION: "unknown version: reply to hello, byte 2: unknown protocol version 9 (supported: 1)",
}


@pytest.mark.parametrize("fault", list(FAULTS), ids=[fault.name.lower() for fault in FAULTS])
async def test_fail__agent_fault_then_recovery(fault: LinkFault) -> None:
    handheld = SimHandheld("SIM0001")
    async with link_rig({1: handheld}) as rig:
        await rig.link.hello(1)
        handheld.fault = fault
        with pytest.raises(LinkError) as caught:
            await rig.link.hello(1)
        assert str(caught.value) == f"slot 1, device SIM0001: {FAULTS[fault]}"
        assert caught.value.slot == 1
        assert caught.value.serial == "SIM0001"
        # The agent is well again: the link reopens on the accessory as it is (no new handshake) and
        # drops whatever the fault left behind, a late reply included.
        handheld.fault = None
        await asyncio.sleep(0.3)
        assert (await rig.link.hello(1)).serial == "SIM0001"
        assert handheld.starts == 1


async def test_fail__agent_dies_mid_frame_until_a_power_cycle() -> None:
    handheld = SimHandheld("SIM0001")
    async with link_rig({1: handheld}) as rig:
        await rig.link.hello(1)
        size = reply_frame_size(handheld, 2)
        handheld.fault = LinkFault.DIES_MID_FRAME
        with pytest.raises(LinkError) as caught:
            await rig.link.hello(1)
        assert str(caught.value) == (
            f"slot 1, device SIM0001: unresponsive: reply to hello cut off after {size // 2} of {size} bytes"
        )
        handheld.fault = None
        with pytest.raises(LinkError) as caught:
            await rig.link.hello(1)
        assert str(caught.value) == "slot 1, device SIM0001: unresponsive: no reply to hello within 0.25 s"
        rig.power_cycle(1)
        assert (await rig.link.hello(1)).serial == "SIM0001"
        assert handheld.starts == 2


async def test_ok__slow_answer_within_the_timeout() -> None:
    handheld = SimHandheld("SIM0001")
    async with link_rig({1: handheld}) as rig:
        handheld.fault, handheld.reply_delay_s = LinkFault.SLOW, 0.1
        started = time.monotonic()
        await rig.link.hello(1)
        assert 0.1 <= time.monotonic() - started < 0.25


async def test_fail__device_unplugged_while_answering() -> None:
    handheld = SimHandheld("SIM0001")
    async with link_rig({1: handheld}) as rig:
        await rig.link.hello(1)
        handheld.fault, handheld.reply_delay_s = LinkFault.SLOW, 0.2
        pending = asyncio.create_task(rig.link.hello(1))
        await asyncio.sleep(0.05)
        rig.bus.unplug("1-1.1")
        with pytest.raises(LinkError) as caught:
            await pending
        assert str(caught.value) == "slot 1, device SIM0001: no device: reply to hello: the device left port 1-1.1"
        with pytest.raises(LinkError) as caught:
            await rig.link.hello(1)
        assert str(caught.value) == "slot 1, device unknown: no device: nothing on port 1-1.1"

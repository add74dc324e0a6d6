"""The emulated USB bus, through pyusb itself: what drivers (and later device models) rely on."""

from __future__ import annotations

import errno

import pytest
import usb.core
import usb.util

from cabinetd.sim.usbbus import SimUsbBackend
from cabinetd.sim.usbdescriptors import Endpoint, Interface, Setup, Stall
from cabinetd.sim.usbdevices import SimHub, SimUsbDevice, handheld


def small_bus() -> SimUsbBackend:
    bus = SimUsbBackend(timeout_scale=0.1)
    bus.add_bus(1)
    bus.plug("1-1", SimHub(4))
    return bus


def at(bus: SimUsbBackend, *ports: int) -> usb.core.Device:
    found = usb.core.find(backend=bus, custom_match=lambda d: tuple(d.port_numbers or ()) == ports)
    assert found is not None
    return found


def test_ok__tree_enumerates_with_paths_and_strings() -> None:
    bus = small_bus()
    bus.plug("1-1.3", handheld("HH-0001"))
    seen = [
        (d.bus, d.address, d.port_numbers, d.idVendor, d.idProduct)
        for d in usb.core.find(find_all=True, backend=bus)
    ]
    assert seen == [(1, 1, None, 0x1D6B, 0x0002), (1, 2, (1,), 0x1209, 0x0002), (1, 3, (1, 3), 0x1209, 0x0001)]
    device = at(bus, 1, 3)
    assert (device.serial_number, device.product, device.manufacturer) == ("HH-0001", "Simulated handheld", "Simulated")
    assert at(bus, 1).parent is not None


def test_ok__descriptor_getters_stop_with_index_error() -> None:
    bus = small_bus()
    bus.plug("1-1.3", handheld("HH-0001"))
    device = at(bus, 1, 3)
    [configuration] = list(device)  # iteration ends on IndexError past the last index
    [interface] = list(configuration)
    assert [e.bEndpointAddress for e in interface] == [0x81, 0x01]
    dev = device._ctx.dev
    with pytest.raises(IndexError):
        bus.get_configuration_descriptor(dev, 1)
    with pytest.raises(IndexError):
        bus.get_interface_descriptor(dev, 1, 0, 0)
    with pytest.raises(IndexError):
        bus.get_interface_descriptor(dev, 0, 1, 0)
    with pytest.raises(IndexError):
        bus.get_endpoint_descriptor(dev, 2, 0, 0, 0)


def test_ok__bulk_both_ways() -> None:
    bus = small_bus()
    model = handheld("HH-0001")
    bus.plug("1-1.3", model)
    device = at(bus, 1, 3)
    assert device.write(0x01, b"hello", 100) == 5
    assert model.take_from_host(0x01) == b"hello"
    model.send_to_host(0x81, b"world!")
    assert bytes(device.read(0x81, 4, 100)) == b"worl"
    assert bytes(device.read(0x81, 64, 100)) == b"d!"
    with pytest.raises(usb.core.USBTimeoutError):
        device.read(0x81, 64, 50)


def test_fail__unresponsive_device_times_out_until_power_cycled() -> None:
    bus = small_bus()
    model = handheld("HH-0001")
    bus.plug("1-1.3", model)
    device = at(bus, 1, 3)
    model.make_unresponsive()
    assert at(bus, 1, 3).idProduct == 0x0001  # still enumerated, descriptors still readable
    with pytest.raises(usb.core.USBTimeoutError):
        device.ctrl_transfer(0x80, 0, 0, 0, 2, 100)
    with pytest.raises(usb.core.USBTimeoutError):
        device.write(0x01, b"x", 100)
    hub = at(bus, 1)
    hub.ctrl_transfer(0x23, 1, 8, 3, None)  # CLEAR_FEATURE PORT_POWER, port 3
    assert usb.core.find(backend=bus, idProduct=0x0001) is None
    hub.ctrl_transfer(0x23, 3, 8, 3, None)  # SET_FEATURE PORT_POWER
    back = at(bus, 1, 3)
    assert back.address != device.address
    assert bytes(back.ctrl_transfer(0x80, 0, 0, 0, 2, 100)) == b"\x00\x00"


def test_fail__transfer_to_a_device_that_left() -> None:
    bus = small_bus()
    bus.plug("1-1.3", handheld("HH-0001"))
    device = at(bus, 1, 3)
    bus.unplug("1-1.3")
    with pytest.raises(usb.core.USBError) as caught:
        device.ctrl_transfer(0x80, 0, 0, 0, 2, 100)
    assert caught.value.errno == errno.ENODEV
    usb.util.dispose_resources(device)  # closing a gone device does not fail


def test_fail__unsupported_request_stalls() -> None:
    bus = small_bus()
    bus.plug("1-1.3", handheld("HH-0001"))
    with pytest.raises(usb.core.USBError) as caught:
        at(bus, 1, 3).ctrl_transfer(0xC0, 51, 0, 0, 2, 100)
    assert caught.value.errno == errno.EPIPE


class ModeSwitching(SimUsbDevice):
    """A device model using the extension points: a vendor request that makes it re-enumerate."""

    def __init__(self) -> None:
        super().__init__(0x1209, 0x0001, serial="HH-0001")
        self.switched = SimUsbDevice(
            0x1209,
            0x0005,
            serial="HH-0001",
            interfaces=(Interface(0, 0xFF, endpoints=(Endpoint(0x81), Endpoint(0x02))),),
        )

    def handle_control(self, setup: Setup, data: bytes) -> bytes:
        if setup.request_type == 0xC0 and setup.request == 51:
            return b"\x02\x00"
        if setup.request_type == 0x40 and setup.request == 53:
            assert self.port is not None
            self.port.swap(self.switched)
            return b""
        raise Stall


def test_ok__device_model_extension_point_and_re_enumeration() -> None:
    bus = small_bus()
    model = ModeSwitching()
    bus.plug("1-1.3", model)
    device = at(bus, 1, 3)
    assert bytes(device.ctrl_transfer(0xC0, 51, 0, 0, 2)) == b"\x02\x00"
    device.ctrl_transfer(0x40, 53, 0, 0, None)
    switched = at(bus, 1, 3)
    assert (switched.idProduct, switched.port_numbers) == (0x0005, (1, 3))
    assert switched.address != device.address
    assert switched.write(0x02, b"frame") == 5
    assert model.switched.take_from_host(0x02) == b"frame"

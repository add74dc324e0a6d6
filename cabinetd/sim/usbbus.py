"""An emulated USB bus behind pyusb: `SimUsbBackend` is a `usb.backend.IBackend`.

Production code calls `usb.core.find(backend=...)` with it exactly as with libusb. The backend keeps
the tree of root hubs, hubs and devices (`usbdevices`), gives every device an address when it
enumerates (a new one each time it comes back: after an unplug, a power cut, a mode switch), answers
descriptor getters from that tree as libusb answers them from the kernel's cache (so they work even
when the device itself no longer answers), and routes transfers to the device models.

Errors are the ones libusb gives: a transfer to a device that left the bus raises `USBError` with
errno ENODEV, a request the device stalls raises errno EPIPE, a device that does not answer raises
`USBTimeoutError` after the transfer's timeout (scaled by `timeout_scale`).

The kernel's side beyond the bus, uevents and sysfs `disable` files, is `usbkernel.SimKernel`; a bus
laid out for a cabinet's config, with each kind of hub found in the field, is `usbtopology`.
"""

from __future__ import annotations

import errno
import threading
import time
from array import array
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import usb.backend
import usb.core

from cabinetd.clock import Clock
from cabinetd.hal.usbhub import PortPath
from cabinetd.sim.uevents import SimUevents
from cabinetd.sim.usbdescriptors import Gone, Interface, Setup, Stall
from cabinetd.sim.usbdevices import SimHub, SimPort, SimUsbDevice
from cabinetd.sim.usbkernel import SimKernel

_NO_DEVICE = ("No such device (it may have been disconnected)", -4, errno.ENODEV)
_PIPE = ("Pipe error", -9, errno.EPIPE)
_TIMEOUT = ("Operation timed out", -7, errno.ETIMEDOUT)


class _Enumerated:
    """One enumeration of a device on the bus: the object pyusb holds as its `dev`."""

    def __init__(
        self, device: SimUsbDevice, bus: int, address: int, port: SimPort | None, parent: _Enumerated | None
    ) -> None:
        self.device = device
        self.bus = bus
        self.address = address
        self.port = port
        self.parent = parent
        self.generation = port.generation if port is not None else 0
        self.port_numbers: tuple[int, ...] = (
            ()
            if parent is None or port is None
            else (
                *parent.port_numbers,
                port.number,
            )
        )


class _Handle:
    def __init__(self, enumerated: _Enumerated) -> None:
        self.enumerated = enumerated


class SimUsbBackend(usb.backend.IBackend):  # type: ignore[misc]  # pyusb ships no types
    def __init__(
        self,
        *,
        clock: Clock | None = None,
        enumerate_delay_s: float = 0.0,
        timeout_scale: float = 1.0,
        uevents: SimUevents | None = None,
        sysfs: Path | None = None,
    ) -> None:
        self.lock = threading.RLock()
        self.kernel = SimKernel(uevents=uevents, sysfs=sysfs, enumerate_delay_s=enumerate_delay_s)
        self.clock = clock or Clock()
        self.enumerate_delay_s = enumerate_delay_s
        self.timeout_scale = timeout_scale
        self._roots: dict[int, _Enumerated] = {}
        self._current: dict[SimPort, _Enumerated] = {}
        self._last_address: dict[int, int] = {}

    # --- topology -----------------------------------------------------------------------------------

    def add_bus(self, number: int, *, ports: int = 4, switching: str = "per-port", usb3: bool = False) -> SimHub:
        with self.lock:
            if number in self._roots:
                raise ValueError(f"bus {number} exists")
            root = SimHub(ports, switching=switching, usb3=usb3, root=True, clock=self.clock)
            root.configuration = 1
            self._roots[number] = _Enumerated(root, number, 1, None, None)
            self.kernel.hub_known(PortPath(number, ()), root)
            return root

    def port(self, path: str | PortPath) -> SimPort:
        """The hub port at `path`; every hub on the way must be plugged in."""
        where = PortPath.parse(path) if isinstance(path, str) else path
        with self.lock:
            if where.bus not in self._roots:
                raise KeyError(f"no bus {where.bus}")
            hub: SimUsbDevice | None = self._roots[where.bus].device
            for depth, number in enumerate(where.ports):
                if not isinstance(hub, SimHub) or number not in hub.ports:
                    raise KeyError(f"no port at {PortPath(where.bus, where.ports[: depth + 1])}")
                port = hub.ports[number]
                if depth == len(where.ports) - 1:
                    return port
                hub = port.device
            raise KeyError(f"{where} names a root hub, not a port")

    def plug(self, path: str | PortPath, device: SimUsbDevice) -> None:
        with self.lock:
            self.port(path).attach(device)
            if isinstance(device, SimHub):
                self.kernel.hub_known(PortPath.parse(path) if isinstance(path, str) else path, device)

    def unplug(self, path: str | PortPath) -> SimUsbDevice | None:
        with self.lock:
            return self.port(path).detach()

    def device_at(self, path: str | PortPath) -> SimUsbDevice | None:
        with self.lock:
            return self.port(path).device

    # --- enumeration --------------------------------------------------------------------------------

    def _walk(self) -> Iterator[_Enumerated]:
        now = self.clock.monotonic()
        for bus in sorted(self._roots):
            root = self._roots[bus]
            yield root
            yield from self._walk_hub(root, now)

    def _walk_hub(self, hub: _Enumerated, now: float) -> Iterator[_Enumerated]:
        assert isinstance(hub.device, SimHub)
        for port in hub.device.ports.values():
            device = port.device
            if device is None or not port.connected or now - port.changed_at < self.enumerate_delay_s:
                self._current.pop(port, None)
                continue
            known = self._current.get(port)
            if (
                known is None
                or known.generation != port.generation
                or known.device is not device
                or (known.parent is not hub)
            ):
                known = _Enumerated(device, hub.bus, self._free_address(hub.bus), port, hub)
                device.configuration = 1  # the kernel configures what it enumerates
                self._current[port] = known
            yield known
            if isinstance(device, SimHub):
                yield from self._walk_hub(known, now)

    def _free_address(self, bus: int) -> int:
        # Round robin from the last one given, as the kernel does: a device that comes back gets a
        # new address, so a stale handle can never reach its successor.
        used = {e.address for e in self._current.values() if e.bus == bus} | {1}
        last = self._last_address.get(bus, 1)
        for step in range(1, 127):
            address = (last - 2 + step) % 126 + 2
            if address not in used:
                self._last_address[bus] = address
                return address
        raise usb.core.USBError("no free address on the bus", -99, errno.EBUSY)

    def _alive(self, enumerated: _Enumerated) -> bool:
        port = enumerated.port
        if port is None:
            return self._roots.get(enumerated.bus) is enumerated
        return (
            port.generation == enumerated.generation
            and port.device is enumerated.device
            and port.connected
            and enumerated.parent is not None
            and self._alive(enumerated.parent)
        )

    # --- IBackend: descriptors ------------------------------------------------------------------------

    def enumerate_devices(self) -> list[_Enumerated]:
        with self.lock:
            self.kernel.sync_sysfs()
            return list(self._walk())

    def get_parent(self, dev: _Enumerated) -> _Enumerated | None:
        return dev.parent

    def get_device_descriptor(self, dev: _Enumerated) -> SimpleNamespace:
        device = dev.device
        return SimpleNamespace(
            bLength=18,
            bDescriptorType=1,
            bcdUSB=device.bcd_usb,
            bDeviceClass=device.device_class,
            bDeviceSubClass=0,
            bDeviceProtocol=device.device_protocol,
            bMaxPacketSize0=64,
            idVendor=device.vendor_id,
            idProduct=device.product_id,
            bcdDevice=device.bcd_device,
            iManufacturer=device.string_index["manufacturer"],
            iProduct=device.string_index["product"],
            iSerialNumber=device.string_index["serial"],
            bNumConfigurations=1,
            address=dev.address,
            bus=dev.bus,
            port_number=dev.port_numbers[-1] if dev.port_numbers else 0,
            port_numbers=dev.port_numbers or None,  # libusb reports none for a root hub
            speed=device.speed,
        )

    def get_configuration_descriptor(self, dev: _Enumerated, config: int) -> SimpleNamespace:
        if config != 0:
            raise IndexError(f"invalid configuration index {config}")
        device = dev.device
        return SimpleNamespace(
            bLength=9,
            bDescriptorType=2,
            wTotalLength=len(device.configuration_descriptor()),
            bNumInterfaces=device.interface_count(),
            bConfigurationValue=1,
            iConfiguration=0,
            bmAttributes=0x80,
            bMaxPower=50,
            extra_descriptors=[],
        )

    def _interface(self, dev: _Enumerated, intf: int, alt: int, config: int) -> Interface:
        if config != 0:
            raise IndexError(f"invalid configuration index {config}")
        numbers = sorted({interface.number for interface in dev.device.interfaces})
        if not 0 <= intf < len(numbers):
            raise IndexError(f"invalid interface index {intf}")
        settings = [interface for interface in dev.device.interfaces if interface.number == numbers[intf]]
        if not 0 <= alt < len(settings):
            raise IndexError(f"invalid alternate setting index {alt}")
        return settings[alt]

    def get_interface_descriptor(self, dev: _Enumerated, intf: int, alt: int, config: int) -> SimpleNamespace:
        interface = self._interface(dev, intf, alt, config)
        return SimpleNamespace(
            bLength=9,
            bDescriptorType=4,
            bInterfaceNumber=interface.number,
            bAlternateSetting=interface.alternate,
            bNumEndpoints=len(interface.endpoints),
            bInterfaceClass=interface.interface_class,
            bInterfaceSubClass=interface.subclass,
            bInterfaceProtocol=interface.protocol,
            iInterface=0,
            extra_descriptors=[],
        )

    def get_endpoint_descriptor(self, dev: _Enumerated, ep: int, intf: int, alt: int, config: int) -> SimpleNamespace:
        endpoints = self._interface(dev, intf, alt, config).endpoints
        if not 0 <= ep < len(endpoints):
            raise IndexError(f"invalid endpoint index {ep}")
        endpoint = endpoints[ep]
        return SimpleNamespace(
            bLength=7,
            bDescriptorType=5,
            bEndpointAddress=endpoint.address,
            bmAttributes=endpoint.attributes,
            wMaxPacketSize=endpoint.max_packet,
            bInterval=endpoint.interval,
            bRefresh=0,
            bSynchAddress=0,
            extra_descriptors=[],
        )

    # --- IBackend: handles and transfers --------------------------------------------------------------

    def open_device(self, dev: _Enumerated) -> _Handle:
        with self.lock:
            if not self._alive(dev):
                raise usb.core.USBError(*_NO_DEVICE)
            return _Handle(dev)

    def close_device(self, dev_handle: _Handle) -> None:
        """Closing never fails, even for a device that has gone."""

    def _answering(self, dev_handle: _Handle, timeout_ms: int) -> SimUsbDevice:
        """The device behind a handle, once it is known to be there and to answer."""
        with self.lock:
            if not self._alive(dev_handle.enumerated):
                raise usb.core.USBError(*_NO_DEVICE)
            device = dev_handle.enumerated.device
            responsive = device.responsive
        if not responsive:
            # A device that hangs holds the host for the whole timeout; 0 is libusb's "no timeout".
            time.sleep((timeout_ms or 60_000) * self.timeout_scale / 1000)
            raise usb.core.USBTimeoutError(*_TIMEOUT)
        return device

    def ctrl_transfer(
        self,
        dev_handle: _Handle,
        bmRequestType: int,  # pyusb's own parameter names
        bRequest: int,
        wValue: int,
        wIndex: int,
        data: array[int],
        timeout: int,
    ) -> int:
        device = self._answering(dev_handle, timeout)
        setup = Setup(bmRequestType, bRequest, wValue, wIndex, len(data))
        with self.lock:
            self.kernel.sync_sysfs()
            if not self._alive(dev_handle.enumerated):
                raise usb.core.USBError(*_NO_DEVICE)
            try:
                reply = device.control(setup, b"" if setup.device_to_host else bytes(data))
            except Stall:
                raise usb.core.USBError(*_PIPE) from None
        if not setup.device_to_host:
            return len(data)
        count = min(len(reply), len(data))
        memoryview(data)[:count] = reply[:count]
        return count

    def set_configuration(self, dev_handle: _Handle, config_value: int) -> None:
        self.ctrl_transfer(dev_handle, 0x00, 9, config_value, 0, array("B"), 1000)

    def get_configuration(self, dev_handle: _Handle) -> int:
        with self.lock:  # the kernel's cached value: no traffic to the device
            if not self._alive(dev_handle.enumerated):
                raise usb.core.USBError(*_NO_DEVICE)
            return dev_handle.enumerated.device.configuration

    def set_interface_altsetting(self, dev_handle: _Handle, intf: int, altsetting: int) -> None:
        self.ctrl_transfer(dev_handle, 0x01, 11, altsetting, intf, array("B"), 1000)

    def claim_interface(self, dev_handle: _Handle, intf: int) -> None:
        with self.lock:
            if not self._alive(dev_handle.enumerated):
                raise usb.core.USBError(*_NO_DEVICE)

    def release_interface(self, dev_handle: _Handle, intf: int) -> None:
        self.claim_interface(dev_handle, intf)

    def bulk_write(self, dev_handle: _Handle, ep: int, intf: int, data: array[int], timeout: int) -> int:
        device = self._answering(dev_handle, timeout)
        return device.bulk_out(ep, bytes(data))

    def bulk_read(self, dev_handle: _Handle, ep: int, intf: int, buff: array[int], timeout: int) -> int:
        device = self._answering(dev_handle, timeout)
        try:
            chunk = device.bulk_in(ep, len(buff), timeout * self.timeout_scale / 1000 if timeout else None)
        except TimeoutError:
            raise usb.core.USBTimeoutError(*_TIMEOUT) from None
        except Gone:
            raise usb.core.USBError(*_NO_DEVICE) from None
        memoryview(buff)[: len(chunk)] = chunk
        return len(chunk)

    def clear_halt(self, dev_handle: _Handle, ep: int) -> None:
        self._answering(dev_handle, 1000)

    def reset_device(self, dev_handle: _Handle) -> None:
        self._answering(dev_handle, 1000)

    def is_kernel_driver_active(self, dev_handle: _Handle, intf: int) -> bool:
        return False

    def detach_kernel_driver(self, dev_handle: _Handle, intf: int) -> None:
        """No kernel drivers on the emulated bus."""

    def attach_kernel_driver(self, dev_handle: _Handle, intf: int) -> None:
        """No kernel drivers on the emulated bus."""

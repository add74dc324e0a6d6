"""Simulated USB devices and hubs, seen from the wire: descriptors, control requests, bulk endpoints.

`SimUsbDevice` answers the standard requests a host sends (descriptors, strings, status,
configuration) and hands every other control request to `handle_control`, its extension point: a
device model with requests of its own (a vendor protocol, a class) overrides it. Bulk endpoints are
queues: the host's writes land in `take_from_host`, what the model puts with `send_to_host` is what
the host reads (`usbbulk`); a model overrides `bulk_out` / `bulk_in` to react at once instead.

`SimHub` adds the hub class requests (hub descriptor, port status, PORT_POWER) over `SimPort`s, with
per-port, ganged or no power switching, and a hub that cuts only the data lines when asked to cut
power, as some sold as "per-port switching" do. Two `SimHub`s made `companions` are the USB 2 and the
SuperSpeed half of one USB 3 hub: they share each port's VBUS and one Container ID (BOS descriptor).
`repowered_by_kernel` plays Linux's hub driver switching a port back on that userspace switched off,
unless the port was disabled through sysfs (`sysfs_disabled`, set by the bus).

Enumeration, addresses and the pyusb side live in `usbbus.SimUsbBackend`; these classes know nothing
of pyusb. The setup packet and descriptor records they speak in are in `usbdescriptors`. Every method
here runs with the backend's lock held, except the bulk waits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from cabinetd.clock import Clock
from cabinetd.hal import usbhub
from cabinetd.sim.usbbulk import BulkEndpoints
from cabinetd.sim.usbdescriptors import (
    CONFIGURATION_DESCRIPTOR,
    DEVICE_DESCRIPTOR,
    INTERRUPT,
    LANGID_EN_US,
    SPEED_HIGH,
    SPEED_SUPER,
    STRING_DESCRIPTOR,
    Endpoint,
    Interface,
    Setup,
    Stall,
    u16,
)


class SimUsbDevice(BulkEndpoints):
    """A USB device with one configuration; `responsive` False makes every transfer time out."""

    def __init__(
        self,
        vendor_id: int,
        product_id: int,
        *,
        serial: str | None = None,
        manufacturer: str | None = None,
        product: str | None = None,
        bcd_usb: int = 0x0200,
        bcd_device: int = 0x0100,
        device_class: int = 0,
        device_protocol: int = 0,
        interfaces: tuple[Interface, ...] = (),
        speed: int = SPEED_HIGH,
    ) -> None:
        self.vendor_id = vendor_id
        self.product_id = product_id
        self.serial = serial
        self.bcd_usb = bcd_usb
        self.bcd_device = bcd_device
        self.device_class = device_class
        self.device_protocol = device_protocol
        self.interfaces = interfaces
        self.speed = speed
        self.strings: dict[int, str] = {}
        self.string_index = {
            name: self._add_string(text)
            for name, text in (("manufacturer", manufacturer), ("product", product), ("serial", serial))
        }
        self.port: SimPort | None = None  # where it is plugged in; set by SimPort
        self.container_id: bytes | None = None  # given in a BOS descriptor when set
        self.configuration = 0
        self.responsive = True
        self._stuck = False
        BulkEndpoints.__init__(self)

    def _add_string(self, text: str | None) -> int:
        if text is None:
            return 0
        index = len(self.strings) + 1
        self.strings[index] = text
        return index

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.vendor_id:04X}:{self.product_id:04X} {self.serial or ''}>"

    # --- faults and power ---------------------------------------------------------------------------

    def make_unresponsive(self, *, survives_power_cycle: bool = False) -> None:
        """The device stays enumerated but stops answering; a power cycle cures it unless told not to."""
        self.responsive = False
        self._stuck = survives_power_cycle

    def power_lost(self) -> None:
        """USB power went away (unplugged, port switched off): the device starts over when it returns."""
        self.configuration = 0
        self.responsive = not self._stuck
        self.endpoints_lost_power()

    # --- descriptors ---------------------------------------------------------------------------------

    def device_descriptor(self) -> bytes:
        ids = [*u16(self.vendor_id), *u16(self.product_id), *u16(self.bcd_device)]
        strings = [self.string_index[name] for name in ("manufacturer", "product", "serial")]
        head = [18, DEVICE_DESCRIPTOR, *u16(self.bcd_usb), self.device_class, 0, self.device_protocol, 64]
        return bytes([*head, *ids, *strings, 1])

    def interface_count(self) -> int:
        return len({interface.number for interface in self.interfaces})

    def configuration_descriptor(self) -> bytes:
        body = b"".join(
            interface.descriptor() + b"".join(endpoint.descriptor() for endpoint in interface.endpoints)
            for interface in self.interfaces
        )
        total = 9 + len(body)
        header = bytes([9, CONFIGURATION_DESCRIPTOR, *u16(total), self.interface_count(), 1, 0, 0x80, 50])
        return header + body

    # --- control requests ----------------------------------------------------------------------------

    def control(self, setup: Setup, data: bytes) -> bytes:
        """Answer one control request; the reply is cut to wLength by the caller."""
        if setup.kind != 0:
            return self.handle_control(setup, data)
        request, recipient = setup.request, setup.request_type & 0x1F
        if request == usbhub.GET_DESCRIPTOR and setup.request_type == 0x80:
            return self._standard_descriptor(setup.value >> 8, setup.value & 0xFF)
        if request == usbhub.GET_STATUS and setup.device_to_host:
            return bytes(2)
        if request == 8 and setup.request_type == 0x80:  # GET_CONFIGURATION
            return bytes([self.configuration])
        if request == 9 and setup.request_type == 0x00:  # SET_CONFIGURATION
            if setup.value not in (0, 1):
                raise Stall
            self.configuration = setup.value
            return b""
        if request == 11 and recipient == 1:  # SET_INTERFACE
            return b""
        return self.handle_control(setup, data)

    def handle_control(self, setup: Setup, data: bytes) -> bytes:
        """Requests beyond the standard ones (class, vendor): the extension point for device models."""
        raise Stall

    def _standard_descriptor(self, kind: int, index: int) -> bytes:
        if kind == DEVICE_DESCRIPTOR:
            return self.device_descriptor()
        if kind == CONFIGURATION_DESCRIPTOR and index == 0:
            return self.configuration_descriptor()
        if kind == usbhub.BOS_DESCRIPTOR and self.container_id is not None:
            capability = bytes([20, usbhub.DEVICE_CAPABILITY, usbhub.CONTAINER_ID_CAPABILITY, 0]) + self.container_id
            return bytes([5, usbhub.BOS_DESCRIPTOR, *u16(5 + len(capability)), 1]) + capability
        if kind == STRING_DESCRIPTOR:
            if index == 0:
                return bytes([4, STRING_DESCRIPTOR, *u16(LANGID_EN_US)]) if self.strings else b""
            if index in self.strings:
                encoded = self.strings[index].encode("utf-16-le")
                return bytes([2 + len(encoded), STRING_DESCRIPTOR]) + encoded
        raise Stall


# --- hubs ---------------------------------------------------------------------------------------------


class SimPort:
    """One downstream port of a hub: what is plugged in and whether the hub feeds it."""

    def __init__(self, hub: SimHub, number: int) -> None:
        self.hub = hub
        self.number = number
        self.device: SimUsbDevice | None = None
        self.powered = True  # the hub's port power switch, as GET_STATUS reports it
        self.requested_power = True  # what the host last asked for (differs on ganged hubs)
        self.generation = 0  # bumped by every change that makes the host enumerate the port anew
        self.changed_at = 0.0
        self.sysfs_disabled = False  # its sysfs `disable` file reads 1

    def _changed(self) -> None:
        self.generation += 1
        self.changed_at = self.hub.clock.monotonic()
        if self.hub.on_change is not None:
            self.hub.on_change(self)

    def attach(self, device: SimUsbDevice) -> None:
        if self.device is not None:
            raise ValueError(f"port {self.number} of {self.hub!r} already holds {self.device!r}")
        if device.port is not None:
            raise ValueError(f"{device!r} is already plugged in elsewhere")
        self.device, device.port = device, self
        self._changed()

    def detach(self) -> SimUsbDevice | None:
        device, self.device = self.device, None
        if device is not None:
            device.port = None
            device.power_lost()
            self._changed()
        return device

    def swap(self, device: SimUsbDevice) -> SimUsbDevice | None:
        """The device on this port leaves the bus and comes back as `device` (a mode switch)."""
        old, self.device = self.device, None
        if old is not None:
            old.port = None
        self.attach(device)
        return old

    @property
    def partner(self) -> SimPort | None:
        """The same port on the other half of a USB 3 hub."""
        other = self.hub.companion
        return None if other is None else other.ports.get(self.number)

    @property
    def vbus(self) -> bool:
        """Whether the port's VBUS is on: while either half of a USB 3 hub feeds it."""
        partner = self.partner
        return self.powered or (partner is not None and partner.powered)

    def switch_power(self, on: bool) -> None:
        if on == self.powered:
            return
        self.powered = on
        if not on and not self.vbus and not self.hub.cuts_data_only and not self.hub.ignores_power:
            for port in (self, self.partner):
                if port is not None and port.device is not None:
                    port.device.power_lost()
        self._changed()

    def lose_power(self) -> None:
        """The hub itself lost power: whatever hangs off this port starts over."""
        if self.device is not None:
            self.device.power_lost()
        self.powered = self.requested_power = True  # a hub powers its ports up when configured again
        self._changed()

    @property
    def connected(self) -> bool:
        return self.device is not None and (self.powered or self.hub.ignores_power)


# wHubCharacteristics for each power switching mode (per port also reports per-port over-current).
SWITCHING: Final[dict[str, int]] = {"per-port": 0x0009, "ganged": 0x0000, "none": 0x0002}


class SimHub(SimUsbDevice):
    """A hub (external, or a bus's root hub) with `ports` downstream ports."""

    def __init__(
        self,
        ports: int = 4,
        *,
        switching: str = "per-port",
        usb3: bool = False,
        cuts_data_only: bool = False,
        root: bool = False,
        vendor_id: int | None = None,
        product_id: int | None = None,
        clock: Clock | None = None,
    ) -> None:
        if switching not in SWITCHING:
            raise ValueError(f"unknown power switching {switching!r}")
        default_ids = (0x1D6B, 0x0003 if usb3 else 0x0002) if root else (0x1209, 0x0003 if usb3 else 0x0002)
        super().__init__(
            default_ids[0] if vendor_id is None else vendor_id,
            default_ids[1] if product_id is None else product_id,
            product="Simulated root hub" if root else "Simulated hub",
            bcd_usb=0x0300 if usb3 else 0x0200,
            device_class=usbhub.USB_CLASS_HUB,
            device_protocol=3 if usb3 else 1,
            interfaces=(Interface(0, usbhub.USB_CLASS_HUB, endpoints=(Endpoint(0x81, INTERRUPT, 2, 12),)),),
            speed=SPEED_SUPER if usb3 else SPEED_HIGH,
        )
        self.characteristics = SWITCHING[switching]
        self.usb3 = usb3
        self.cuts_data_only = cuts_data_only
        self.root = root
        self.clock = clock or Clock()
        self.ports = {number: SimPort(self, number) for number in range(1, ports + 1)}
        self.companion: SimHub | None = None
        self.repowered_by_kernel = False
        self.ignores_power = False  # reads a port back as switched but leaves it as it was
        self.on_change: Callable[[SimPort], None] | None = None  # the bus's: a port changed

    def pair_with(self, other: SimHub, container_id: bytes | None) -> None:
        """Make this hub and `other` the two halves of one USB 3 hub."""
        if self.usb3 == other.usb3 or len(self.ports) != len(other.ports):
            raise ValueError("a USB 3 hub's halves are one USB 2 and one SuperSpeed hub with as many ports")
        self.companion, other.companion = other, self
        self.container_id = other.container_id = container_id

    def power_lost(self) -> None:
        super().power_lost()
        for port in self.ports.values():
            port.lose_power()

    def hub_descriptor(self) -> bytes:
        count = len(self.ports)
        if self.usb3:
            # bPwrOn2PwrGood, bHubContrCurrent, bHubHdrDecLat, wHubDelay, DeviceRemovable
            body = [count, *u16(self.characteristics), 50, 0, 0, 0, 0, 0, 0]
            return bytes([2 + len(body), usbhub.SUPERSPEED_HUB_DESCRIPTOR, *body])
        bitmap = (count + 1 + 7) // 8
        # bPwrOn2PwrGood, bHubContrCurrent, DeviceRemovable, PortPwrCtrlMask
        body = [count, *u16(self.characteristics), 50, 100] + [0] * bitmap + [0xFF] * bitmap
        return bytes([2 + len(body), usbhub.HUB_DESCRIPTOR, *body])

    def handle_control(self, setup: Setup, data: bytes) -> bytes:
        if setup.kind != 1:
            raise Stall
        expected = usbhub.SUPERSPEED_HUB_DESCRIPTOR if self.usb3 else usbhub.HUB_DESCRIPTOR
        if setup.request_type == usbhub.HUB_CLASS_IN and setup.request == usbhub.GET_DESCRIPTOR:
            if setup.value >> 8 != expected:
                raise Stall
            return self.hub_descriptor()
        port = self.ports.get(setup.index & 0xFF)
        if port is None:
            raise Stall
        if setup.request_type == usbhub.PORT_CLASS_IN and setup.request == usbhub.GET_STATUS:
            power_bit = usbhub.PORT_POWER_BIT_USB3 if self.usb3 else usbhub.PORT_POWER_BIT_USB2
            status = (usbhub.PORT_CONNECTION if port.connected else 0) | (power_bit if port.powered else 0)
            return bytes([*u16(status), 0, 0])
        if setup.request_type == usbhub.PORT_CLASS_OUT and setup.value == usbhub.PORT_POWER:
            if setup.request not in (usbhub.SET_FEATURE, usbhub.CLEAR_FEATURE):
                raise Stall
            on = setup.request == usbhub.SET_FEATURE
            self._switch(port, on)
            if not on and self.repowered_by_kernel and not port.sysfs_disabled:
                self._switch(port, True)
            return b""
        raise Stall

    def switch_from_sysfs(self, port: SimPort, disabled: bool) -> None:
        """The kernel's hub driver was told through sysfs to disable (or enable) the port."""
        port.sysfs_disabled = disabled
        self._switch(port, not disabled)

    def _switch(self, port: SimPort, on: bool) -> None:
        port.requested_power = on
        mode = self.characteristics & usbhub.POWER_SWITCHING_MASK
        if mode == usbhub.POWER_SWITCHING_PER_PORT:
            port.switch_power(on)
        elif mode == 0:
            # Ganged: the gang is off only once every port has been switched off.
            gang_on = any(other.requested_power for other in self.ports.values())
            for other in self.ports.values():
                other.switch_power(gang_on)
        # No switching at all: the request is accepted and changes nothing.


def handheld(serial: str, *, vendor_id: int = 0x1209, product_id: int = 0x0001) -> SimUsbDevice:
    """A handheld as the cabinet first sees it: one vendor interface with a bulk pair."""
    return SimUsbDevice(
        vendor_id,
        product_id,
        serial=serial,
        manufacturer="Simulated",
        product="Simulated handheld",
        interfaces=(Interface(0, 0xFF, endpoints=(Endpoint(0x81), Endpoint(0x01))),),
    )

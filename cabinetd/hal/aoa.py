"""Android Open Accessory over pyusb: the link to the agent app of the handheld on one slot's port.

Opening the link finds the device at the slot's port path (bus + port numbers). A device already
in accessory mode (18D1:2D00, or 2D01 with ADB) is used as it is; any other is asked GET_PROTOCOL
(0xC0/51, two bytes, little-endian: 0 or a stall means no accessory support), given our identity with
SEND_STRING (0x40/52, indexes 0-5) and switched with START (0x40/53). It then leaves the bus and must
come back in accessory mode on the same port path, with the serial it had before. The agent
protocol's frames (agentframe.py, agentprotocol.py) then go over the accessory interface's bulk
endpoints, one request at a time.

Everything here blocks: `SlotAccessory` is used by the slot's own thread only (devicelink.py). Every
failure is a `LinkError` naming the slot and the device serial; after one that leaves the byte
stream in doubt, the link is dropped and opened again (without a new handshake) by the next request.
"""

from __future__ import annotations

import errno
import logging
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import usb.core
import usb.util

from cabinetd.hal import agentframe
from cabinetd.hal.agentframe import Frame, FrameDecoder, encode_frame
from cabinetd.hal.agentprotocol import (
    MAX_REQUEST_ID,
    Message,
    Reply,
    Request,
    RequestType,
    decode_reply,
    decode_result,
    encode_message,
)
from cabinetd.hal.errors import FrameError, LinkError, LinkFailure
from cabinetd.hal.usbhub import PortPath

log = logging.getLogger(__name__)

AOA_VENDOR: Final = 0x18D1
ACCESSORY_PRODUCTS: Final = frozenset({0x2D00, 0x2D01})  # 2D01 also carries ADB
VENDOR_IN: Final = 0xC0
VENDOR_OUT: Final = 0x40
GET_PROTOCOL: Final = 51
SEND_STRING: Final = 52
START: Final = 53
# The accessory side reads into 16 KiB buffers; asking for more in one transfer buys nothing.
MAX_READ: Final = 16384
# Stale bytes left by a reply that came too late are drained in steps this long.
DRAIN_MS: Final = 10

ResultT = TypeVar("ResultT", bound=Message)


class _HandleGone(Exception):
    """The device behind an open link left the bus before a request went out (replugged, power-cycled)."""


@dataclass(frozen=True)
class AccessoryIdentity:
    """The strings SEND_STRING gives the handheld; the agent app's accessory filter matches the first two."""

    manufacturer: str = "cabinetd"
    model: str = "device-cabinet"
    description: str = "Smart device cabinet"
    version: str = str(agentframe.VERSION)
    uri: str = ""
    serial: str = ""  # cabinet id and slot, so the agent knows where it sits

    def strings(self) -> tuple[str, str, str, str, str, str]:
        return (self.manufacturer, self.model, self.description, self.version, self.uri, self.serial)


def is_accessory(device: Any) -> bool:
    return int(device.idVendor) == AOA_VENDOR and int(device.idProduct) in ACCESSORY_PRODUCTS


def _ms(seconds: float) -> int:
    # pyusb takes whole milliseconds, and 0 means "wait forever".
    return max(1, int(seconds * 1000))


class SlotAccessory:
    """The accessory link to one slot's handheld, for one thread at a time."""

    def __init__(
        self,
        slot: int,
        path: PortPath,
        identity: AccessoryIdentity,
        *,
        backend: Any,
        request_timeout_s: float,
        handshake_timeout_s: float,
        poll_s: float = 0.05,
    ) -> None:
        self.slot = slot
        self.path = path
        self.identity = identity
        self.backend = backend
        self.request_timeout_s = request_timeout_s
        self.handshake_timeout_s = handshake_timeout_s
        self.poll_s = poll_s
        self.serial: str | None = None
        self.handshakes = 0
        self._device: Any = None
        self._in: Any = None
        self._out: Any = None
        self._decoder = FrameDecoder()
        self._frames: deque[Frame] = deque()
        self._stale = False
        self._next_id = 1

    @property
    def is_open(self) -> bool:
        return self._device is not None

    def error(self, failure: LinkFailure, detail: str) -> LinkError:
        return LinkError(self.slot, self.serial, failure, detail)

    # --- opening --------------------------------------------------------------------------------------

    def open(self) -> None:
        """Find the slot's device and bring it into accessory mode (if it is not already)."""
        device = self._find()
        if device is None:
            self.serial = None
            raise self.error(LinkFailure.NO_DEVICE, f"nothing on port {self.path}")
        self.serial = self._read_serial(device)
        if not is_accessory(device):
            device = self._switch(device)
        self._connect(device)

    def close(self) -> None:
        if self._device is not None:
            usb.util.dispose_resources(self._device)
        self._device = self._in = self._out = None
        self._decoder.reset()
        self._frames.clear()

    def _find(self) -> Any:
        try:
            found = usb.core.find(find_all=True, backend=self.backend, custom_match=self.path.matches)
            return next(iter(found), None)
        except usb.core.USBError as error:
            raise self.error(LinkFailure.NO_DEVICE, f"cannot list the devices on port {self.path}: {error}") from None

    def _read_serial(self, device: Any) -> str | None:
        device.default_timeout = _ms(self.request_timeout_s)
        try:
            serial = usb.util.get_string(device, device.iSerialNumber)
        except (usb.core.USBError, ValueError) as error:
            log.warning("slot %d: cannot read the serial of the device on port %s: %s", self.slot, self.path, error)
            return None
        return None if serial is None else str(serial)

    def _switch(self, device: Any) -> Any:
        what = f"{int(device.idVendor):04X}:{int(device.idProduct):04X} on port {self.path}"
        timeout = _ms(self.request_timeout_s)
        try:
            answer = bytes(device.ctrl_transfer(VENDOR_IN, GET_PROTOCOL, 0, 0, 2, timeout))
        except usb.core.USBTimeoutError:
            raise self.error(LinkFailure.UNRESPONSIVE, f"{what} did not answer GET_PROTOCOL") from None
        except usb.core.USBError as error:
            if error.errno == errno.ENODEV:
                raise self.error(LinkFailure.NO_DEVICE, f"{what} left during the handshake") from None
            raise self.error(LinkFailure.NO_ACCESSORY, f"{what} refused GET_PROTOCOL ({error})") from None
        protocol = int.from_bytes(answer, "little") if len(answer) == 2 else 0
        if protocol < 1:
            raise self.error(LinkFailure.NO_ACCESSORY, f"{what} answered GET_PROTOCOL with {answer.hex() or 'nothing'}")
        try:
            for index, text in enumerate(self.identity.strings()):
                device.ctrl_transfer(VENDOR_OUT, SEND_STRING, 0, index, text.encode() + b"\0", timeout)
            device.ctrl_transfer(VENDOR_OUT, START, 0, 0, None, timeout)
        except usb.core.USBError as error:
            failure = (
                LinkFailure.UNRESPONSIVE if isinstance(error, usb.core.USBTimeoutError) else LinkFailure.NO_ACCESSORY
            )
            raise self.error(failure, f"{what} failed the accessory handshake ({error})") from None
        self.handshakes += 1
        log.info("slot %d: device %s speaks accessory protocol %d; switched it", self.slot, self.serial, protocol)
        deadline = time.monotonic() + self.handshake_timeout_s
        while True:
            found = self._find()
            if found is not None and is_accessory(found):
                break
            if time.monotonic() >= deadline:
                raise self.error(
                    LinkFailure.HANDSHAKE_TIMEOUT,
                    f"no accessory on port {self.path} within {self.handshake_timeout_s:g} s of START",
                )
            time.sleep(self.poll_s)
        serial = self._read_serial(found)
        if self.serial is not None and serial is None:
            raise self.error(LinkFailure.UNRESPONSIVE, f"the accessory on port {self.path} did not give its serial")
        if self.serial is not None and serial != self.serial:
            raise self.error(
                LinkFailure.WRONG_SERIAL,
                f"the accessory that came back on port {self.path} has serial {serial!r}",
            )
        self.serial = serial
        return found

    def _connect(self, device: Any) -> None:
        try:
            try:
                configuration = device.get_active_configuration()
            except usb.core.USBError:
                device.set_configuration()
                configuration = device.get_active_configuration()
            interface = configuration[(0, 0)]
            endpoints = list(interface)
            usb.util.claim_interface(device, interface.bInterfaceNumber)
        except (usb.core.USBError, IndexError, KeyError) as error:
            raise self.error(LinkFailure.NO_ACCESSORY, f"accessory interface unusable ({error})") from None

        def bulk(direction: int) -> Any:
            return next(
                (
                    endpoint
                    for endpoint in endpoints
                    if usb.util.endpoint_direction(endpoint.bEndpointAddress) == direction
                    and usb.util.endpoint_type(endpoint.bmAttributes) == usb.util.ENDPOINT_TYPE_BULK
                ),
                None,
            )

        self._in, self._out = bulk(usb.util.ENDPOINT_IN), bulk(usb.util.ENDPOINT_OUT)
        if self._in is None or self._out is None:
            raise self.error(LinkFailure.NO_ACCESSORY, "the accessory interface lacks a bulk IN or OUT endpoint")
        self._device = device
        if self._stale:
            self._drain()
            self._stale = False

    def _drain(self) -> None:
        # Bytes of a reply that outlived its request would be taken for the start of the next reply.
        for _ in range(64):
            try:
                dropped = self._device.read(self._in, MAX_READ, DRAIN_MS)
            except usb.core.USBError:
                return
            log.info("slot %d: dropped %d stale bytes from device %s", self.slot, len(dropped), self.serial)

    # --- requests -------------------------------------------------------------------------------------

    def call(self, kind: RequestType, args: dict[str, Any], result: type[ResultT], total_s: float) -> ResultT:
        """One request and its result, opening the link first if needed; LinkError otherwise."""
        try:
            reply = self._send_and_wait(kind, args, total_s)
        except LinkError as error:
            if error.failure not in (LinkFailure.REFUSED, LinkFailure.BAD_REPLY):
                self._stale = True
                self.close()
            raise
        if reply.status == "error":
            assert reply.error is not None
            code = reply.error.code + (f" {reply.error.package}" if reply.error.package else "")
            raise self.error(LinkFailure.REFUSED, f"agent refused {kind}: {code}: {reply.error.message}")
        try:
            return decode_result(result, reply)
        except ValueError as error:
            raise self.error(LinkFailure.BAD_REPLY, f"reply to {kind}: {error}") from None

    def _send_and_wait(self, kind: RequestType, args: dict[str, Any], total_s: float) -> Reply:
        if self._device is None:
            self.open()
        try:
            return self._exchange(kind, args, total_s)
        except _HandleGone:
            # Nothing was sent: the same request on a fresh link is safe (and a new handshake is due).
            self.close()
            self.open()
        try:
            return self._exchange(kind, args, total_s)
        except _HandleGone:
            raise self.error(LinkFailure.NO_DEVICE, f"request {kind}: the device left port {self.path}") from None

    def _exchange(self, kind: RequestType, args: dict[str, Any], total_s: float) -> Reply:
        request_id = self._next_id
        self._next_id = self._next_id % MAX_REQUEST_ID + 1
        payload = encode_message(Request(id=request_id, type=kind, args=args))
        try:
            request = encode_frame(payload)
        except FrameError as error:
            raise self.error(LinkFailure.FRAME_TOO_LONG, f"request {kind}: {error.reason}") from None
        start = time.monotonic()
        total_deadline = start + total_s
        self._write(request, kind, min(total_deadline, start + self.request_timeout_s))
        working = False
        while True:
            frame = self._next_frame(kind, total_deadline, total_s if working else None)
            try:
                reply = decode_reply(frame.payload)
            except FrameError as error:
                raise self.error(LinkFailure.BAD_JSON, f"reply to {kind}, {error}") from None
            if reply.v != frame.version:
                raise self.error(
                    LinkFailure.BAD_REPLY, f"reply to {kind} says version {reply.v} in a version {frame.version} frame"
                )
            if reply.id != request_id:
                log.info(
                    "slot %d: dropped a late reply %d (%s) from device %s", self.slot, reply.id, reply.type, self.serial
                )
                continue
            if reply.type != kind:
                raise self.error(LinkFailure.BAD_REPLY, f"reply to {kind} is typed {reply.type!r}")
            if reply.status != "working":
                return reply
            working = True
            # A long request (self-test, provisioning) proves it is alive; the silence timer restarts.

    def _write(self, frame: bytes, kind: str, deadline: float) -> None:
        timeout = _ms(deadline - time.monotonic())
        # Without a short packet to end it, the accessory's read would wait for more of the transfer.
        packets = (frame, b"") if len(frame) % int(self._out.wMaxPacketSize) == 0 else (frame,)
        for data in packets:
            try:
                written = self._device.write(self._out, data, timeout)
            except usb.core.USBTimeoutError:
                detail = f"request {kind} not taken within {self.request_timeout_s:g} s"
                raise self.error(LinkFailure.UNRESPONSIVE, detail) from None
            except usb.core.USBError as error:
                if error.errno == errno.ENODEV and data is frame:
                    raise _HandleGone from None
                raise self._usb_error(error, f"request {kind}") from None
            if written != len(data):
                raise self.error(LinkFailure.UNRESPONSIVE, f"request {kind}: took {written} of {len(data)} bytes")

    def _next_frame(self, kind: str, total_deadline: float, working_s: float | None) -> Frame:
        """The next frame from the device; the silence timer restarts with every byte.

        `working_s` is the request's limit once the agent has said it is working on it.
        """
        if self._frames:
            return self._frames.popleft()
        silence_deadline = time.monotonic() + self.request_timeout_s
        packet = int(self._in.wMaxPacketSize)
        while True:
            now = time.monotonic()
            deadline = min(silence_deadline, total_deadline)
            if now >= deadline:
                raise self._silence(kind, working_s)
            expected = self._decoder.expected
            if expected is None:
                size = packet  # one packet, at most: the header says how much follows
            else:
                remaining = expected - self._decoder.pending
                size = min(MAX_READ, -(-remaining // packet) * packet)  # whole packets end a transfer exactly
            try:
                chunk = bytes(self._device.read(self._in, size, _ms(deadline - now)))
            except usb.core.USBTimeoutError:
                continue
            except usb.core.USBError as error:
                raise self._usb_error(error, f"reply to {kind}") from None
            if chunk:
                silence_deadline = time.monotonic() + self.request_timeout_s
            try:
                frames = self._decoder.feed(chunk)
            except FrameError as error:
                raise self._frame_error(error, kind) from None
            if frames:
                self._frames.extend(frames[1:])
                return frames[0]

    def _silence(self, kind: str, working_s: float | None) -> LinkError:
        pending, expected = self._decoder.pending, self._decoder.expected
        if pending:
            of = f"{expected} bytes" if expected is not None else "a frame"
            return self.error(LinkFailure.UNRESPONSIVE, f"reply to {kind} cut off after {pending} of {of}")
        if working_s is not None:
            return self.error(LinkFailure.UNRESPONSIVE, f"{kind} still not done after {working_s:g} s")
        return self.error(LinkFailure.UNRESPONSIVE, f"no reply to {kind} within {self.request_timeout_s:g} s")

    def _frame_error(self, error: FrameError, kind: str) -> LinkError:
        failure = {
            agentframe.VERSION_AT: LinkFailure.UNKNOWN_VERSION,
            agentframe.LENGTH_AT: LinkFailure.FRAME_TOO_LONG,
        }.get(error.offset, LinkFailure.BAD_FRAME)
        return self.error(failure, f"reply to {kind}, {error}")

    def _usb_error(self, error: usb.core.USBError, what: str) -> LinkError:
        if error.errno == errno.ENODEV:
            return self.error(LinkFailure.NO_DEVICE, f"{what}: the device left port {self.path}")
        return self.error(LinkFailure.UNRESPONSIVE, f"{what}: {error}")

"""A simulated handheld on the emulated USB bus: the Android Open Accessory switch and the agent's link.

In its normal mode the handheld answers the accessory requests on its control endpoint
(GET_PROTOCOL, SEND_STRING, START); START makes it leave the bus and come back on the same port as
an accessory (18D1:2D00, or 2D01 with ADB) with the same serial, whose bulk endpoints carry the agent
protocol's frames to and from `HandheldAgent`. Losing USB power (port switched off, unplugged) ends
accessory mode: the handheld comes back in its normal mode, as a phone does.

Faults of the wire side (`LinkFault`) are set here; the agent's own state is on `handheld.agent`:

    handheld = SimHandheld("SIM0001")
    backend.plug("1-1.1", handheld.usb)
    handheld.agent.set_battery(35, charging=True)
    handheld.fault = LinkFault.SILENT
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections.abc import Iterable
from typing import Final

from cabinetd.hal.agentframe import MAGIC, MAX_PAYLOAD, VERSION, FrameDecoder, encode_frame
from cabinetd.hal.agentprotocol import AgentError, Reply, decode_request, encode_message
from cabinetd.hal.errors import FrameError
from cabinetd.sim.agent import HandheldAgent
from cabinetd.sim.usbdescriptors import Endpoint, Interface, Setup, Stall
from cabinetd.sim.usbdevices import SimUsbDevice

log = logging.getLogger(__name__)

AOA_VENDOR: Final = 0x18D1
ACCESSORY: Final = 0x2D00
ACCESSORY_ADB: Final = 0x2D01
GET_PROTOCOL: Final = 51
SEND_STRING: Final = 52
START: Final = 53
ACCESSORY_IN: Final = 0x81
ACCESSORY_OUT: Final = 0x01
# A vendor id from the range set aside for open and test devices; it stands for any handheld maker
# (the same identity as `usbdevices.handheld`, so the simulated cabinet can plug either).
SIM_VENDOR: Final = 0x1209
SIM_PRODUCT: Final = 0x0001


class LinkFault(enum.Enum):
    SILENT = "never answers"
    GARBAGE = "answers garbage"
    DIES_MID_FRAME = "dies mid-frame"  # half a reply, then silence until the next power cycle
    SLOW = "answers slowly"  # every reply `reply_delay_s` late
    BAD_JSON = "answers bad JSON"
    OVERSIZED = "announces an oversized frame"
    WRONG_VERSION = "answers in an unknown version"


GARBAGE: Final = bytes.fromhex("00ff13375a5a") + b"not a frame"
OVERSIZED_LENGTH: Final = 16 * MAX_PAYLOAD
UNKNOWN_VERSION: Final = 9


class SimHandheld:
    """One handheld: its agent, its two USB faces, and the faults of its link."""

    def __init__(
        self,
        serial: str,
        *,
        agent: HandheldAgent | None = None,
        aoa_protocol: int = 2,
        adb: bool = False,
        reenumerates: bool = True,
        accessory_serial: str | None = None,
        in_accessory_mode: bool = False,
    ) -> None:
        self.serial = serial
        self.agent = agent or HandheldAgent(serial)
        self.aoa_protocol = aoa_protocol  # what GET_PROTOCOL answers; 0 stalls it (no accessory support)
        self.reenumerates = reenumerates  # False: START is taken but the device never switches
        self.fault: LinkFault | None = None
        self.fault_on: frozenset[str] | None = None  # request types the fault hits; None: all
        self.reply_delay_s = 0.5  # LinkFault.SLOW
        self.step_s = 0.0  # time each `working` step of a long request takes
        self.accessory_strings: dict[int, str] = {}  # what the host sent with SEND_STRING
        self.starts = 0
        self.normal = _NormalMode(self)
        self.accessory = _AccessoryMode(self, accessory_serial or serial, adb)
        self.usb: SimUsbDevice = self.accessory if in_accessory_mode else self.normal

    def __repr__(self) -> str:
        return f"<SimHandheld {self.serial} {'accessory' if self.usb is self.accessory else 'normal'}>"

    def faulty_for(self, request_type: str) -> LinkFault | None:
        if self.fault is None or (self.fault_on is not None and request_type not in self.fault_on):
            return None
        return self.fault


class _NormalMode(SimUsbDevice):
    """The handheld as it enumerates when plugged in: file transfer, say, plus the accessory requests."""

    def __init__(self, handheld: SimHandheld) -> None:
        super().__init__(
            SIM_VENDOR,
            SIM_PRODUCT,
            serial=handheld.serial,
            manufacturer="Simulated",
            product="Simulated handheld",
            interfaces=(Interface(0, 0x06, 0x01, 0x01, endpoints=(Endpoint(0x81), Endpoint(0x02))),),
        )
        self.handheld = handheld

    def handle_control(self, setup: Setup, data: bytes) -> bytes:
        handheld = self.handheld
        if setup.kind != 2 or handheld.aoa_protocol == 0:
            raise Stall
        if setup.request_type == 0xC0 and setup.request == GET_PROTOCOL:
            return handheld.aoa_protocol.to_bytes(2, "little")
        if setup.request_type == 0x40 and setup.request == SEND_STRING and 0 <= setup.index <= 5:
            handheld.accessory_strings[setup.index] = data.split(b"\0", 1)[0].decode("utf-8", "replace")
            return b""
        if setup.request_type == 0x40 and setup.request == START:
            handheld.starts += 1
            if handheld.reenumerates and self.port is not None:
                self.port.swap(handheld.accessory)  # the backend holds its lock while we run
                handheld.usb = handheld.accessory
            return b""
        raise Stall


class _AccessoryMode(SimUsbDevice):
    """The handheld in accessory mode: frames in on the OUT endpoint, replies out on the IN endpoint."""

    def __init__(self, handheld: SimHandheld, serial: str, adb: bool) -> None:
        interfaces = [Interface(0, 0xFF, 0xFF, 0, endpoints=(Endpoint(ACCESSORY_IN), Endpoint(ACCESSORY_OUT)))]
        if adb:
            interfaces.append(Interface(1, 0xFF, 0x42, 0x01, endpoints=(Endpoint(0x82), Endpoint(0x02))))
        super().__init__(
            AOA_VENDOR,
            ACCESSORY_ADB if adb else ACCESSORY,
            serial=serial,
            manufacturer="Simulated",
            product=handheld.agent.model,
            interfaces=tuple(interfaces),
        )
        self.handheld = handheld
        self._decoder = FrameDecoder()
        self._session = 0  # bumped by every power loss: replies of an earlier session are dropped
        self._dead = False

    def power_lost(self) -> None:
        super().power_lost()
        self._decoder.reset()
        self._session += 1
        self._dead = False
        handheld = self.handheld
        handheld.usb = handheld.normal
        if self.port is not None:  # power cut, still plugged in: it comes back in its normal mode
            self.port.swap(handheld.normal)

    def bulk_out(self, endpoint: int, data: bytes) -> int:
        if endpoint != ACCESSORY_OUT:
            return super().bulk_out(endpoint, data)
        try:
            frames = self._decoder.feed(data)
        except FrameError as error:
            # An agent cannot find the next frame boundary in a broken stream: drop it, wait for the next.
            log.warning("handheld %s: bad frame from the cabinet: %s", self.handheld.serial, error)
            self._decoder.reset()
            return len(data)
        for frame in frames:
            self._answer(frame.payload)
        return len(data)

    def _answer(self, payload: bytes) -> None:
        handheld = self.handheld
        try:
            request = decode_request(payload)
        except FrameError as error:
            error_text = AgentError(code="bad_request", message=str(error))
            reply = Reply(v=VERSION, id=0, type="", status="error", error=error_text)
            self._send([(0.0, encode_frame(encode_message(reply)))])
            return
        if self._dead:
            return
        replies = [encode_frame(encode_message(reply)) for reply in handheld.agent.handle(request)]
        fault = handheld.faulty_for(request.type)
        delay = handheld.reply_delay_s if fault is LinkFault.SLOW else 0.0
        steps = [(delay + handheld.step_s * n, frame) for n, frame in enumerate(replies)]
        if fault is LinkFault.SILENT:
            return
        if fault is LinkFault.GARBAGE:
            steps = [(0.0, GARBAGE)]
        elif fault is LinkFault.DIES_MID_FRAME:
            self._dead = True
            steps = [(0.0, replies[-1][: len(replies[-1]) // 2])]
        elif fault is LinkFault.BAD_JSON:
            steps = [(0.0, encode_frame(b'{"v":1,"id":' + str(request.id).encode() + b',"status":'))]
        elif fault is LinkFault.OVERSIZED:
            steps = [(0.0, MAGIC + bytes([VERSION, 0]) + OVERSIZED_LENGTH.to_bytes(4, "big") + b"{" * 64)]
        elif fault is LinkFault.WRONG_VERSION:
            steps = [(0.0, encode_frame(b"{}", version=UNKNOWN_VERSION))]
        self._send(steps)

    def _send(self, steps: list[tuple[float, bytes]]) -> None:
        """Queue frames for the host, each at its offset in seconds from now."""
        if all(at == 0.0 for at, _ in steps):
            for _, frame in steps:
                self.send_to_host(ACCESSORY_IN, frame)
            return
        session = self._session
        thread = threading.Thread(target=self._send_later, args=(session, steps), daemon=True)
        thread.start()

    def _send_later(self, session: int, steps: Iterable[tuple[float, bytes]]) -> None:
        start = time.monotonic()
        for at, frame in steps:
            time.sleep(max(0.0, start + at - time.monotonic()))
            if session != self._session:
                return  # the handheld lost power meanwhile: that reply died with the session
            self.send_to_host(ACCESSORY_IN, frame)

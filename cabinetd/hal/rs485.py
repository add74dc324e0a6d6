"""One RS-485 bus: the serial port that several lock boards share, one request in flight at a time.

The bus knows nothing of any board's protocol. A caller hands it a request frame and a `reply_end`
function from its codec (the length of the complete frame at the start of a buffer, 0 while more bytes
are needed, FrameError when the bytes cannot start a frame) and gets back what happened to that one
attempt; retries and a board's health belong to the board (lockboard.py).

Blocking serial I/O runs in one worker thread per bus; results come back to the event loop as futures,
and the bus's own facts (port lost, port back) are posted with `call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import enum
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import serial

from cabinetd.clock import Clock
from cabinetd.hal.base import EventSink, HardwareEvent, PartState, post_from_thread
from cabinetd.hal.errors import FrameError
from cabinetd.hal.health import PartHealth
from cabinetd.lifecycle import Subsystem

log = logging.getLogger(__name__)

ReplyEnd = Callable[[bytes], int]
OpenPort = Callable[..., serial.Serial]

# A board that babbles after a garbled reply must not hold the bus forever.
MAX_DRAIN_BYTES: Final = 1024
# A write that cannot finish means a wedged adapter, not a slow board.
WRITE_TIMEOUT_S: Final = 1.0


class Outcome(enum.Enum):
    REPLY = "reply"  # a complete frame (its content is still the board's to check)
    SILENT = "silent"  # nothing came back within the reply window
    SHORT = "short"  # some bytes, then silence before the frame was complete
    GARBLED = "garbled"  # bytes that cannot be a frame of the protocol
    NO_PORT = "no_port"  # the port is gone (unplugged adapter) and could not be reopened


@dataclass(frozen=True)
class Exchange:
    """What one request on the bus got back."""

    outcome: Outcome
    frame: bytes = b""
    detail: str = ""


_Job = tuple[bytes, ReplyEnd, "concurrent.futures.Future[Exchange]"]


class Rs485Bus(Subsystem):
    """The port of one bus; `transact()` is the only way onto the wire."""

    stall_after_s = None  # the boards' poll loops tick; a wedged worker stops them ticking

    def __init__(
        self,
        name: str,
        url: str,
        baudrate: int,
        *,
        reply_ms: float,
        sink: EventSink,
        open_port: OpenPort = serial.serial_for_url,
        origin: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__()
        self.bus = name
        self.name = f"bus {name}"
        self.part = f"bus/{name}"
        self.url = url
        self.baudrate = baudrate
        self._reply_s = reply_ms / 1000
        self._sink = sink
        self._open_port = open_port
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Touched only by the worker thread, apart from the reads in state().
        self._port: serial.Serial | None = None
        # The port's state in the log names the config key and the protocol: "buses.lockbus.port (kerong)".
        self.origin = origin or self.name
        self._health = PartHealth(self.origin, self.part, self._post, detail="not opened yet", clock=clock)
        self._late = 0
        self._opened = 0
        self._lost = 0

    # --- life cycle ------------------------------------------------------------------------------

    async def prepare(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._worker = threading.Thread(target=self._work, name=f"rs485-{self.bus}", daemon=True)
        self._worker.start()

    async def cleanup(self) -> None:
        if self._worker is not None:
            self._jobs.put(None)
            await asyncio.to_thread(self._worker.join, 5.0)
            self._worker = None
        self._close_port()

    async def transact(self, request: bytes, reply_end: ReplyEnd) -> Exchange:
        """Send one request and wait for its reply; never raises for what the bus or board did."""
        if self._worker is None:
            raise RuntimeError(f"{self.name} is not prepared")
        future: concurrent.futures.Future[Exchange] = concurrent.futures.Future()
        self._jobs.put((request, reply_end, future))
        return await asyncio.wrap_future(future)

    def state(self) -> PartState:
        return self._health.state((("late", self._late), ("opened", self._opened), ("lost", self._lost)))

    # --- the worker thread -----------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            request, reply_end, future = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(self._exchange(request, reply_end))
            except BaseException as error:  # a bug here must reach the awaiting task, not kill the bus
                future.set_exception(error)

    def _exchange(self, request: bytes, reply_end: ReplyEnd) -> Exchange:
        port = self._port if self._port is not None else self._reopen()
        if port is None:
            return Exchange(Outcome.NO_PORT, detail=self._health.detail)
        try:
            self._discard_late(port)
            port.write(request)
            port.flush()
            return self._read_reply(port, reply_end)
        except (serial.SerialException, OSError) as error:
            self._lose_port(f"{self.url}: {error}")
            return Exchange(Outcome.NO_PORT, detail=self._health.detail)

    def _read_reply(self, port: serial.Serial, reply_end: ReplyEnd) -> Exchange:
        buffer = b""
        while True:
            # The port's timeout is the reply window: each read returns on the first bytes or after
            # that much silence, so the window restarts with every byte that arrives.
            chunk = port.read(max(1, port.in_waiting))
            if not chunk:
                break
            buffer += chunk
            try:
                end = reply_end(buffer)
            except FrameError as error:
                self._drain(port)
                return Exchange(Outcome.GARBLED, buffer, f"garbled reply: {error}")
            if end:
                if len(buffer) > end:
                    self._count_late(buffer[end:])
                return Exchange(Outcome.REPLY, buffer[:end])
        if not buffer:
            return Exchange(Outcome.SILENT, detail=f"no reply within {self._reply_s * 1000:g} ms")
        return Exchange(Outcome.SHORT, buffer, f"{len(buffer)} byte(s) then {self._reply_s * 1000:g} ms of silence")

    def _discard_late(self, port: serial.Serial) -> None:
        # The protocols carry no sequence number: a reply that comes after its window could be taken
        # for the answer to the next request, so whatever waits on the line before a request is late.
        waiting = port.in_waiting
        if waiting:
            self._count_late(port.read(waiting))

    def _count_late(self, late: bytes) -> None:
        self._late += 1
        log.info("%s: discarded %d late byte(s): %s", self.name, len(late), late.hex(" "))

    def _drain(self, port: serial.Serial) -> None:
        drained = 0
        while drained < MAX_DRAIN_BYTES:
            chunk = port.read(max(1, port.in_waiting))
            if not chunk:
                return
            drained += len(chunk)

    def _reopen(self) -> serial.Serial | None:
        try:
            port = self._open_port(
                self.url,
                baudrate=self.baudrate,
                bytesize=serial.EIGHTBITS,
                parity=serial.PARITY_NONE,
                stopbits=serial.STOPBITS_ONE,
                timeout=self._reply_s,
                write_timeout=WRITE_TIMEOUT_S,
            )
        except (serial.SerialException, OSError, ValueError) as error:
            self._health.set(False, f"cannot open {self.url}: {error}")
            return None
        self._port = port
        self._opened += 1
        self._health.set(True, f"{self.url} open at {self.baudrate} 8N1")
        return port

    def _lose_port(self, detail: str) -> None:
        self._lost += 1
        self._close_port()
        self._health.set(False, detail)

    def _close_port(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except (serial.SerialException, OSError) as error:
                log.debug("%s: closing %s: %s", self.name, self.url, error)

    def _post(self, event: HardwareEvent) -> None:
        post_from_thread(self._loop, self._sink, event)

"""One RS-485 bus: the serial port that several lock boards share, one request in flight at a time.

The bus knows nothing of any board's protocol. A caller hands it a request frame and a `reply_end`
function from its codec (the length of the complete frame at the start of a buffer, 0 while more bytes
are needed, FrameError when the bytes cannot start a frame) and gets back what happened to that one
attempt; retries and a board's health belong to the board (lockboard.py).

Timing, as field boards and USB adapters need it (docs/hardware.md, "RS-485 timing"):

- a board has `first_byte_ms` to start answering (a USB adapter may hold bytes 16 ms, a board may
  think for longer; an unlock can be given its own, longer window);
- once it has started, its reply ends on a complete frame or after `silence_ms` without a byte;
- before each request the line is left quiet for `turnaround_ms` after the last byte, so that a
  board that has just answered has switched its transceiver back to receive;
- on opening, the serial driver is asked for low-latency mode (ASYNC_LOW_LATENCY) when `low_latency`
  is on; a port that refuses (a pty, some adapters) is used as it is and says so in its detail.

Blocking serial I/O runs in one worker thread per bus; results come back to the event loop as futures,
and the bus's own facts (port lost, port back) are posted with `call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import enum
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
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
    more: tuple[bytes, ...] = ()  # further complete frames, when the request asked every board
    sent_at: float = field(default=0.0, compare=False)  # time.monotonic() when the request had left the port


@dataclass(frozen=True)
class _Job:
    request: bytes
    reply_end: ReplyEnd
    first_byte_s: float
    every_board: bool
    future: concurrent.futures.Future[Exchange]


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
        first_byte_ms: float = 100.0,
        turnaround_ms: float = 5.0,
        low_latency: bool = True,
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
        self._reply_s = reply_ms / 1000  # the silence that ends a reply
        self.first_byte_s = first_byte_ms / 1000
        self._turnaround_s = turnaround_ms / 1000
        self._low_latency = low_latency
        self._quiet_since = 0.0  # monotonic time of the last byte on the line, either way
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
        self._frames = 0

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

    async def transact(
        self, request: bytes, reply_end: ReplyEnd, *, first_byte_s: float | None = None, every_board: bool = False
    ) -> Exchange:
        """Send one request and wait for its reply; never raises for what the bus or board did.

        `first_byte_s` replaces the bus's first-byte window for this request; `every_board` keeps
        reading complete frames until the line is quiet (a request that every board answers)."""
        if self._worker is None:
            raise RuntimeError(f"{self.name} is not prepared")
        future: concurrent.futures.Future[Exchange] = concurrent.futures.Future()
        window = self.first_byte_s if first_byte_s is None else first_byte_s
        self._jobs.put(_Job(request, reply_end, window, every_board, future))
        return await asyncio.wrap_future(future)

    def state(self) -> PartState:
        counters = (("frames", self._frames), ("late", self._late), ("opened", self._opened), ("lost", self._lost))
        return self._health.state(counters)

    # --- the worker thread -----------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            if not job.future.set_running_or_notify_cancel():
                continue
            try:
                job.future.set_result(self._exchange(job))
            except BaseException as error:  # a bug here must reach the awaiting task, not kill the bus
                job.future.set_exception(error)

    def _exchange(self, job: _Job) -> Exchange:
        port = self._port if self._port is not None else self._reopen()
        if port is None:
            return Exchange(Outcome.NO_PORT, detail=self._health.detail)
        try:
            self._turnaround()
            self._discard_late(port)
            port.write(job.request)
            port.flush()
            sent_at = time.monotonic()
            self._frames += 1
            exchange = self._read_reply(port, job.reply_end, job.first_byte_s, keep_rest=job.every_board)
            if job.every_board and exchange.outcome is Outcome.REPLY:
                exchange = self._read_more(port, job.reply_end, exchange)
            return dataclasses.replace(exchange, sent_at=sent_at)
        except (serial.SerialException, OSError) as error:
            self._lose_port(f"{self.url}: {error}")
            return Exchange(Outcome.NO_PORT, detail=self._health.detail)
        finally:
            self._quiet_since = time.monotonic()

    def _turnaround(self) -> None:
        wait = self._quiet_since + self._turnaround_s - time.monotonic()
        if wait > 0:
            time.sleep(wait)

    def _read_reply(
        self, port: serial.Serial, reply_end: ReplyEnd, first_byte_s: float, *, keep_rest: bool = False
    ) -> Exchange:
        buffer = b""
        # The first read waits the first-byte window; after that the port's timeout is the silence
        # that ends a reply, and it restarts with every byte that arrives.
        port.timeout = first_byte_s
        try:
            while True:
                chunk = port.read(max(1, port.in_waiting))
                if not chunk:
                    break
                if not buffer:
                    port.timeout = self._reply_s
                buffer += chunk
                try:
                    end = reply_end(buffer)
                except FrameError as error:
                    self._drain(port)
                    return Exchange(Outcome.GARBLED, buffer, f"garbled reply: {error}")
                if end:
                    if len(buffer) > end and not keep_rest:
                        self._count_late(buffer[end:])
                    return Exchange(Outcome.REPLY, buffer[:end], more=(buffer[end:],) if keep_rest else ())
        finally:
            port.timeout = self._reply_s
        if not buffer:
            return Exchange(Outcome.SILENT, detail=f"no reply within {first_byte_s * 1000:g} ms")
        return Exchange(Outcome.SHORT, buffer, f"{len(buffer)} byte(s) then {self._reply_s * 1000:g} ms of silence")

    def _read_more(self, port: serial.Serial, reply_end: ReplyEnd, first: Exchange) -> Exchange:
        # Every board answers in turn: what follows the first frame, until the line stays quiet for
        # the silence, is cut into frames of its own. Bytes that make no frame are late bytes.
        buffer = b"".join(first.more) + port.read(max(1, port.in_waiting))
        while buffer and len(buffer) < MAX_DRAIN_BYTES:
            chunk = port.read(max(1, port.in_waiting))
            if not chunk:
                break
            buffer += chunk
        more: list[bytes] = []
        while buffer:
            try:
                end = reply_end(buffer)
            except FrameError:
                end = 0
            if not end:
                self._count_late(buffer)
                break
            more.append(buffer[:end])
            buffer = buffer[end:]
        return Exchange(Outcome.REPLY, first.frame, more=tuple(more))

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
        self._health.set(True, f"{self.url} open at {self.baudrate} 8N1{self._ask_low_latency(port)}")
        return port

    def _ask_low_latency(self, port: serial.Serial) -> str:
        if not self._low_latency:
            return ""
        try:
            port.set_low_latency_mode(True)
        except (ValueError, NotImplementedError, AttributeError, OSError) as error:
            # A pty or an adapter whose driver has no such mode: the bytes still come, a little later.
            log.info("%s: no low-latency mode on %s: %s", self.name, self.url, error)
            return ", low latency not supported"
        return ", low latency"

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

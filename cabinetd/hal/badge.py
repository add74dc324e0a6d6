"""Serial badge readers (`serial-line`, `rdm6300`): the driver that owns the port.

A reader thread opens the port with `serial.serial_for_url`, cuts what arrives into badges with the
codecs in `badgecodec`, and posts one `BadgeRead` per badge presented. A reader that is unplugged (its
port vanishes, or reading raises) is reopened every `timeouts.reader_reopen_s`, forever: the daemon
keeps running and technicians see the reader as disconnected since the moment it went. The first
failure is one warning naming the config key and the reader kind (`badge_reader.port (rdm6300): cannot
open: ...`); a missing device node at start is such a failure, not a reason to stop the cabinet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Final, Protocol, cast

import serial

from cabinetd.clock import Clock
from cabinetd.config import BadgeReaderSection
from cabinetd.hal.badgecodec import BadgeSplitter, LineSplitter, Rdm6300Splitter
from cabinetd.hal.base import (
    BadgeRead,
    BadgeReader,
    EventSink,
    HardwareEvent,
    PartState,
    PartStateChanged,
    post_from_thread,
)
from cabinetd.hal.errors import FrameError
from cabinetd.hal.wiring import ReaderWiring
from cabinetproto.badges import Badge, BadgeError, IdForm

log = logging.getLogger(__name__)

# How long one read waits for bytes. Stopping does not wait for it (cleanup cancels the read), so it
# only sets how often an idle reader wakes to tick its heartbeat.
READ_WAIT_S: Final = 1.0
NOT_OPENED: Final = "not opened yet"


class _Port(Protocol):
    """What the reader thread uses of a pyserial port (the stubs type serial_for_url loosely)."""

    @property
    def in_waiting(self) -> int: ...

    def read(self, size: int = 1) -> bytes: ...

    def cancel_read(self) -> None: ...

    def close(self) -> None: ...


class RepeatFilter:
    """Merges reads of the same badge that come less than `window_s` apart.

    The window restarts with every read of that badge: an rdm6300 repeats its frame for as long as a
    badge is held on it, and a badge held for ten seconds is one presentation. A different badge in
    between ends the merge.
    """

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._last: tuple[str, float] | None = None

    def accept(self, badge: str, now: float) -> bool:
        last, self._last = self._last, (badge, now)
        return last is None or last[0] != badge or now - last[1] >= self.window_s


class SerialBadgeReader(BadgeReader):
    """One badge reader on one serial port; the frame kind is in the splitter it is given."""

    name = "badge-reader"

    def __init__(
        self,
        *,
        url: str,
        baudrate: int,
        new_splitter: Callable[[], BadgeSplitter],
        id_form: IdForm,
        sink: EventSink,
        repeat_s: float,
        reopen_s: float,
        label: str | None = None,
        origin: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__()
        self.url = url
        self.label = label or url
        self.part = f"badge reader {self.label}"
        # Its connection in the log names the config key and the reader kind: "badge_reader.port (rdm6300)".
        self.origin = origin or self.part
        self.stall_after_s = max(10.0, 3 * reopen_s)
        self._baudrate = baudrate
        self._new_splitter = new_splitter
        self._id_form: IdForm = id_form
        self._sink = sink
        self._repeats = RepeatFilter(repeat_s)
        self._reopen_s = reopen_s
        self._clock = clock or Clock()  # monotonic for the repeat window, wall time for `since`
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._thread_error: BaseException | None = None
        self._stop = threading.Event()
        self._port: _Port | None = None
        # Written by the reader thread only; state() reads whole values, so no lock is needed.
        self._state = PartState(self.part, connected=False, since=self._clock.now(), detail=NOT_OPENED)
        self._good = 0
        self._bad = 0
        self._repeated = 0

    # --- life cycle (event loop) -------------------------------------------------------------------

    async def prepare(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop.clear()
        self._thread = threading.Thread(target=self._thread_main, name=f"badge {self.label}", daemon=True)
        self._thread.start()

    async def run(self) -> None:
        # The thread does the work; a thread that died of a bug must take the daemon down with it.
        while True:
            thread = self._thread
            if thread is None or not thread.is_alive():
                raise RuntimeError(f"{self.part}: reader thread ended") from self._thread_error
            await asyncio.sleep(0.5)

    async def cleanup(self) -> None:
        self._stop.set()
        port = self._port
        if port is not None:
            with contextlib.suppress(Exception):
                port.cancel_read()
        thread, self._thread = self._thread, None
        if thread is not None:
            await asyncio.to_thread(thread.join, 5.0)

    def state(self) -> PartState:
        current = self._state  # one read: the thread replaces the whole value
        counters = (("good", self._good), ("bad", self._bad), ("repeats", self._repeated))
        return PartState(current.part, current.connected, current.since, current.detail, counters)

    # --- reader thread ------------------------------------------------------------------------------

    def _post(self, event: HardwareEvent) -> None:
        post_from_thread(self._loop, self._sink, event)

    def _connected(self) -> None:
        log.info("%s: connected", self.origin)
        self._state = PartState(self.part, True, self._clock.now())
        self._post(PartStateChanged(self.part, True, ""))

    def _disconnected(self, detail: str) -> None:
        was = self._state
        news = was.connected or was.detail == NOT_OPENED
        since = self._clock.now() if was.connected else was.since
        self._state = PartState(self.part, False, since, detail)
        # One warning and one event when the reader goes; the retries every reopen_s are only worth
        # a debug line each.
        if news:
            log.warning("%s: %s; retrying every %.1f s", self.origin, detail, self._reopen_s)
            self._post(PartStateChanged(self.part, False, detail))
        else:
            log.debug("%s: %s", self.origin, detail)

    def _thread_main(self) -> None:
        try:
            while not self._stop.is_set():
                self.tick()
                try:
                    opened = serial.serial_for_url(self.url, baudrate=self._baudrate, timeout=READ_WAIT_S)
                    port = cast(_Port, opened)
                except (serial.SerialException, OSError, ValueError) as error:
                    self._disconnected(f"cannot open: {error}")
                    self._stop.wait(self._reopen_s)
                    continue
                self._port = port
                try:
                    self._connected()
                    detail = self._read_until_gone(port)
                finally:
                    self._port = None
                    with contextlib.suppress(Exception):
                        port.close()
                if detail is not None:
                    self._disconnected(detail)
                    self._stop.wait(self._reopen_s)
        except BaseException as error:
            self._thread_error = error
            log.exception("%s: reader thread failed", self.part)
            raise

    def _read_until_gone(self, port: _Port) -> str | None:
        """Read until stopped (None) or until the port fails (what went wrong)."""
        splitter = self._new_splitter()  # a partial frame from before a gap is not worth keeping
        while not self._stop.is_set():
            self.tick()
            try:
                # One byte (or the wait) first, then whatever else has come: a frame is handled as
                # soon as its last byte is in, not when a fixed-size read fills up.
                data = port.read(max(1, port.in_waiting))
            except (serial.SerialException, OSError) as error:
                return f"read failed: {error}"
            for found in splitter.feed(data) if data else ():
                self._take(found)
        return None

    def _take(self, found: Badge | FrameError) -> None:
        if isinstance(found, FrameError):
            self._bad += 1
            log.warning("%s: dropped a bad frame at %s", self.part, found)
            return
        # The id in the configured form is the badge from here on: the repeat filter, the controller
        # and the technician's watch all see what is printed on the card (or what the site uses).
        try:
            badge = found.id_text(self._id_form)
        except BadgeError as error:
            self._bad += 1
            log.warning("%s: dropped a read: %s", self.part, error)
            return
        if not self._repeats.accept(badge, self._clock.monotonic()):
            self._repeated += 1
            return
        self._good += 1
        self._post(BadgeRead(badge=badge, reader=self.label))


def _serial_reader(
    section: BadgeReaderSection, wiring: ReaderWiring, new_splitter: Callable[[], BadgeSplitter]
) -> SerialBadgeReader:
    return SerialBadgeReader(
        url=wiring.url or section.port,
        baudrate=section.baudrate,
        new_splitter=new_splitter,
        id_form=section.id_form,
        sink=wiring.sink,
        repeat_s=wiring.timeouts.badge_repeat_s,
        reopen_s=wiring.timeouts.reader_reopen_s,
        label=section.port,
        origin=f"{wiring.where} ({section.type})",
        clock=wiring.clock,
    )


def build_rdm6300_reader(section: BadgeReaderSection, wiring: ReaderWiring) -> BadgeReader:
    """The registry's builder for `type = "rdm6300"` (drivers.py)."""
    return _serial_reader(section, wiring, Rdm6300Splitter)


def build_line_reader(section: BadgeReaderSection, wiring: ReaderWiring) -> BadgeReader:
    """The registry's builder for `type = "serial-line"` (drivers.py)."""

    def new_splitter() -> BadgeSplitter:
        return LineSplitter(
            number_format=section.number_format, prefix=section.strip_prefix, suffix=section.strip_suffix
        )

    return _serial_reader(section, wiring, new_splitter)

"""One request's talk to a slot's device through the adb server (adbutils), on the slot's thread.

The device is the one the server lists on the slot's USB port path. Every failure is a `LinkError`
naming the slot, the device and the command.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from datetime import timezone
from typing import TypeVar

import adbutils

from cabinetd.hal import adbparse
from cabinetd.hal.errors import LinkError, LinkFailure
from cabinetd.hal.usbhub import PortPath

T = TypeVar("T")


class AdbServer:
    """Where the adb server is, and the client to it; one per cabinet, shared by every slot."""

    def __init__(self, host: str, port: int, request_timeout_s: float) -> None:
        self.host, self.port = host, port
        self.request_timeout_s = request_timeout_s
        self.client = adbutils.AdbClient(host=host, port=port, socket_timeout=request_timeout_s)
        self._devices: dict[str, adbutils.AdbDevice] = {}

    def device(self, serial: str) -> adbutils.AdbDevice:
        # Kept per serial: adbutils asks a device's features once per object.
        found = self._devices.get(serial)
        if found is None:
            found = self._devices[serial] = self.client.device(serial)
        return found


class AdbSession:
    """One request's talk to one slot's device, on the slot's thread: the device found by its port."""

    def __init__(self, server: AdbServer, slot: int, path: PortPath) -> None:
        self.server, self.slot, self.path = server, slot, path
        self.serial: str | None = None
        self.device = self._find()

    def error(self, failure: LinkFailure, detail: str) -> LinkError:
        return LinkError(self.slot, self.serial, failure, detail)

    def _find(self) -> adbutils.AdbDevice:
        server, path = self.server, str(self.path)
        try:
            socket.create_connection((server.host, server.port), timeout=server.request_timeout_s).close()
            listed = server.client.list(extended=True)
        except (OSError, adbutils.AdbError) as error:
            where = f"{server.host}:{server.port}"
            raise self.error(LinkFailure.NO_DEVICE, f"no adb server at {where} ({error})") from None
        found = next((info for info in listed if info.tags.get("usb") == path), None)
        if found is None:
            raise self.error(LinkFailure.NO_DEVICE, f"the adb server lists no device on port {path}")
        self.serial = found.serial
        if found.state == "unauthorized":
            detail = "it has not accepted this cabinet's adb key (authorise it at staging, docs/deployment.md)"
            raise self.error(LinkFailure.UNAUTHORISED, detail)
        if found.state != "device":
            raise self.error(LinkFailure.OFFLINE, f"the adb server sees it {found.state}")
        return server.device(found.serial)

    def run(self, *argv: str, limit: int = 1) -> str:
        """One shell command over shell v2; its stdout when it exits 0, else a LinkError with stderr."""
        result = self.attempt(*argv, limit=limit)
        if result.returncode != 0:
            said = (result.stderr or result.stdout).strip().splitlines()
            detail = said[-1] if said else "no output"
            raise self.error(LinkFailure.REFUSED, f"`{' '.join(argv)}` exited {result.returncode}: {detail}")
        return str(result.stdout)

    def attempt(self, *argv: str, limit: int = 1) -> adbutils.ShellReturn:
        """One shell command whatever its exit code (a single argument is a whole command line for the
        device's shell); a lost device or a timeout is a LinkError."""
        command: str | list[str] = argv[0] if len(argv) == 1 else list(argv)
        timeout = self.server.request_timeout_s * limit
        return self.call(f"`{' '.join(argv)}`", lambda: self.device.shell2(command, timeout=timeout, v2=True))

    def call(self, what: str, work: Callable[[], T]) -> T:
        try:
            return work()
        except adbutils.AdbTimeout:
            raise self.error(LinkFailure.UNRESPONSIVE, f"{what}: no answer within the timeout") from None
        except adbutils.AdbError as error:
            text = str(error)
            failure = LinkFailure.UNAUTHORISED if "unauthorized" in text else LinkFailure.OFFLINE
            raise self.error(failure, f"{what}: {text.splitlines()[0] if text else 'the device went away'}") from None
        except (OSError, EOFError):
            # The adb server drops our connection when the device leaves; whether that reads as a reset
            # or an end of stream here is the sockets' timing, not a fact about the device.
            raise self.error(LinkFailure.OFFLINE, f"{what}: the device went away mid-command") from None

    def parsed(self, read: Callable[[str], T], *argv: str) -> T:
        text = self.run(*argv)
        try:
            return read(text)
        except ValueError as error:
            raise self.error(LinkFailure.BAD_REPLY, str(error)) from None

    def zone(self) -> timezone:
        return self.parsed(adbparse.utc_offset, "date", "+%z")

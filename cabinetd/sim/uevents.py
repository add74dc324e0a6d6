"""The simulated kernel's uevents, delivered to the slot ports driver as pyudev's Monitor delivers them.

`SimUevents` is a datagram socket pair. The emulated bus (usbbus.py) writes one datagram per change
on the other end, in the kernel's own uevent format (`add@/devices/...` then `KEY=value` fields, each
ending in a NUL byte); `SimUdevMonitor` is the side the driver holds, with the part of pyudev's
`Monitor` that it uses: `fileno()` to wait on, and `poll(timeout)` returning one event (a
`SimUdevDevice` with `action`, `device_path` and its properties) or None. Sends never block: on a full
buffer the event is dropped, as the kernel drops one for a listener that does not keep up.
"""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class SimUdevDevice:
    action: str
    device_path: str
    properties: Mapping[str, str]

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.properties.get(key, default)


class SimUdevMonitor:
    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def fileno(self) -> int:
        return self._sock.fileno()

    def poll(self, timeout: float | None = None) -> SimUdevDevice | None:
        ready, _, _ = select.select([self._sock], [], [], timeout)
        if not ready:
            return None
        return parse_uevent(self._sock.recv(8192))

    def close(self) -> None:
        self._sock.close()


def parse_uevent(datagram: bytes) -> SimUdevDevice:
    header, *fields = datagram.rstrip(b"\0").split(b"\0")
    action, _, path = header.decode("ascii").partition("@")
    properties = dict(field.decode("utf-8").partition("=")[::2] for field in fields)
    return SimUdevDevice(action, path, properties)


class SimUevents:
    def __init__(self) -> None:
        self._kernel, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._kernel.setblocking(False)
        self.monitor = SimUdevMonitor(theirs)
        self._seq = 0
        self._lock = threading.Lock()
        self.dropped = 0

    def send(self, action: str, device_path: str, **properties: str) -> None:
        with self._lock:
            self._seq += 1
            fields = {"ACTION": action, "DEVPATH": device_path, "SUBSYSTEM": "usb", **properties}
            fields["SEQNUM"] = str(self._seq)
            body = b"".join(f"{key}={value}".encode() + b"\0" for key, value in fields.items())
            try:
                self._kernel.send(f"{action}@{device_path}".encode("ascii") + b"\0" + body)
            except (BlockingIOError, OSError):
                self.dropped += 1

    def close(self) -> None:
        self._kernel.close()
        self.monitor.close()

"""A fake adb server on a loopback TCP port, speaking the adb host protocol to unchanged clients
(adbutils, or the `adb` command line with -P), with simulated handhelds (android.py) behind it.

What it speaks (docs/device-adb.md, from AOSP's OVERVIEW.TXT, SERVICES.TXT, SYNC.TXT and
shell_protocol.h): a request is four hex digits of length then the text; the answer is OKAY or FAIL,
FAIL followed by a length-prefixed message. `host:` requests are answered by the server; after
`host:transport:<serial>` (or `host:tport:serial:<serial>`, which also sends the 8-byte transport
id), the next request goes to that device: `shell:` (raw output until the socket closes), `shell,v2:`
(packets: 1 byte id, 4 bytes little-endian length, data; 1 stdout, 2 stderr, 3 exit) or `sync:`.

Faults of the field: a device whose key is not authorised (`unauthorized`), a device the server sees
but cannot reach (`offline`), and a device that drops off the bus part way through a push
(`drop_after_bytes`).
"""

from __future__ import annotations

import logging
import socket
import socketserver
import struct
import threading
from dataclasses import dataclass
from typing import Final

from cabinetd.sim.android import TMP_DIR, SimAndroid

log = logging.getLogger(__name__)

SERVER_VERSION: Final = 41  # what Debian's adb 1.0.41 answers to host:version
FEATURES: Final = "shell_v2,cmd"  # only what this server speaks
UNAUTHORISED: Final = (
    "device unauthorized.\nThis adb server's $ADB_VENDOR_KEYS is not set\n"
    "Try 'adb kill-server' if that seems wrong.\nOtherwise check for a confirmation dialog on your device."
)
SHELL_STDOUT, SHELL_STDERR, SHELL_EXIT = 1, 2, 3
MAX_SYNC_DATA: Final = 64 * 1024
DIR_MODE: Final = 0o040771
FILE_MODE: Final = 0o100644


class _Closed(Exception):
    """The client went away, or the device dropped off: the connection ends."""


@dataclass
class Attached:
    android: SimAndroid
    usb: str  # the port path the device is on, as `adb devices -l` shows it
    transport_id: int
    state: str = "device"  # "device", "unauthorized", "offline"
    drop_after_bytes: int | None = None  # pushed bytes after which the device falls off the bus


def _block(text: str) -> bytes:
    data = text.encode()
    return f"{len(data):04x}".encode() + data


class FakeAdbServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.devices: dict[str, Attached] = {}
        self._lock = threading.Lock()
        self._next_transport = 1
        server = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                server.serve(self.request)

        self._server = socketserver.ThreadingTCPServer((host, port), Handler, bind_and_activate=False)
        self._server.daemon_threads = True
        self._server.allow_reuse_address = True
        self._server.server_bind()
        self._server.server_activate()
        address = self._server.server_address
        self.host: str = str(address[0])  # an IPv4 server's address is (host, port), the host a str
        self.port: int = int(address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake adb server", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- the devices on its USB ---------------------------------------------------------------------

    def attach(self, android: SimAndroid, usb: str, state: str = "device") -> Attached:
        with self._lock:
            attached = Attached(android, usb, self._next_transport, state)
            self._next_transport += 1
            self.devices[android.serial] = attached
        return attached

    def detach(self, serial: str) -> None:
        with self._lock:
            self.devices.pop(serial, None)

    # --- one client connection ----------------------------------------------------------------------

    def serve(self, conn: socket.socket) -> None:
        try:
            device = self._host(conn)
            if device is not None:
                self._device_service(conn, device)
        except (_Closed, OSError):
            pass
        finally:
            conn.close()

    def _host(self, conn: socket.socket) -> Attached | None:
        """Host requests until one picks a device; None when the request was the server's to answer."""
        request = _read_request(conn)
        if request == "host:version":
            conn.sendall(b"OKAY" + _block(f"{SERVER_VERSION:04x}"))
            return None
        if request in ("host:devices", "host:devices-l"):
            conn.sendall(b"OKAY" + _block(self._device_list(long=request.endswith("-l"))))
            return None
        for prefix in ("host:transport:", "host:tport:serial:"):
            if request.startswith(prefix):
                device = self._reachable(conn, request.removeprefix(prefix))
                if device is not None:
                    tport = request.startswith("host:tport:")
                    conn.sendall(b"OKAY" + (struct.pack("<q", device.transport_id) if tport else b""))
                return device
        if request.startswith("host-serial:"):
            serial, _, command = request.removeprefix("host-serial:").rpartition(":")
            device = self._reachable(conn, serial) if command != "get-state" else self.devices.get(serial)
            answers = {"features": FEATURES, "get-serialno": serial, "get-state": device.state if device else ""}
            if device is not None and command in answers:
                conn.sendall(b"OKAY" + _block(answers[command]))
            elif device is not None:
                _fail(conn, f"unknown host service '{command}'")
            elif command == "get-state":
                _fail(conn, f"device '{serial}' not found")
            return None
        _fail(conn, f"unknown host service '{request}'")
        return None

    def _device_list(self, *, long: bool) -> str:
        with self._lock:
            attached = sorted(self.devices.values(), key=lambda d: d.android.serial)
        lines = []
        for d in attached:
            if not long:
                lines.append(f"{d.android.serial}\t{d.state}\n")
                continue
            described = (
                ""
                if d.state != "device"
                else (
                    f" product:{d.android.model.lower().replace(' ', '_')} model:{d.android.model.replace(' ', '_')}"
                    f" device:{d.android.model.lower().replace(' ', '_')}"
                )
            )
            lines.append(f"{d.android.serial:<22} {d.state} usb:{d.usb}{described} transport_id:{d.transport_id}\n")
        return "".join(lines)

    def _reachable(self, conn: socket.socket, serial: str) -> Attached | None:
        device = self.devices.get(serial)
        if device is None:
            _fail(conn, f"device '{serial}' not found")
        elif device.state == "unauthorized":
            _fail(conn, UNAUTHORISED)
        elif device.state == "offline":
            _fail(conn, "device offline")
        else:
            return device
        return None

    def _device_service(self, conn: socket.socket, device: Attached) -> None:
        request = _read_request(conn)
        if request.startswith("shell,v2:"):
            conn.sendall(b"OKAY")
            out, err, code = device.android.shell(request.removeprefix("shell,v2:"))
            packets = [(SHELL_STDOUT, out), (SHELL_STDERR, err), (SHELL_EXIT, bytes([code & 0xFF]))]
            conn.sendall(b"".join(struct.pack("<BI", kind, len(data)) + data for kind, data in packets if data))
        elif request.startswith("shell:"):
            conn.sendall(b"OKAY")
            out, err, _ = device.android.shell(request.removeprefix("shell:"))
            conn.sendall(out + err)  # one stream, as a pty-less v1 shell gives them
        elif request == "sync:":
            conn.sendall(b"OKAY")
            _Sync(conn, device, self).run()
        else:
            _fail(conn, f"unknown service '{request.partition(':')[0]}'")

    def fall_off(self, device: Attached) -> None:
        device.state = "offline"
        log.info("fake adb server: %s fell off the bus", device.android.serial)


class _Sync:
    """One sync session: STAT, SEND (DATA... DONE), RECV and QUIT, 8-byte headers, little-endian."""

    def __init__(self, conn: socket.socket, device: Attached, server: FakeAdbServer) -> None:
        self.conn, self.device, self.server = conn, device, server
        self.files = device.android.files

    def run(self) -> None:
        while True:
            kind, length = self._header()
            if kind == b"QUIT":
                return
            path = _read_exactly(self.conn, length).decode()
            if kind == b"STAT":
                self._stat(path)
            elif kind == b"SEND":
                self._send(path)
            elif kind == b"RECV":
                self._recv(path)
            else:
                self._fail(f"unknown sync request {kind!r}")
                return

    def _header(self) -> tuple[bytes, int]:
        header = _read_exactly(self.conn, 8)
        return header[:4], struct.unpack("<I", header[4:])[0]

    def _fail(self, message: str) -> None:
        data = message.encode()
        self.conn.sendall(b"FAIL" + struct.pack("<I", len(data)) + data)

    def _stat(self, path: str) -> None:
        with self.device.android.lock:
            data = self.files.get(path)
        if path.rstrip("/") in (TMP_DIR, "/data/local", "/sdcard"):
            mode, size = DIR_MODE, 4096
        elif data is not None:
            mode, size = FILE_MODE, len(data)
        else:
            mode = size = 0  # what adbd answers for a path that does not exist
        self.conn.sendall(b"STAT" + struct.pack("<III", mode, size, 1_700_000_000 if mode else 0))

    def _send(self, spec: str) -> None:
        path = spec.rpartition(",")[0] or spec
        received = bytearray()
        while True:
            kind, length = self._header()
            if kind == b"DONE":
                break
            if kind != b"DATA" or length > MAX_SYNC_DATA:
                self._fail(f"invalid data message {kind!r} of {length} bytes")
                return
            received += _read_exactly(self.conn, length)
            limit = self.device.drop_after_bytes
            if limit is not None and len(received) >= limit:
                self.server.fall_off(self.device)
                raise _Closed
        if not path.startswith(TMP_DIR + "/"):
            self._fail(f"couldn't create file: Permission denied: {path}")
            return
        with self.device.android.lock:
            self.files[path] = bytes(received)
        self.conn.sendall(b"OKAY" + struct.pack("<I", 0))

    def _recv(self, path: str) -> None:
        with self.device.android.lock:
            data = self.files.get(path)
        if data is None:
            self._fail("No such file or directory")
            return
        for at in range(0, len(data), MAX_SYNC_DATA):
            chunk = data[at : at + MAX_SYNC_DATA]
            self.conn.sendall(b"DATA" + struct.pack("<I", len(chunk)) + chunk)
        self.conn.sendall(b"DONE" + struct.pack("<I", 0))


def _fail(conn: socket.socket, message: str) -> None:
    conn.sendall(b"FAIL" + _block(message))


def _read_exactly(conn: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise _Closed
        data += chunk
    return bytes(data)


def _read_request(conn: socket.socket) -> str:
    length = _read_exactly(conn, 4)
    try:
        size = int(length, 16)
    except ValueError:
        raise _Closed from None
    return _read_exactly(conn, size).decode("utf-8", "replace")

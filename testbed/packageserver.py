"""A loopback stand-in for the fleet's app package endpoint, `GET /v1/packages/{sha256}`: the cabinet's
bearer token or 401, the package's raw bytes with their Content-Length (200), 404 for a package it
does not hold. Faults: `cut_after` (the next `cuts` answers announce the whole length, send that many
bytes and close the connection, as a store's network drop does), `served` (bytes to send instead of
the package's own for a sha256: a tampered file), `status` (answer every request with it: 503 for a
cloud that is down)."""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_PATH = re.compile(r"^/v1/packages/([0-9a-f]{64})$")


@dataclass
class PackageServer:
    token: str
    packages: dict[str, bytes] = field(default_factory=dict)
    served: dict[str, bytes] = field(default_factory=dict)
    cut_after: int | None = None
    cuts: int = 0
    status: int | None = None
    asked: list[str] = field(default_factory=list)  # the path of each request, in order

    def __post_init__(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                fake._get(self)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the tests read what the fake recorded."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="package server", daemon=True
        )
        self._thread.start()

    def add(self, apk: bytes) -> str:
        """Serve an APK under its sha256; returns the sha256."""
        digest = hashlib.sha256(apk).hexdigest()
        self.packages[digest] = apk
        return digest

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _get(self, handler: BaseHTTPRequestHandler) -> None:
        self.asked.append(handler.path)
        if self.status is not None:
            self._plain(handler, self.status, b'{"code": "unavailable", "detail": "try again later"}')
            return
        if handler.headers.get("Authorization") != f"Bearer {self.token}":
            self._plain(handler, 401, b'{"code": "unauthorized", "detail": "no such cabinet token"}')
            return
        found = _PATH.match(handler.path)
        if found is None or found.group(1) not in self.packages:
            self._plain(handler, 404, b'{"code": "not_found", "detail": "no such package"}')
            return
        sha256 = found.group(1)
        body = self.served.get(sha256, self.packages[sha256])
        handler.send_response(200)
        handler.send_header("Content-Type", "application/vnd.android.package-archive")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if self.cut_after is not None and self.cuts > 0:
            self.cuts -= 1
            handler.wfile.write(body[: self.cut_after])
            handler.wfile.flush()
            handler.close_connection = True
            return
        handler.wfile.write(body)

    @staticmethod
    def _plain(handler: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

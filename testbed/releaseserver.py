"""A loopback stand-in for the fleet's package endpoint, `GET /v1/releases/{id}/package`: the cabinet's
bearer token or 401, the whole package (200) or the rest of it for `Range: bytes=N-` (206), 404 for a
release it does not hold. Faults: `cut_after` (the next answers send that many bytes of the body, then
close the connection, as a store's network drop does; `cuts` says how many answers do) and `short_by`
(the package served is that many bytes shorter than the one offered)."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_PATH = re.compile(r"^/v1/releases/([^/]+)/package$")
_RANGE = re.compile(r"^bytes=(\d+)-$")


@dataclass
class ReleaseServer:
    token: str
    packages: dict[str, bytes] = field(default_factory=dict)
    cut_after: int | None = None
    cuts: int = 0
    short_by: int = 0
    ranges: list[str | None] = field(default_factory=list)  # the Range header of each request, in order

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
            target=self._server.serve_forever, args=(0.05,), name="release server", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _get(self, handler: BaseHTTPRequestHandler) -> None:
        found = _PATH.match(handler.path)
        if handler.headers.get("Authorization") != f"Bearer {self.token}":
            self._plain(handler, 401, b'{"code": "unauthorized", "detail": "no such cabinet token"}')
            return
        if found is None or found.group(1) not in self.packages:
            self._plain(handler, 404, b'{"code": "not_found", "detail": "no such release"}')
            return
        body = self.packages[found.group(1)]
        body = body[: len(body) - self.short_by] if self.short_by else body
        asked = handler.headers.get("Range")
        self.ranges.append(asked)
        start = 0
        if asked is not None and (wanted := _RANGE.match(asked)) is not None:
            start = int(wanted.group(1))
        if start >= len(body) and start:
            self._plain(handler, 416, b"")
            return
        handler.send_response(206 if start else 200)
        if start:
            handler.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        handler.send_header("Content-Length", str(len(body) - start))
        handler.send_header("Accept-Ranges", "bytes")
        handler.end_headers()
        rest = body[start:]
        if self.cut_after is not None and self.cuts > 0:
            self.cuts -= 1
            handler.wfile.write(rest[: self.cut_after])
            handler.wfile.flush()
            handler.close_connection = True
            return
        handler.wfile.write(rest)

    @staticmethod
    def _plain(handler: BaseHTTPRequestHandler, status: int, body: bytes) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

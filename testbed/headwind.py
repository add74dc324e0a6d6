"""A fake Headwind MDM server on a loopback port: the endpoints the cabinet's adapter uses
(cabinetd/hal/mdm/headwind.py), answering as the real server's resources do: the JWT login that takes
the MD5 of the password and answers 401 to a wrong one, the `{"status", "message", "data"}` envelope with
HTTP 200 for errors, 401 for a missing or stale token. Faults: `fail_with` (every private call answers
that HTTP status, e.g. 500) and `hang_s` (every call waits that long before answering).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class FakeHeadwind:
    login: str = "cabinet-api"
    password: str = "s3cret"
    configurations: dict[int, str] = field(default_factory=dict)  # id -> name
    devices: dict[str, dict[str, Any]] = field(default_factory=dict)  # number -> {"id", "configurationId"}
    fail_with: int | None = None
    hang_s: float = 0.0
    moves: list[tuple[str, str]] = field(default_factory=list)  # (device number, configuration name)
    logins: int = 0

    def __post_init__(self) -> None:
        self.tokens: set[str] = set()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def do_PUT(self) -> None:
                fake._handle(self, "PUT")

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the tests read what the fake recorded, not its log."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake headwind", daemon=True)
        self._thread.start()

    def add_device(self, number: str, configuration_id: int) -> None:
        self.devices[number] = {"id": len(self.devices) + 1, "number": number, "configurationId": configuration_id}

    def expire_tokens(self) -> None:
        self.tokens.clear()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- the server's side -------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        if self.hang_s:
            time.sleep(self.hang_s)
        length = int(handler.headers.get("Content-Length") or 0)
        body = json.loads(handler.rfile.read(length) or b"null") if length else None
        path = handler.path
        if method == "POST" and path == "/rest/public/jwt/login":
            self._reply(handler, *self._login(body))
            return
        if self.fail_with is not None:
            self._reply(handler, self.fail_with, {"error": "Internal Server Error"})
            return
        token = handler.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in self.tokens:
            self._reply(handler, 401, None)
            return
        self._reply(handler, 200, self._private(method, path, body))

    def _login(self, body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or "login" not in body or "password" not in body:
            return 400, None
        expected = hashlib.md5(self.password.encode()).hexdigest().upper()
        if body["login"] != self.login or body["password"] != expected:
            return 401, None
        self.logins += 1
        token = secrets.token_urlsafe(24)
        self.tokens.add(token)
        return 200, {"id_token": token}

    def _private(self, method: str, path: str, body: Any) -> dict[str, Any]:
        if method == "GET" and path == "/rest/private/configurations/list":
            return _ok([{"id": cid, "name": name} for cid, name in self.configurations.items()])
        if method == "GET" and path.startswith("/rest/private/devices/number/"):
            found = self.devices.get(path.rsplit("/", 1)[1])
            return _ok(dict(found)) if found else _error("error.notfound.device")
        if method == "PUT" and path == "/rest/private/devices" and isinstance(body, dict):
            configuration = body.get("configurationId")
            if configuration not in self.configurations:
                return _error("error.notfound.configuration")
            for device in self.devices.values():
                if device["id"] in body.get("ids", []):
                    device["configurationId"] = configuration
                    self.moves.append((device["number"], self.configurations[configuration]))
            return _ok(None)
        return _error("error.internal.server")

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, status: int, body: Any) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)


def _ok(data: Any) -> dict[str, Any]:
    return {"status": "OK", "message": None, "data": data}


def _error(message: str) -> dict[str, Any]:
    return {"status": "ERROR", "message": message, "data": None}

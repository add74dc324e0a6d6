"""Real HTTP receivers on loopback for the outbound deliveries: a webhook receiver that verifies each
signature with the `standardwebhooks` library and deduplicates on `webhook-id`, as the specification
asks of a consumer, and answers as a script says (fail, time out, redirect, go away, or take it)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


@dataclass
class Reply:
    status: int = 204
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    error: str = ""


class WebhookReceiver:
    """Answers each request with the next scripted Reply (then with `default`); keeps what came."""

    def __init__(self, secret: str | None = None, script: list[Reply] | None = None, default: Reply | None = None):
        self.secret = secret
        self.script = list(script or [])
        self.default = default or Reply()
        self.received: list[Received] = []
        self.accepted: dict[str, Any] = {}  # webhook-id → the payload, once each, for 2xx answers
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def _verify(self, body: bytes, headers: dict[str, str]) -> tuple[bool, str]:
        if self.secret is None:
            return True, ""
        try:
            Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError as exc:
            return False, str(exc)
        return True, ""

    def _next(self) -> Reply:
        with self.lock:
            return self.script.pop(0) if self.script else self.default

    def _take(self, path: str, headers: dict[str, str], body: bytes) -> Reply:
        verified, error = self._verify(body, headers)
        reply = self._next()
        with self.lock:
            self.received.append(Received(path, headers, body, verified, error))
        if reply.delay_s:
            time.sleep(reply.delay_s)
        if verified and 200 <= reply.status < 300:
            with self.lock:
                self.accepted.setdefault(headers.get("webhook-id", ""), json.loads(body or b"null"))
        return reply

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                reply = receiver._take(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the sender gave up waiting: what a slow receiver sees

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def start(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def webhook_receiver(
    secret: str | None = None, script: list[Reply] | None = None, default: Reply | None = None
) -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(secret, script, default).start()
    try:
        yield receiver
    finally:
        receiver.stop()

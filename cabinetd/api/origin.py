"""Only the kiosk's own page may drive the loopback listener (docs/kiosk.md, "Who may call the kiosk").

The listener has no login: it trusts that only the cabinet's own Chromium reaches it. Two ways round
that trust are closed here, for every request before any route sees it:

- DNS rebinding: a page from elsewhere whose name is made to resolve to 127.0.0.1 reaches the port,
  but its requests name that page's host. The `Host` header must be the address the request came in
  on, or `localhost`, with its port (NCC Group's Singularity notes, "Preventing DNS Rebinding Attacks").
- Cross-site requests: a page may POST `text/plain` or a form anywhere without asking. A POST must be
  `application/json` (which no page may send to another origin without a CORS preflight, and this
  server answers none), and an `Origin` or `Sec-Fetch-Site` header, where the browser sends one, must
  say the request comes from this origin.
"""

from __future__ import annotations

import json
from typing import Final

from starlette.types import ASGIApp, Receive, Scope, Send

SAFE_METHODS: Final = frozenset({"GET", "HEAD"})
SAME_SITE: Final = frozenset({"same-origin", "none"})  # "none": typed in, or a bookmark


def own_hosts(server: tuple[str, int | None] | None) -> list[str]:
    """The `Host` values that name the listener a request came in on: its address and `localhost`,
    with the port (and without it on port 80, where browsers leave it out). A server without a port
    is a scheme's default one (ASGI leaves it None there), which for plain http is 80."""
    if server is None:
        return []
    address, given = server
    port = 80 if given is None else given
    names = [f"[{address}]" if ":" in address else address, "localhost"]
    hosts = [f"{name}:{port}" for name in names]
    return hosts + (names if port == 80 else [])


def refusal(scope: Scope) -> tuple[int, str] | None:
    """Why this request is not the kiosk's own (status and one line), or None."""
    headers = {key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]}
    hosts = own_hosts(scope.get("server"))
    host = headers.get("host", "")
    if host.lower() not in hosts:
        return 421, f"refused: Host {host!r} is not this cabinet's kiosk (expected {' or '.join(hosts)})"
    if scope["method"] in SAFE_METHODS:
        return None
    origin = headers.get("origin")
    if origin is not None and origin.lower() != f"http://{host.lower()}":
        return 403, f"refused: a request from {origin!r} (this cabinet's kiosk is http://{host})"
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in SAME_SITE:
        return 403, f"refused: a {fetch_site} request (only the kiosk's own page may send one)"
    kind = headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":
        return 415, f"refused: {scope['method']} {scope['path']} takes application/json, got {kind or 'no type'!r}"
    return None


class OwnOriginOnly:
    """ASGI middleware: a request that `refusal()` turns away gets `{"error": ...}` and its status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refused = refusal(scope)
            if refused is not None:
                status, message = refused
                body = json.dumps({"error": message}).encode()
                headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

"""An in-process faulty transport: the cloud app over ASGI, with faults at chosen requests.

The TCP proxy (testbed/faulty_proxy.py) breaks real sockets; this one breaks exchanges at
exact points cheaply, for the cases a test wants to place precisely.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx

# A fault takes the request and the inner transport and returns the response (or raises).
Fault = str


class FaultyTransport(httpx.AsyncBaseTransport):
    def __init__(self, app: object) -> None:
        self.inner = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        self.script: list[tuple[str, Fault]] = []
        self.seen: list[str] = []
        self.on_request: Callable[[httpx.Request], None] | None = None

    def then(self, path_part: str, fault: Fault) -> None:
        """The next request whose path contains `path_part` gets `fault`."""
        self.script.append((path_part, fault))

    def _fault_for(self, request: httpx.Request) -> Fault:
        for index, (part, fault) in enumerate(self.script):
            if part in request.url.path:
                del self.script[index]
                return fault
        return "pass"

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(f"{request.method} {request.url.path}")
        if self.on_request is not None:
            self.on_request(request)
        fault = self._fault_for(request)
        if fault == "connect":
            raise httpx.ConnectError("injected: connection refused", request=request)
        if fault == "timeout":
            raise httpx.ReadTimeout("injected: no answer", request=request)
        if fault == "413":
            return httpx.Response(413, json={"code": "too_large", "detail": "injected"}, request=request)
        if fault.startswith("503:"):
            return httpx.Response(
                503, headers={"Retry-After": fault[4:]}, json={"code": "busy", "detail": "injected"}, request=request
            )
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        if fault == "lost_reply":
            raise httpx.ReadError("injected: the reply was lost after the cloud committed", request=request)
        if fault == "cut_page":
            # A page whose last op went missing on the way, its checksum still the original's.
            page = json.loads(body)
            page["ops"] = page["ops"][:-1]
            body = json.dumps(page).encode()
        headers = [(k, v) for k, v in response.headers.items() if k.lower() != "content-length"]
        return httpx.Response(response.status_code, headers=headers, content=body, request=request)

"""A TCP proxy of our own that sits between the sync client and a real HTTP server and breaks things.

It reads HTTP/1.1 one request at a time (Content-Length or chunked bodies), picks a fault for it from
a `FaultPlan`, and forwards it over a fresh upstream connection. Faults:

- drop: close the client's connection without forwarding;
- delay: forward after a pause;
- reset: abort the client's connection with a TCP reset, without forwarding;
- truncate: forward, then send the client only part of the reply and close;
- duplicate: send the request to the server twice; the client gets the second reply;
- reorder: hold the request back and deliver it to the server only after the next request (the
  client sees its connection closed and retries, so the server gets the retry first, then the stale copy);
- 5xx: answer 503 with Retry-After, without forwarding;
- hang: read the request and never answer, until the client gives up (bounded);
- lost_reply: forward, let the server commit, then close without the reply;
- hold_request / hold_reply: like drop / lost_reply, but wait (and say so through `held`) until the
  client goes away: a test kills the client at exactly that point.

Bounded: it listens and forwards on loopback only, serves at most `max_requests`, and every wait has a
ceiling. It runs on its own thread and event loop, so a client in the test's loop or in another
process can use it alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import ipaddress
import random
import socket
import struct
import threading
from collections import Counter
from dataclasses import dataclass, field

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 16 * 1024 * 1024


class Fault(enum.StrEnum):
    PASS = "pass"
    DROP = "drop"
    DELAY = "delay"
    RESET = "reset"
    TRUNCATE = "truncate"
    DUPLICATE = "duplicate"
    REORDER = "reorder"
    ERROR_5XX = "5xx"
    HANG = "hang"
    LOST_REPLY = "lost_reply"
    HOLD_REQUEST = "hold_request"
    HOLD_REPLY = "hold_reply"


@dataclass
class FaultPlan:
    """Which fault each request gets: a script first (in order), then weighted random choices.

    Only requests whose path contains `path_filter` are faulted; the rest pass.
    """

    weights: dict[Fault, float] = field(default_factory=dict)
    script: list[Fault] = field(default_factory=list)
    seed: int = 0
    path_filter: str = ""
    delay_s: float = 0.05
    hang_s: float = 30.0
    retry_after: str = "0"

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._lock = threading.Lock()

    def choose(self, method: str, path: str) -> Fault:
        if self.path_filter not in path:
            return Fault.PASS
        with self._lock:
            if self.script:
                return self.script.pop(0)
            if not self.weights:
                return Fault.PASS
            faults = list(self.weights)
            total = sum(self.weights.values())
            pass_weight = max(0.0, 1.0 - total)
            return self._random.choices([*faults, Fault.PASS], [*self.weights.values(), pass_weight])[0]

    def then(self, *faults: Fault) -> None:
        with self._lock:
            self.script.extend(faults)


@dataclass
class Message:
    head: bytes
    body: bytes

    @property
    def raw(self) -> bytes:
        return self.head + self.body

    @property
    def first_line(self) -> str:
        return self.head.split(b"\r\n", 1)[0].decode("latin-1")


class ProxyError(Exception):
    pass


def _header(head: bytes, name: bytes) -> bytes | None:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip()
    return None


async def read_message(reader: asyncio.StreamReader, *, response_to: str = "") -> Message | None:
    """One HTTP/1.1 message, head and body as they came; None at a clean end of stream."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise ProxyError("connection closed inside a message head") from None
    except asyncio.LimitOverrunError:
        raise ProxyError("message head too long") from None
    if len(head) > MAX_HEADER_BYTES:
        raise ProxyError("message head too long")
    status = head.split(b" ", 2)[1] if response_to else b""
    if response_to == "HEAD" or status in (b"204", b"304") or status.startswith(b"1"):
        return Message(head, b"")
    if (_header(head, b"transfer-encoding") or b"").lower() == b"chunked":
        body = bytearray()
        while True:
            size_line = await reader.readuntil(b"\r\n")
            body += size_line
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                while True:
                    trailer = await reader.readuntil(b"\r\n")
                    body += trailer
                    if trailer == b"\r\n":
                        return Message(head, bytes(body))
            chunk = await reader.readexactly(size + 2)
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                raise ProxyError("body too long")
    length = int(_header(head, b"content-length") or b"0")
    if length > MAX_BODY_BYTES:
        raise ProxyError("body too long")
    return Message(head, await reader.readexactly(length))


def _status(reply: Message) -> int:
    parts = reply.first_line.split(" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def _require_loopback(host: str) -> None:
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise ValueError(f"the faulty proxy works on loopback only, not {host!r}")


class FaultyProxy:
    def __init__(
        self, upstream_port: int, plan: FaultPlan, *, upstream_host: str = "127.0.0.1", max_requests: int = 100_000
    ) -> None:
        _require_loopback(upstream_host)
        self.upstream = (upstream_host, upstream_port)
        self.plan = plan
        self.max_requests = max_requests
        self.injected: Counter[Fault] = Counter()
        self.answered: Counter[int] = Counter()  # the server's replies by status (what it said, not us)
        self.requests = 0
        self.held = threading.Event()
        self.port = 0
        self._stashed: list[bytes] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultyProxy:
        self._thread = threading.Thread(target=self._serve, name="faulty-proxy", daemon=True)
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("faulty proxy did not start")
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        self._thread.join(10)

    def __enter__(self) -> FaultyProxy:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._server = loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._started.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while await self._one_request(reader, writer):
                pass
        except (ProxyError, ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _exchange(self, request: bytes) -> Message:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        try:
            up_writer.write(request)
            await up_writer.drain()
            method = request.split(b" ", 1)[0].decode("latin-1")
            reply = await asyncio.wait_for(read_message(up_reader, response_to=method), 60)
            if reply is None:
                raise ProxyError("server closed without a reply")
            return reply
        finally:
            up_writer.close()

    async def _replay_stashed(self) -> None:
        while self._stashed:
            with contextlib.suppress(ProxyError, OSError, asyncio.IncompleteReadError):
                await self._exchange(self._stashed.pop(0))

    async def _one_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; False when the client's connection is to be closed."""
        request = await read_message(reader)
        if request is None:
            return False
        self.requests += 1
        if self.requests > self.max_requests:
            return False
        method, path, _ = request.first_line.split(" ", 2)
        fault = self.plan.choose(method, path)
        self.injected[fault] += 1
        if fault is Fault.DROP:
            return False
        if fault is Fault.RESET:
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        if fault is Fault.REORDER:
            self._stashed.append(request.raw)
            return False
        if fault is Fault.ERROR_5XX:
            body = b'{"code":"unavailable","detail":"injected by the faulty proxy"}'
            writer.write(
                b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                + f"Retry-After: {self.plan.retry_after}\r\nContent-Length: {len(body)}\r\n".encode()
                + b"Connection: close\r\n\r\n"
                + body
            )
            await writer.drain()
            return False
        if fault in (Fault.HANG, Fault.HOLD_REQUEST):
            if fault is Fault.HOLD_REQUEST:
                self.held.set()
            await self._until_client_leaves(reader)
            return False
        if fault is Fault.DELAY:
            await asyncio.sleep(self.plan.delay_s)
        if fault is Fault.DUPLICATE:
            await self._exchange(request.raw)
        reply = await self._exchange(request.raw)
        self.answered[_status(reply)] += 1
        await self._replay_stashed()
        if fault is Fault.LOST_REPLY:
            return False
        if fault is Fault.HOLD_REPLY:
            self.held.set()
            await self._until_client_leaves(reader)
            return False
        if fault is Fault.TRUNCATE:
            writer.write(reply.raw[: max(1, len(reply.raw) // 2)])
            await writer.drain()
            return False
        writer.write(reply.raw)
        await writer.drain()
        connection = (_header(reply.head, b"connection") or b"").lower()
        return connection != b"close"

    async def _until_client_leaves(self, reader: asyncio.StreamReader) -> None:
        try:
            async with asyncio.timeout(self.plan.hang_s):
                while await reader.read(65536):
                    pass
        except TimeoutError:
            pass

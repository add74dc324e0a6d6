"""Serving the local API with uvicorn inside the daemon's own event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator
from typing import Final

import uvicorn
from starlette.applications import Starlette

from cabinetd.lifecycle import Subsystem

log = logging.getLogger(__name__)


# How often an embedded server looks at its clock (the Date header has one-second resolution).
TICK_S: Final = 1.0


class EmbeddedServer(uvicorn.Server):
    """uvicorn inside our loop: the daemon owns SIGTERM and SIGINT, so the server must not take them;
    and it wakes once a second rather than ten times, since the daemon stops it by cancelling its
    task rather than by the flag uvicorn's own loop looks for (two servers waking 10 times a second
    were a sixth of the idle daemon's CPU)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def main_loop(self) -> None:
        while True:
            if await self.on_tick(0):  # tick 0: every tick refreshes the Date header
                return
            await asyncio.sleep(TICK_S)


class ApiServer(Subsystem):
    name = "api"

    def __init__(self, app: Starlette, host: str, port: int) -> None:
        super().__init__()
        self.app = app
        self.host = host
        self.port = port
        self._socket: socket.socket | None = None
        self._server: EmbeddedServer | None = None

    async def prepare(self) -> None:
        # Bind here rather than in run(): a port already taken must fail start-up, before READY.
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            raise OSError(f"api: cannot listen on {self.host}:{self.port}: {exc.strerror}") from None
        sock.listen(64)
        sock.setblocking(False)
        self._socket = sock
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, log_config=None, access_log=False, lifespan="off")
        self._server = EmbeddedServer(config)
        log.info("local API listening on http://%s:%d/", self.host, self.port)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    async def run(self) -> None:
        assert self._server is not None
        assert self._socket is not None
        await self._server.serve(sockets=[self._socket])

    async def cleanup(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            await asyncio.sleep(0)
        if self._socket is not None:
            self._socket.close()
            self._socket = None

"""The embedded HTTP server: in the daemon's loop, waking once a second, not ten times."""

from __future__ import annotations

import asyncio
import email.utils

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from cabinetd.api import server as server_module
from cabinetd.api.server import ApiServer, EmbeddedServer


async def hello(_request: object) -> PlainTextResponse:
    return PlainTextResponse("hello")


async def test_ok__the_server_ticks_once_a_second_and_still_dates_its_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ticks: list[int] = []
    on_tick = EmbeddedServer.on_tick

    async def counted(self: EmbeddedServer, counter: int) -> bool:
        ticks.append(counter)
        return await on_tick(self, counter)

    monkeypatch.setattr(EmbeddedServer, "on_tick", counted)
    monkeypatch.setattr(server_module, "TICK_S", 0.2)  # five ticks a second here, to keep the test short
    api = ApiServer(Starlette(routes=[Route("/", hello)]), "127.0.0.1", 0)
    await api.prepare()
    runner = asyncio.create_task(api.run())
    try:
        await asyncio.sleep(1.0)
        async with httpx.AsyncClient() as client:
            answer = await client.get(api.url)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        await api.cleanup()
    assert answer.text == "hello"
    assert email.utils.parsedate_to_datetime(answer.headers["date"]) is not None
    assert 3 <= len(ticks) <= 7, f"{len(ticks)} ticks in a second at one per 0.2 s"
    assert set(ticks) == {0}, "every tick refreshes the Date header"

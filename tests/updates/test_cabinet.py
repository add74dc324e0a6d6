"""The updater inside the simulated cabinet: the fleet's offer_update reaches it through the maintenance
desk, and the quiet moment is read from the real controller and door sensors."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from cabinetd.updates import handoff
from cabinetproto.wire import CommandOutcome
from testbed.releaseserver import ReleaseServer
from tests.flows.rig import Rig
from tests.flows.test_flows import ANNA, screen, take_out
from tests.updates.rig import TOKEN, make_deb, offer_command, release_keys


async def _moving(rig: Rig, what: Callable[[], object], within: float = 20.0) -> None:
    """Let the test clock run, a second at a time, until `what` holds (the download is real I/O)."""
    deadline = time.monotonic() + within
    while not what():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; events {rig.events()[-5:]}")
        await rig.clock.advance(1.0)
        await asyncio.sleep(0.01)


def _start(tmp_path: Path, server: ReleaseServer, **updates: object) -> Rig:
    token = tmp_path / "cloud.token"
    token.write_text(TOKEN)
    token.chmod(0o600)

    def rewire(data: dict[str, Any]) -> None:
        data["cloud"] = {"url": server.url, "token_file": token}
        data["updates"] = {"directory": tmp_path / "updates", "release_key": tmp_path / "release-key.pub", **updates}

    return Rig(tmp_path, rewire=rewire)


@pytest.fixture
async def server() -> AsyncIterator[ReleaseServer]:
    served = ReleaseServer(TOKEN)
    yield served
    served.close()


async def _running(rig: Rig) -> None:
    await rig.start()
    await rig.until(lambda: all(rig.state(n) in ("ready", "charging") for n in (1, 3, 5, 7)))


async def test_ok__an_offer_from_the_fleet_waits_for_the_rent_under_way(tmp_path: Path, server: ReleaseServer) -> None:
    key = release_keys(tmp_path)
    package = make_deb(tmp_path, "0.2.0")
    server.packages["rel-7"] = package
    rig = _start(tmp_path, server)
    await _running(rig)
    try:
        rig.sim.badge(ANNA)
        await rig.until(lambda: screen(rig).get("step") == "door", within=10)
        outcome = await rig.controller.execute_command(offer_command(key, "rel-7", package, "0.2.0"))
        assert outcome == CommandOutcome(
            True, "release rel-7 (0.2.0): downloading; it installs at the next quiet moment"
        )
        await rig.clock.advance(10)
        assert server.ranges == []  # nothing while Anna is at the cabinet
        await take_out(rig, int(screen(rig)["slot"]))  # type: ignore[call-overload]
        updates = rig.cabinet.updates
        await _moving(rig, lambda: updates.installing is not None)
        request = json.loads((tmp_path / "updates" / handoff.REQUEST).read_text())
        assert (request["release"], request["version"]) == ("rel-7", "0.2.0")
        assert rig.events("update_offered", "update_downloaded", "update_installing") == [
            "update_offered",
            "update_downloaded",
            "update_installing",
        ]
    finally:
        await rig.stop()
        rig.sim.close()


async def test_fail__an_offer_to_a_cabinet_with_updates_off(tmp_path: Path, server: ReleaseServer) -> None:
    key = release_keys(tmp_path)
    rig = _start(tmp_path, server, enabled=False)
    await _running(rig)
    try:
        outcome = await rig.controller.execute_command(offer_command(key, "rel-7", b"x", "0.2.0"))
        assert outcome == CommandOutcome(False, "updates are disabled on this cabinet (updates.enabled = false)")
        assert rig.events("update_offered") == []
    finally:
        await rig.stop()
        rig.sim.close()

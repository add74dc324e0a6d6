"""/metrics: the frames every bus and lock board sent, beside the subsystems' ticks."""

from __future__ import annotations

import httpx

from cabinetd.api.app import build_app
from cabinetd.hal.base import UnlockSent
from testbed.lockrig import lock_config, lock_rig

IDLE_POLL_S = 30.0


async def test_ok__metrics_count_the_frames_sent_to_each_board_and_bus() -> None:
    async with lock_rig(lock_config("kerong-silent-unlock"), feedback_poll_s=IDLE_POLL_S) as rig:
        await rig.bank().unlock(1)
        await rig.events.next(UnlockSent)
        app = build_app("test-1", list, 0.0, part_states=rig.hardware.parts)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://cabinet") as client:
            text = (await client.get("/metrics")).text
    lines = set(text.splitlines())
    # the first poll, the unlock, the status poll that confirmed it
    assert 'cabinetd_part_events_total{part="lockboard/lockbus/3",counter="frames"} 3' in lines
    assert 'cabinetd_part_events_total{part="lockboard/lockbus/3",counter="unlock_frames"} 1' in lines
    assert 'cabinetd_part_events_total{part="lockboard/lockbus/3",counter="unanswered"} 1' in lines
    assert 'cabinetd_part_events_total{part="bus/lockbus",counter="frames"} 3' in lines
    assert 'cabinetd_part_connected{part="lockboard/lockbus/3"} 1' in lines

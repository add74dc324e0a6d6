"""The changes long poll over a real server: it ends when the cabinet hangs up, not at its deadline."""

from __future__ import annotations

import time

import httpx

from cabinetcloud.app import create_app
from cabinetcloud.storage import Storage
from testbed import cloudharness


def test_ok__a_long_poll_ends_when_the_cabinet_hangs_up(sqlite_storage: Storage) -> None:
    cloudharness.seeded(sqlite_storage)
    token = cloudharness.enroll(sqlite_storage)
    server = cloudharness.ServerThread(create_app(sqlite_storage, max_wait_s=30, poll_s=0.05)).start()
    base = f"http://127.0.0.1:{server.port}/v1/cabinets/sim-1/changes"
    headers = {"Authorization": f"Bearer {token}"}
    try:
        cursor = ""
        while True:  # catch up with the roster, so that the next poll has nothing to say and waits
            page = httpx.get(base, params={"cursor": cursor}, headers=headers).json()
            cursor = page["cursor"]
            if page["complete"]:
                break
        started = time.monotonic()
        try:
            httpx.get(base, params={"cursor": cursor, "wait": 30}, headers=headers, timeout=0.5)
            raise AssertionError("the poll answered although nothing changed")
        except httpx.TimeoutException:
            pass  # the cabinet gives up and closes its connection
        assert time.monotonic() - started < 2
        deadline = time.monotonic() + 3
        while server.server.server_state.tasks and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not server.server.server_state.tasks, "the poll went on waiting for a cabinet that hung up"
    finally:
        server.stop()

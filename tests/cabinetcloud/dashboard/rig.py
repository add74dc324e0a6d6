"""A fleet with one operator of each role, each with a password, and a way to sign a client in
through the dashboard's own login form."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from fastapi.testclient import TestClient

from cabinetcloud import operators
from cabinetcloud.app import create_app
from cabinetcloud.operators import Role
from cabinetcloud.projections import catch_up
from cabinetcloud.storage import Storage
from testbed import cloudharness
from tests.cabinetcloud.fleet_history import Clock
from tests.cabinetcloud.fleet_history import Fleet as StoryFleet
from tests.cabinetcloud.fleet_story import story

PASSWORD = "correct horse battery"
# The demo fleet has stores demo (with cabinet sim-1) and north; the store-manager has north, where
# the rig puts cabinet north-1, so that sim-1 is a cabinet of another store for them.
ROLES = {"ada": Role.ADMIN, "otto": Role.OPERATOR, "vic": Role.VIEWER, "mia": Role.STORE_MANAGER}
NAME_OF = {role: name for name, role in ROLES.items()}


@dataclass
class Fleet:
    storage: Storage
    app: object

    def client(self, lang: str = "en") -> TestClient:
        return TestClient(self.app, headers={"Accept-Language": lang})  # type: ignore[arg-type]


def populate(storage: Storage) -> None:
    cloudharness.seeded(storage)
    cloudharness.enroll(storage)
    cloudharness.enroll(storage, "north-1", "north")
    with storage.writing() as conn:
        for name, role in ROLES.items():
            operators.add(conn, name, role, ("north",) if role is Role.STORE_MANAGER else (), PASSWORD)


def serving(storage: Storage, clock: Callable[[], datetime] | None = None) -> Fleet:
    return Fleet(storage=storage, app=create_app(storage, max_wait_s=0.1, poll_s=0.05, clock=clock))


def tell_story(storage: Storage, root: Path) -> StoryFleet:
    """The fleet's day of fleet_story.py, projected, with an operator of each role (the store-manager
    has north); the pages are then looked at as of the day's end (fleet_story.DAY_END). The
    cabinets' ledgers stay open for more events: close the fleet when done."""
    cloudharness.seeded(storage)
    told = StoryFleet(storage, Clock(), root)
    story(told, root)
    catch_up(storage, told.clock.now)
    with storage.writing() as conn:
        for name, role in ROLES.items():
            operators.add(conn, name, role, ("north",) if role is Role.STORE_MANAGER else (), PASSWORD)
    return told


def tell(storage: Storage, root: Path) -> None:
    tell_story(storage, root).close()


def hidden(html: str, field: str) -> str:
    found = re.search(rf'name="{field}" value="([^"]*)"', html)
    assert found is not None, f"no {field} in the page"
    return found.group(1)


def sign_in(client: TestClient, role: Role) -> str:
    """Sign in through the login form; returns the session's CSRF token, read off the next page."""
    form = client.get("/dashboard/login")
    reply = client.post(
        "/dashboard/login",
        data={"name": NAME_OF[role], "password": PASSWORD, "login_token": hidden(form.text, "login_token")},
        follow_redirects=False,
    )
    assert (reply.status_code, reply.headers["location"]) == (303, "/dashboard")
    return hidden(client.get("/dashboard").text, "csrf_token")

"""A fleet with one operator of each role, each holding an API token, and the app serving it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cabinetcloud import operators
from cabinetcloud.app import create_app
from cabinetcloud.operators import Role
from cabinetcloud.storage import Storage
from testbed import cloudharness

PASSWORD = "correct horse battery"
# The demo fleet has stores demo (with cabinet sim-1) and north; the store-manager has demo.
ROLES = {"ada": Role.ADMIN, "otto": Role.OPERATOR, "vic": Role.VIEWER, "mia": Role.STORE_MANAGER}


@dataclass
class Fleet:
    storage: Storage
    client: TestClient
    cabinet_token: str
    tokens: dict[Role, str]

    def as_role(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@pytest.fixture
def fleet(storage: Storage) -> Iterator[Fleet]:
    """On each engine."""
    yield from serving(storage)


@pytest.fixture
def sqlite_fleet(sqlite_storage: Storage) -> Iterator[Fleet]:
    """On SQLite only, for what is about the HTTP layer alone."""
    yield from serving(sqlite_storage)


def serving(storage: Storage, **app_options: Any) -> Iterator[Fleet]:
    cloudharness.seeded(storage)
    cabinet_token = cloudharness.enroll(storage)
    tokens: dict[Role, str] = {}
    with storage.writing() as conn:
        for name, role in ROLES.items():
            stores = ("demo",) if role is Role.STORE_MANAGER else ()
            # Only the admin gets a password (argon2 is slow on purpose): the login tests use it.
            operators.add(conn, name, role, stores, PASSWORD if role is Role.ADMIN else None)
            tokens[role] = operators.issue_token(conn, name, "tests")[1]
    with TestClient(create_app(storage, max_wait_s=0.1, poll_s=0.05, **app_options)) as client:
        yield Fleet(storage=storage, client=client, cabinet_token=cabinet_token, tokens=tokens)

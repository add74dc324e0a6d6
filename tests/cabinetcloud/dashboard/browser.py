"""The dashboard served for real (uvicorn on loopback) to a headless Chromium: the rig of the browser
tests, with axe-core and screenshots under test-output/dashboard/ at the repository root."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

from cabinetcloud import schema
from cabinetcloud.app import create_app
from cabinetcloud.projections import catch_up
from cabinetcloud.storage import Storage
from cabinetd.ledger import NewEvent
from testbed import cloudharness
from tests.cabinetcloud.dashboard.rig import PASSWORD, tell_story
from tests.cabinetcloud.fleet_history import Fleet as StoryFleet
from tests.cabinetcloud.fleet_story import DAY_END
from tests.cabinetcloud.releases_rig import put_release

ROOT = Path(__file__).resolve().parents[3]
SHOTS = ROOT / "test-output" / "dashboard"
# A laptop screen: what an operator at a desk uses.
VIEWPORT = {"width": 1280, "height": 800}
SERIOUS = ("serious", "critical")
AXE = Axe()
# Every screenshot the browser tests take, by name; docs/dashboard.md lists the same.
PAGES = (
    "login",
    "login-failed",
    "overview",
    "store",
    "cabinet",
    "attention",
    "tickets",
    "device",
    "audit",
    "not-found",
    "token",
    "endpoints",
    "tested",
    "deliveries",
    "delivery",
    "releases",
    "rollout",
)
SHOT_NAMES = frozenset(
    {
        *(f"{page}-{lang}" for page in PAGES for lang in ("en", "zh-CN")),
        "overview-store-manager-en",
        "cabinet-viewer-en",
        "forbidden-en",
        "attention-store-manager-en",
        "commands-zh-CN",
    }
)


def serve(tmp_path: Path) -> Iterator[Served]:
    storage = cloudharness.migrated(f"sqlite:///{tmp_path / 'cloud.db'}")
    told = tell_story(storage, tmp_path)
    with storage.writing() as conn:
        # north-1's clock is off by nearly 7 minutes: flagged, as the cloud flags it at a session.
        conn.execute(
            sa.update(schema.cabinets).where(schema.cabinets.c.id == "north-1").values(skew_s=-412.0, skew_flagged=True)
        )
    _, rollout_id = put_release(storage, tmp_path, ["north-1", "sim-1"], DAY_END)
    server = cloudharness.ServerThread(create_app(storage, clock=lambda: DAY_END)).start()
    try:
        yield Served(storage, f"http://127.0.0.1:{server.port}", told, rollout_id)
    finally:
        server.stop()
        told.close()
        storage.dispose()


@dataclass
class Served:
    storage: Storage
    base: str
    told: StoryFleet
    rollout_id: int

    def slot_changes(self, cabinet: str, slot: int, was: str, now: str) -> None:
        """The cabinet records a slot's new state and syncs; the projector takes it in."""
        told = self.told.cabinets[cabinet]
        told.write(NewEvent("slot_state_changed", {"from": was, "to": now, "reason": "technician"}, slot=slot))
        self.told.sync(told)
        catch_up(self.storage, self.told.clock.now)


@dataclass
class Visit:
    """One operator's browser tab: every request it made, and what the checks found."""

    page: Page
    base: str
    requests: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.on("request", lambda request: self.requests.append(request.url))

    def go(self, path: str) -> Any:
        return self.page.goto(self.base + path)

    def sign_in(self, name: str, password: str = PASSWORD) -> None:
        self.go("/dashboard/login")
        self.page.fill("#name", name)
        self.page.fill("#password", password)
        with self.page.expect_navigation():
            self.page.click("#sign-in")

    def sign_out(self) -> None:
        with self.page.expect_navigation():
            self.page.click("#logout")

    def check(self, shot: str | None = None) -> None:
        """axe-core's serious and critical findings, a word missing from a catalogue; a screenshot."""
        where = f"{self.page.url} ({shot or 'no shot'})"
        results: Any = AXE.run(self.page)
        for violation in results.response["violations"]:
            if violation.get("impact") in SERIOUS:
                targets = [node["target"] for node in violation["nodes"]]
                self.problems.append(f"{where}: axe {violation['id']} ({violation['impact']}): {targets}")
        if "⟦" in self.page.content():
            self.problems.append(f"{where}: a word is missing from the catalogue")
        if shot is not None:
            assert shot in SHOT_NAMES, f"{shot} is not in SHOT_NAMES (and docs/dashboard.md)"
            SHOTS.mkdir(parents=True, exist_ok=True)
            self.page.screenshot(path=str(SHOTS / f"{shot}.png"), full_page=True)

    def elsewhere(self) -> list[str]:
        return [url for url in self.requests if not url.startswith(self.base + "/")]

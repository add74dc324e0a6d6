"""The dashboard served for real (uvicorn on loopback) to a headless Chromium: the rig of the browser
tests, with axe-core and screenshots under test-output/dashboard/ at the repository root."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

from cabinetcloud import ingest
from cabinetcloud.app import create_app
from cabinetcloud.auth import Caller
from cabinetcloud.storage import Storage
from cabinetproto.chain import GENESIS_HASH
from cabinetproto.wire import SessionRequest
from testbed import cloudharness
from tests.cabinetcloud.dashboard.rig import PASSWORD, populate

ROOT = Path(__file__).resolve().parents[3]
SHOTS = ROOT / "test-output" / "dashboard"
# A laptop screen: what an operator at a desk uses.
VIEWPORT = {"width": 1280, "height": 800}
SERIOUS = ("serious", "critical")
AXE = Axe()
# Every screenshot the browser tests take, by name; docs/dashboard.md lists the same.
PAGES = ("login", "login-failed", "overview", "store", "cabinet", "audit", "not-found", "token")
SHOT_NAMES = frozenset(
    {
        *(f"{page}-{lang}" for page in PAGES for lang in ("en", "zh-CN")),
        "overview-store-manager-en",
        "cabinet-viewer-en",
        "forbidden-en",
    }
)


def synced(storage: Storage, cabinet: str, store: str, *, version: str, skew_s: float, now: datetime) -> None:
    """A session as the cabinet opens it: its software, where its ledger stands, its clock."""
    request = SessionRequest(
        epoch=f"ep-{cabinet}",
        last_seq=0,
        last_hash=GENESIS_HASH,
        software_version=version,
        schema_version=7,
        cabinet_time=now - timedelta(seconds=skew_s),
    )
    ingest.open_session(storage, Caller(cabinet_id=cabinet, store=store), request, now)


def serve(tmp_path: Path) -> Iterator[tuple[Storage, str]]:
    storage = cloudharness.migrated(f"sqlite:///{tmp_path / 'cloud.db'}")
    populate(storage)
    now = datetime.now(UTC)
    synced(storage, "sim-1", "demo", version="0.1.0", skew_s=1.5, now=now)
    synced(storage, "north-1", "north", version="0.1.0", skew_s=-412.0, now=now - timedelta(hours=3))
    server = cloudharness.ServerThread(create_app(storage)).start()
    try:
        yield storage, f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()
        storage.dispose()


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

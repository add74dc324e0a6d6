"""A headless Chromium for the kiosk tests, and a simulated cabinet per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.api.kiosk.daemon import Daemon
from tests.api.kiosk.documents import Document, capture
from tests.conftest import require_system

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# A 10-inch kiosk screen in landscape.
VIEWPORT = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_system(f"chromium ({CHROMIUM})", CHROMIUM.exists())
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def cabinet(tmp_path: Path) -> Iterator[Daemon]:
    daemon = Daemon(tmp_path)
    daemon.seed()
    daemon.start()
    daemon.settled()
    yield daemon
    daemon.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    opened = browser.new_page(viewport=VIEWPORT)  # type: ignore[arg-type]
    yield opened
    opened.close()


class Shots:
    """Screenshots of what a person sees, saved under the test's own output folder."""

    def __init__(self, page: Page, folder: Path) -> None:
        self.page = page
        self.folder = folder
        self.taken: list[Path] = []

    def __call__(self, name: str) -> Path:
        path = self.folder / f"{name}.png"
        self.page.screenshot(path=str(path))
        assert path.stat().st_size > 0
        self.taken.append(path)
        return path


@pytest.fixture
def shot(page: Page, tmp_path: Path) -> Shots:
    return Shots(page, tmp_path)


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Document]:
    """Every kiosk screen as the daemon's document, captured once per test module (documents.py)."""
    return capture(tmp_path_factory.mktemp("cabinet"))

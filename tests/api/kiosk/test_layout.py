"""Every kiosk screen at every screen size cabinets ship with, in both languages, in real Chromium:
nothing scrolls, every control is inside the viewport, no text overflows its box, every touch target is
at least 48x48 CSS px, and axe-core finds no violation (contrast included).

The screens are the daemon's own documents (tests/api/kiosk/documents.py: one simulated cabinet driven
through a rent and a return), replayed into the page's real code (tests/api/kiosk/replay.py).
Screenshots of every screen at 800x480 and 1280x800 go to test-output/kiosk/ at the repository root.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page

from tests.api.kiosk.daemon import ROOT
from tests.api.kiosk.documents import Document
from tests.api.kiosk.layout_checks import layout_problems
from tests.api.kiosk.replay import deliver, open_replayed

pytestmark = pytest.mark.slow

LANDSCAPE = [(800, 480), (1024, 600), (1280, 800), (1920, 1080)]
SIZES = [*LANDSCAPE, *[(height, width) for width, height in LANDSCAPE]]
LANGUAGES = ("zh-CN", "en")
SHOTS = ROOT / "test-output" / "kiosk"
SHOT_SIZES = {(800, 480), (1280, 800)}
# Page states a document alone does not give: the stream lost, the help panel open, the report form open.
EXTRA = ("reconnecting", "help", "report")
AXE = Axe()


@pytest.fixture
def sized(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    width, height = request.param
    opened = browser.new_page(viewport={"width": width, "height": height})
    yield opened
    opened.close()


def axe_violations(page: Page) -> list[str]:
    results: Any = AXE.run(page)
    return [
        f"axe {violation['id']}: {node['target']} {node.get('failureSummary', '')}".replace("\n", " ")
        for violation in results.response["violations"]
        for node in violation["nodes"]
    ]


def check(page: Page, where: str, shoot: bool) -> list[str]:
    found = [f"{where}: {problem}" for problem in [*layout_problems(page), *axe_violations(page)]]
    if shoot:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{where.replace(' ', '-')}.png"))
    return found


def show_extra(page: Page, name: str, base: Document, lang: str, returning: Document) -> None:
    deliver(page, returning if name == "report" else base, lang)
    if name == "report":
        page.click("#actions button[data-choice='report']")
        page.click("#report-reasons button[data-reason='battery']")
        for key in "hot":
            page.click(f"#keyboard button[data-key='{key}']")
        page.wait_for_selector("#report-form", state="visible")
    elif name == "reconnecting":
        page.evaluate("() => window.__disconnect()")
        page.wait_for_selector("#reconnecting-banner", state="visible")
    else:
        page.click("#help")
        page.wait_for_selector("#help-panel", state="visible")


def hide_extra(page: Page, name: str) -> None:
    if name == "report":
        page.click("#report-back")
    elif name == "reconnecting":
        page.evaluate("() => { document.getElementById('reconnecting-banner').hidden = true; }")
    else:
        page.click("#help-close")


@pytest.mark.parametrize("sized", SIZES, ids=[f"{w}x{h}" for w, h in SIZES], indirect=True)
def test_ok__every_screen_fits_the_screen_in_both_languages(sized: Page, documents: dict[str, Document]) -> None:
    page = sized
    width, height = page.viewport_size["width"], page.viewport_size["height"]  # type: ignore[index]
    shoot = (width, height) in SHOT_SIZES
    first = next(iter(documents.values()))
    open_replayed(page, first)
    problems: list[str] = []
    for lang in LANGUAGES:
        for name, document in documents.items():
            deliver(page, document, lang)
            problems += check(page, f"{name} {width}x{height} {lang}", shoot)
        for name in EXTRA:
            show_extra(page, name, documents["dispensing-door"], lang, documents["returning-door"])
            problems += check(page, f"{name} {width}x{height} {lang}", shoot)
            hide_extra(page, name)
    assert problems == []


def test_ok__docs_kiosk_md_lists_every_screen_photographed(documents: dict[str, Document]) -> None:
    doc = (ROOT / "docs" / "kiosk.md").read_text(encoding="utf-8")
    listed = doc.split("<!-- screenshots -->")[1].split("<!-- /screenshots -->")[0]
    missing = sorted(name for name in [*documents, *EXTRA] if f"`{name}`" not in listed)
    assert missing == []

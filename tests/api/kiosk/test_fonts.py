"""Chinese renders on a cabinet installed as docs/deployment.md says: the kiosk's screens drawn in a
Chromium that sees only the fonts of the packages on that page's `apt-get install` lines (a fontconfig
file listing their font directories, read from `dpkg -L`), with no character drawn as the missing-glyph
box. The same check with no CJK font in the list finds the boxes, so it can fail.

A box is recognised by its pixels: each character is drawn on a canvas in the page's own font stack and
compared with characters no font has (Private Use Area). Widths alone cannot tell: the CJK font's box is
as wide as its glyphs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from cabinetd.api.kiosk import STATIC
from tests.api.kiosk.conftest import CHROMIUM, CHROMIUM_FLAGS
from tests.api.kiosk.daemon import ROOT
from tests.api.kiosk.documents import Document
from tests.api.kiosk.replay import deliver, open_replayed
from tests.conftest import require_system

pytestmark = pytest.mark.slow

DEPLOYMENT = ROOT / "docs" / "deployment.md"
CJK_FONT_PACKAGE = "fonts-wqy-microhei"
CJK_FAMILY = "WenQuanYi Micro Hei"
FONT_FILES = (".ttf", ".ttc", ".otf", ".otc", ".pfb", ".pcf.gz")
CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")

# Characters drawn exactly like a character no font has (U+E000, U+F8FF, U+10FFFD) are boxes.
FIND_BOXES = """
(chars) => {
  const family = getComputedStyle(document.documentElement).fontFamily;
  const canvas = document.createElement("canvas");
  canvas.width = 64;
  canvas.height = 64;
  const context = canvas.getContext("2d", { willReadFrequently: true });
  const draw = (c) => {
    context.clearRect(0, 0, 64, 64);
    context.font = `48px ${family}`;
    context.textBaseline = "top";
    context.fillText(c, 4, 4);
    const alpha = context.getImageData(0, 0, 64, 64).data;
    let hash = 0;
    for (let i = 3; i < alpha.length; i += 4) hash = (hash * 31 + alpha[i] * (i + 1)) % 2147483647;
    return hash;
  };
  const boxes = new Set(["\\ue000", "\\uf8ff", "\\u{10fffd}"].map(draw));
  return chars.filter((c) => boxes.has(draw(c)));
}
"""


def apt_packages() -> list[str]:
    """The packages docs/deployment.md's `apt-get install` lines name."""
    found: list[str] = []
    for line in DEPLOYMENT.read_text(encoding="utf-8").splitlines():
        if "apt-get install" not in line:
            continue
        words = line.split("#")[0].split("apt-get install", 1)[1].split()
        for word in words:
            if word.endswith(".deb"):  # the cabinet's own package: what it depends on
                found += package_depends(Path(word).name.split("_")[0])
            elif not word.startswith("-"):
                found.append(word)
    return found


def package_depends(package: str) -> list[str]:
    """The first choice of each of a package's Depends in debian/control (the font is the kiosk's)."""
    stanzas = (ROOT / "debian" / "control").read_text(encoding="utf-8").split("\n\n")
    stanza = next(s for s in stanzas if s.startswith(f"Package: {package}\n"))
    depends = re.search(r"^Depends:(.*?)(?=^\S)", stanza + "\nEnd:", re.M | re.S)
    assert depends is not None, package
    firsts = [choice.split("|")[0].split("(")[0].strip() for choice in depends[1].split(",")]
    return [name for name in firsts if name and not name.startswith("$")]


def font_dirs(packages: list[str]) -> list[str]:
    """The directories holding the font files these packages installed."""
    dirs: set[str] = set()
    for package in packages:
        listed = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True, check=False)
        if listed.returncode != 0:
            assert "font" not in package, f"{package} (on docs/deployment.md's apt line) is not installed here"
            continue  # e.g. cage or python3-lgpio on a test machine: they ship no fonts
        dirs |= {str(Path(path).parent) for path in listed.stdout.splitlines() if path.endswith(FONT_FILES)}
    return sorted(dirs)


def fontconfig(directory: Path, dirs: list[str]) -> Path:
    """A fontconfig file with only `dirs`: no system configuration, no other fonts."""
    listed = "".join(f"  <dir>{path}</dir>\n" for path in dirs)
    file = directory / "fonts.conf"
    file.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">\n'
        f"<fontconfig>\n{listed}  <cachedir>{directory / 'cache'}</cachedir>\n</fontconfig>\n"
    )
    return file


def chinese_characters(page: Page, documents: dict[str, Document]) -> list[str]:
    """Every CJK character of the Chinese catalogue and of every screen as the page draws it."""
    text = "".join(json.loads((STATIC / "i18n" / "zh-CN.json").read_text(encoding="utf-8")).values())
    for document in documents.values():
        deliver(page, document, "zh-CN")
        text += page.evaluate("() => document.body.innerText")
    return sorted(set(CJK.findall(text)))


def message_fonts(page: Page) -> list[str]:
    """The fonts Chromium used for the main message (CDP CSS.getPlatformFontsForNode)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": "#message"})["nodeId"]
    return [font["familyName"] for font in cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]]


@pytest.fixture
def rendered_with(tmp_path: Path, documents: dict[str, Document]) -> Iterator[object]:
    """`rendered_with(dirs)`: (characters drawn as boxes, all CJK characters, fonts of the message)."""
    require_system(f"chromium ({CHROMIUM})", CHROMIUM.exists())
    with sync_playwright() as playwright:

        def render(dirs: list[str]) -> tuple[list[str], list[str], list[str]]:
            config = fontconfig(tmp_path, dirs)
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, env={**os.environ, "FONTCONFIG_FILE": str(config)}
            )
            try:
                page = browser.new_page(viewport={"width": 800, "height": 480})
                open_replayed(page, documents["idle-offline"])
                characters = chinese_characters(page, documents)
                deliver(page, documents["idle-offline"], "zh-CN")
                boxes: list[str] = page.evaluate(FIND_BOXES, characters)
                return boxes, characters, message_fonts(page)
            finally:
                browser.close()

        yield render


def test_ok__the_deployment_installs_the_cjk_font_the_tests_install() -> None:
    assert CJK_FONT_PACKAGE in apt_packages()
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    system = re.search(r"^SYSTEM_PACKAGES := (.*)$", makefile, re.MULTILINE)
    assert system is not None
    assert CJK_FONT_PACKAGE in system.group(1).split()
    assert f'"{CJK_FAMILY}"' in (STATIC / "kiosk.css").read_text(encoding="utf-8")  # first in the stack


def test_ok__chinese_screens_render_with_only_the_deployed_fonts(rendered_with: object) -> None:
    dirs = font_dirs(apt_packages())
    assert dirs, "no font directory in the packages of docs/deployment.md's apt line"
    boxes, characters, fonts = rendered_with(dirs)  # type: ignore[operator]
    assert len(characters) > 100  # the catalogue and the screens were read
    assert boxes == []
    assert fonts == [CJK_FAMILY]


def test_fail__without_a_cjk_font_the_check_finds_the_boxes(rendered_with: object) -> None:
    latin_only = [path for path in font_dirs(["fonts-dejavu-core"]) if "wqy" not in path]
    assert latin_only, "fonts-dejavu-core is not installed: nothing to render without the CJK font"
    boxes, characters, fonts = rendered_with(latin_only)  # type: ignore[operator]
    assert boxes == characters
    assert CJK_FAMILY not in fonts

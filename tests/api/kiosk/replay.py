"""The kiosk page, its real files and code, fed captured documents instead of a live daemon.

The page is loaded from a made-up origin whose requests Playwright answers from cabinetd/api/static;
the browser's EventSource is replaced (before the page's scripts run) by one that hands the page
whatever document the test delivers, and stays open, as the daemon's stream does.
"""

from __future__ import annotations

import json
import mimetypes
from typing import Any

from playwright.sync_api import Page, Route

from cabinetd.api.kiosk import STATIC

ORIGIN = "http://kiosk.test"

EVENT_SOURCE = """
(() => {
  const sources = [];
  let current = null;
  class ReplayedEventSource {
    constructor(url) {
      this.url = url;
      sources.push(this);
      setTimeout(() => {
        if (this.onopen) this.onopen();
        if (current && this.onmessage) this.onmessage({ data: current });
      }, 0);
    }
    close() {}
  }
  window.EventSource = ReplayedEventSource;
  window.__deliver = (document) => {
    current = JSON.stringify(document);
    for (const source of sources) if (source.onmessage) source.onmessage({ data: current });
  };
  window.__disconnect = () => {
    for (const source of sources) if (source.onerror) source.onerror(new Event("error"));
  };
})();
"""


def _answer(document: dict[str, Any]) -> Any:
    def answer(route: Route) -> None:
        path = route.request.url.removeprefix(ORIGIN).split("?")[0]
        if route.request.method == "POST" or path == "/kiosk/state":
            route.fulfill(status=200, content_type="application/json", body=json.dumps(document))
        elif path == "/":
            route.fulfill(status=200, content_type="text/html", body=(STATIC / "kiosk.html").read_bytes())
        elif path.startswith("/kiosk/static/"):
            file = STATIC / path.removeprefix("/kiosk/static/")
            if not file.is_file():
                route.fulfill(status=404, body=b"")
                return
            kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
            route.fulfill(status=200, content_type=kind, body=file.read_bytes())
        else:
            route.fulfill(status=204, body=b"")

    return answer


def open_replayed(page: Page, first: dict[str, Any]) -> None:
    """Load the kiosk page showing `first`; later documents come with `deliver`."""
    page.add_init_script(EVENT_SOURCE)
    page.route(f"{ORIGIN}/**", _answer(first))
    page.goto(f"{ORIGIN}/")
    deliver(page, first)


def deliver(page: Page, document: dict[str, Any], lang: str | None = None) -> None:
    """Show `document` (in `lang`, switched with the page's own language button) and wait for it."""
    page.wait_for_function("() => typeof window.__deliver === 'function'")
    page.evaluate("(d) => window.__deliver(d)", document)
    page.wait_for_function("(v) => document.body.dataset.version === String(v)", arg=document["screen"]["version"])
    if lang is not None and page.evaluate("() => document.documentElement.lang") != lang:
        page.click("#lang")
        page.wait_for_function("(l) => document.documentElement.lang === l", arg=lang)

"""Pages rendered on the server: one Jinja2 environment (autoescape on) over the packaged templates.

Every page is sent with a Content-Security-Policy that allows nothing from elsewhere: styles, the one
script and the charts come from this server or are inlined in the page.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from importlib import resources
from typing import Any, Final
from urllib.parse import urlencode

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from cabinetcloud.admin.access import AUDIT_READ, FLEET_COMMANDS, FLEET_WRITE, Principal
from cabinetcloud.dashboard import language

# Inline styles: pygal's SVG carries its own <style>. Nothing else is allowed from anywhere but here.
POLICY: Final = (
    "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; script-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS: Final = {
    "Content-Security-Policy": POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
LANG_COOKIE_AGE_S: Final = 365 * 24 * 3600
SLOT_STATES: Final = ("empty", "charging", "ready", "dispensing", "receiving", "inspecting", "faulty", "disabled")


def when(value: datetime | None) -> str:
    """A time as operators read it across time zones: UTC, to the minute."""
    if value is None:
        return "–"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def cabinet_time(value: str) -> str:
    """A time as a cabinet sent it: to the second when it reads as a time, else as it came."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    if parsed.tzinfo is None:
        return value
    return parsed.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@functools.cache
def environment() -> jinja2.Environment:
    folder = resources.files("cabinetcloud.dashboard") / "templates"
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = when
    env.filters["cabinet_time"] = cabinet_time
    # The slot states the catalogues name (docs/slot-states.md); another shows as "unknown".
    env.globals["slot_states"] = SLOT_STATES
    return env


def switch_url(request: Request, lang: str) -> str:
    """This page in the other language: the same path and query, `lang` replaced."""
    query = [(key, value) for key, value in request.query_params.multi_items() if key != "lang"]
    return f"{request.url.path}?{urlencode([*query, ('lang', lang)])}"


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    lang = language.of(request)
    words = language.Words(lang)
    body = (
        environment()
        .get_template(template)
        .render(
            t=words,
            lang=lang,
            languages=[(other, switch_url(request, other)) for other in language.LANGUAGES],
            path=request.url.path,
            **{"who": None, "csrf": None, **context},
        )
    )
    response = HTMLResponse(body, status_code=status, headers=HEADERS)
    if language.switched(request) is not None:
        response.set_cookie(
            language.COOKIE, lang, max_age=LANG_COOKIE_AGE_S, path="/", httponly=True, samesite="strict"
        )
    return response


def signed(request: Request, who: Principal, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page for a signed-in operator: their name, the session's CSRF token for its forms, and what
    their role lets them do, so that a control they may not use is not shown at all."""
    can = {
        "write": who.role in FLEET_WRITE,
        "commands": who.role in FLEET_COMMANDS,
        "audit": who.role in AUDIT_READ,
    }
    return page(request, template, status, who=who, csrf=who.csrf_token, can=can, **context)

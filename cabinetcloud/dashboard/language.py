"""The dashboard's two languages: which one a request gets, and the one catalogue of words for each.

`?lang=` switches (and is kept in the `lang` cookie); otherwise the cookie; otherwise the browser's
Accept-Language; otherwise Chinese, the language of the stores (the kiosk's default too).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Mapping
from importlib import resources
from typing import Final

from starlette.requests import Request

log = logging.getLogger(__name__)

LANGUAGES: Final = ("zh-CN", "en")
DEFAULT: Final = "zh-CN"
COOKIE: Final = "lang"
# A word no catalogue has is shown like this, so that a page test can find it.
MISSING: Final = "⟦{key}⟧"


@functools.cache
def catalogue(lang: str) -> Mapping[str, str]:
    text = (resources.files("cabinetcloud.dashboard") / "catalogue" / f"{lang}.json").read_text(encoding="utf-8")
    words: dict[str, str] = json.loads(text)
    return words


def known(value: str | None) -> str | None:
    """The language a tag names (`zh`, `zh-cn`, `zh-Hans-CN` → zh-CN; `en-GB` → en), or None."""
    if not value:
        return None
    primary = value.strip().lower().split("-")[0].split("_")[0]
    return {"zh": "zh-CN", "en": "en"}.get(primary)


def from_accept_language(header: str) -> str | None:
    """The first of our languages by the header's q-values (RFC 9110 §12.5.4), or None."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        lang = known(tag)
        if lang is not None and quality > 0:
            ranked.append((-quality, index, lang))
    return min(ranked)[2] if ranked else None


def switched(request: Request) -> str | None:
    """The language asked for with `?lang=`, when it is one of ours."""
    return known(request.query_params.get("lang"))


def of(request: Request) -> str:
    return (
        switched(request)
        or known(request.cookies.get(COOKIE))
        or from_accept_language(request.headers.get("accept-language", ""))
        or DEFAULT
    )


class Words:
    """A page's words in one language: `words("key", name=...)` fills `{name}` placeholders."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self._words = catalogue(lang)

    def has(self, key: str) -> bool:
        """Whether the catalogue names this: a page shows a value it does not know as it is."""
        return key in self._words

    def __call__(self, key: str, **values: object) -> str:
        text = self._words.get(key)
        if text is None:
            log.warning("the %s catalogue has no %r", self.lang, key)
            return MISSING.format(key=key)
        return text.format(**values) if values else text

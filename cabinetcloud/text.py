"""Text the cloud can store and show, and how it names a place inside a JSON body.

PostgreSQL text cannot hold NUL, and a lone surrogate is not Unicode, so it cannot be encoded into
a UTF-8 column or reply. The cabinet's ledger never writes either; a body that carries one is
refused (or, inside an event, dead-lettered) with the place named, never passed on to a column.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Final

Place = tuple[str | int, ...]

# The longest reason the cloud writes into a reply or a dead letter: a payload error can quote a
# path hundreds of keys long.
DETAIL_LIMIT: Final = 500


def flaw(text: str) -> str | None:
    """What keeps `text` out of a column ('a NUL character', 'a lone surrogate'), or None."""
    if "\x00" in text:
        return "a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "a lone surrogate"
    return None


def storable_text(text: str) -> bool:
    return flaw(text) is None


def printable(text: str, limit: int = DETAIL_LIMIT) -> str:
    """`text` with NUL and lone surrogates written as escapes and cut to `limit` characters: safe for
    any column and any reply, even when it quotes what a cabinet sent."""
    safe = text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")
    return safe if len(safe) <= limit else safe[: limit - 1] + "…"


def place_text(root: str, place: Place) -> str:
    """`body.events[0].payload["\\ud800"]`: where a value sits, in the form a person reads."""
    out = root
    for part in place:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.isascii() and part.isidentifier():
            out += f".{part}"
        else:
            out += f"[{json.dumps(part, ensure_ascii=True)}]"
    return out


def find(
    value: Any,
    leaf: Callable[[Any], str | None],
    *,
    keys: bool = False,
    skip: Callable[[Place], bool] = lambda _place: False,
) -> tuple[Place, str] | None:
    """The first place (in document order) where `leaf` finds fault with a value of a parsed JSON
    value (or, with `keys`, where a key is not storable text), with the reason; `skip` leaves out the
    insides of the places it names. Iterative, so a deep value does not exhaust the stack."""
    stack: list[tuple[Place, Any]] = [((), value)]
    while stack:
        place, item = stack.pop()
        if isinstance(item, dict):
            if skip(place):
                continue
            children: list[tuple[Place, Any]] = []
            for key, child in item.items():
                problem = flaw(key) if keys else None
                if problem is not None:
                    return (*place, key), f"a key with {problem}"
                children.append(((*place, key), child))
            stack.extend(reversed(children))
        elif isinstance(item, list):
            if not skip(place):
                stack.extend(reversed([((*place, index), child) for index, child in enumerate(item)]))
        else:
            problem = leaf(item)
            if problem is not None:
                return place, problem
    return None


def text_flaw(item: Any) -> str | None:
    """For `find`: what is wrong with a text value, or None (numbers and the rest are not text)."""
    problem = flaw(item) if isinstance(item, str) else None
    return None if problem is None else f"text with {problem}"

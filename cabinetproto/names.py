"""Names in every language: a work type's or device model's `names`, language tag → name.

The plain `name` beside them stays the fleet's default (the first language given), so a cabinet or a
cloud that knows nothing of `names` keeps working with it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

# A language, an optional script and an optional region, as BCP 47 writes them: en, zh-CN, zh-Hans,
# pt-BR, es-419. Other forms ("zh_CN", "ZH", "english") are refused rather than guessed at.
LANGUAGE_TAG: Final = re.compile(r"^[a-z]{2,3}(-[A-Z][a-z]{3})?(-(?:[A-Z]{2}|[0-9]{3}))?$")
MAX_NAME: Final = 200


class NamesError(ValueError):
    """A names table that cannot be used: the message says which language and why."""


def check_names(names: Mapping[str, str]) -> dict[str, str]:
    """The names as given, or NamesError naming the first bad language tag or name."""
    if not names:
        raise NamesError('needs at least one language, e.g. { en = "Price tags" }')
    for tag, name in names.items():
        if not LANGUAGE_TAG.match(tag):
            raise NamesError(f"language tag {tag!r} is not of the form 'en', 'zh-CN' or 'zh-Hans'")
        if not isinstance(name, str) or not name.strip():
            raise NamesError(f"the {tag} name is empty")
        if len(name) > MAX_NAME:
            raise NamesError(f"the {tag} name is longer than {MAX_NAME} characters")
    return dict(names)


def default_name(names: Mapping[str, str]) -> str:
    """The plain name: the first language's."""
    return next(iter(names.values()))

"""Secrets out of what the control socket shows (`config show`, `diag bundle`).

The cloud token lives in its own file and is never read here: config names only its path. Anything
that holds a secret itself (a key named like a token, secret, password or PIN hash, or a URL with a
password in it) is replaced by `<redacted>`. GPIO `pin` numbers are wiring, not PINs.
"""

from __future__ import annotations

import re
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

REDACTED: Final = "<redacted>"
_SECRET_KEY: Final = re.compile(r"(^|_)(token|secret|password|passwd|pin_hash|api_key|private_key)$", re.IGNORECASE)


def is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(key))


def _url_without_password(text: str) -> str:
    try:
        parts = urlsplit(text)
    except ValueError:
        return text
    if parts.password is None:
        return text
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return urlunsplit(parts._replace(netloc=f"{parts.username}:{REDACTED}@{host}{port}"))


def redact(value: Any) -> Any:
    """A copy of JSON-like data with every secret replaced."""
    if isinstance(value, dict):
        # An unset secret stays visible as unset: that is worth knowing and gives nothing away.
        return {
            key: REDACTED if is_secret_key(str(key)) and inner is not None else redact(inner)
            for key, inner in value.items()
        }
    if isinstance(value, list):
        return [redact(inner) for inner in value]
    if isinstance(value, str) and "@" in value and "://" in value:
        return _url_without_password(value)
    return value

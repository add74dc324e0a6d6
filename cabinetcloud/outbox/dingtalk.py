"""DingTalk robots with the signature in the form DingTalk checks.

A custom robot with 加签 (signing) takes `timestamp` (ms) and `sign` in the URL, `sign` being
base64(HMAC-SHA256(secret, "timestamp\\nsecret")) URL-encoded once (DingTalk's open platform, "custom
robot" security settings). Apprise's plugin URL-encodes the signature itself and then hands it to
`requests` as a parameter, which encodes it again: DingTalk answers a doubly encoded signature with
310000 "sign not match". This plugin is Apprise's with the signature left for `requests` to encode once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

from apprise.plugins.dingtalk import NotifyDingTalk


class DingTalkSignedOnce(NotifyDingTalk):  # type: ignore[misc]  # Apprise is untyped
    def get_signature(self) -> tuple[str, str]:
        timestamp = str(round(time.time() * 1000))
        digest = hmac.new(self.secret.encode(), f"{timestamp}\n{self.secret}".encode(), hashlib.sha256).digest()
        return timestamp, base64.b64encode(digest).decode()


def plugin(url: str) -> Any:
    """The plugin for a `dingtalk://` URL, or None when Apprise cannot read it."""
    parsed = NotifyDingTalk.parse_url(url)
    if not parsed:
        return None
    try:
        return DingTalkSignedOnce(**parsed)
    except (TypeError, ValueError):
        return None

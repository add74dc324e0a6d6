"""Webhooks in the Standard Webhooks form: a JSON body `{type, timestamp, data}` and the headers
`webhook-id` (the same on every attempt, for the receiver to deduplicate on), `webhook-timestamp`
(seconds, the attempt's time) and `webhook-signature` (`v1,<base64 HMAC-SHA256>` of
`id.timestamp.body`, by the `standardwebhooks` library), one signature per secret of the endpoint while a
key is rotated, separated by spaces.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

import httpx
from standardwebhooks import Webhook

from cabinetcloud.outbox import netguard
from cabinetcloud.outbox.queue import Outcome
from cabinetcloud.outbox.schedule import retry_after
from cabinetproto import __version__

TIMEOUT_S: Final = 10.0
SECRET_PREFIX: Final = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signed_headers(secrets_: Sequence[str], message_id: str, at: datetime, body: str) -> dict[str, str]:
    signatures = " ".join(Webhook(secret).sign(message_id, at, body) for secret in secrets_)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signatures,
        "content-type": "application/json",
        "user-agent": f"cabinet-cloud/{__version__}",
    }


def _classify(reply: httpx.Response, now: datetime) -> Outcome:
    code = reply.status_code
    if 200 <= code < 300:
        return Outcome("delivered", code, answer=reply.text[:2000])
    if code == 410:
        return Outcome("gone", code, "the receiver answered 410 Gone: endpoint disabled")
    if 300 <= code < 400:
        where = reply.headers.get("location", "?")
        return Outcome("retry", code, f"answered {code} to {where}: redirects are not followed")
    text = reply.text[:300].strip()
    return Outcome(
        "retry",
        code,
        f"answered {code}" + (f": {text}" if text else ""),
        retry_after(reply.headers.get("retry-after"), now),
    )


def send(
    url: str,
    secrets_: Sequence[str],
    message_id: str,
    body: str,
    now: datetime,
    *,
    allow_private: bool,
    timeout_s: float = TIMEOUT_S,
) -> Outcome:
    # Signed at the moment it is sent (the receiver checks the timestamp against its own clock); `now`
    # is the schedule's time, which reads Retry-After.
    headers = signed_headers(secrets_, message_id, datetime.now(UTC), body)
    try:
        http = netguard.client(allow_private=allow_private, timeout_s=timeout_s)
        reply = http.post(url, content=body.encode(), headers=headers)
    except httpx.TimeoutException:
        return Outcome("retry", None, f"no answer within {timeout_s:g} s")
    except httpx.ConnectError as exc:
        if isinstance(exc.__cause__, netguard.UnsafeAddress) or "refused unless the endpoint allows" in str(exc):
            return Outcome("refused", None, str(exc))
        return Outcome("retry", None, f"could not connect: {exc}")
    except httpx.HTTPError as exc:
        return Outcome("retry", None, f"{type(exc).__name__}: {exc}")
    return _classify(reply, now)

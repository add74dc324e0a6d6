"""PIN hashes for privileged badges (technician, manager): made by the cloud, checked by the cabinet.

The format travels in the staff replica, so both sides share it: `scrypt$N$r$p$salt$hash`, salt and
hash in unpadded URL-safe base64. A PIN is a few digits and cannot be made strong by hashing; scrypt
only makes a stolen replica slower to search, and the cabinet backs off after failed attempts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from typing import Final

_N: Final = 2**14
_R: Final = 8
_P: Final = 1


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_pin(pin: str, salt: bytes | None = None) -> str:
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_pin(pin: str, pin_hash: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = pin_hash.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(digest)
        actual = hashlib.scrypt(pin.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected))
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)

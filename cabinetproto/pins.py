"""PIN hashes for privileged badges (technician, manager): made by the cloud, checked by the cabinet.

The format travels in the staff replica, so both sides share it: `scrypt$N$r$p$salt$hash`, salt and
hash in unpadded URL-safe base64. A PIN is a few digits and cannot be made strong by hashing; scrypt
only makes a stolen replica slower to search, and the cabinet backs off after failed attempts.

A PIN of a role that unlocks slots has MIN_PIN_DIGITS digits at least: a copied database or replica
can be searched offline, where no backoff applies. At these scrypt costs one core tries all 10,000
four-digit PINs of a hash in well under an hour (0.16 s a guess on the build machine); six digits
make every search 100 times longer, time to change the PINs once a copy is known to be lost.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from typing import Final

MIN_PIN_DIGITS: Final = 6
MAX_PIN_DIGITS: Final = 8

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

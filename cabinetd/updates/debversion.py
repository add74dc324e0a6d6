"""Debian version numbers: parsing and their order, as dpkg compares them (deb-version(7)).

A pure function, so that the daemon decides "newer, same or older" without a subprocess, and the same
rule is property-tested against `dpkg --compare-versions` (tests/updates/test_debversion.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

_EPOCH: Final = re.compile(r"^[0-9]+$")
_UPSTREAM: Final = re.compile(r"^[0-9][A-Za-z0-9.+~-]*$")
_UPSTREAM_NO_HYPHEN: Final = re.compile(r"^[0-9][A-Za-z0-9.+~]*$")
_REVISION: Final = re.compile(r"^[A-Za-z0-9.+~]+$")


class VersionError(ValueError):
    """Not a Debian version; the message quotes it."""


@dataclass(frozen=True)
class DebianVersion:
    epoch: int
    upstream: str
    revision: str  # "" when the version has none

    @classmethod
    def parse(cls, text: str) -> DebianVersion:
        if not text or text != text.strip():
            raise VersionError(f"{text!r} is not a Debian version: empty or with spaces")
        epoch, colon, rest = text.partition(":")
        if not colon:
            epoch, rest = "0", text
        elif not _EPOCH.match(epoch):
            raise VersionError(f"{text!r} is not a Debian version: the epoch {epoch!r} is not a number")
        upstream, hyphen, revision = rest.rpartition("-")
        if not hyphen:
            upstream, revision = rest, ""
        elif not _REVISION.match(revision):
            raise VersionError(f"{text!r} is not a Debian version: bad revision {revision!r}")
        pattern = _UPSTREAM if hyphen else _UPSTREAM_NO_HYPHEN
        if not pattern.match(upstream):
            raise VersionError(
                f"{text!r} is not a Debian version: the upstream part {upstream!r} must start with a digit "
                "and hold only letters, digits and . + ~ -"
            )
        return cls(int(epoch), upstream, revision)


def _order(char: str) -> int:
    """A character's weight: `~` before the end of the part, the end before letters, letters before
    everything else that is not a digit."""
    if char == "~":
        return -1
    if char.isascii() and char.isalpha():
        return ord(char)
    return ord(char) + 256


def _digit(text: str, at: int) -> bool:
    return at < len(text) and "0" <= text[at] <= "9"


def _compare_part(a: str, b: str) -> int:
    """dpkg's verrevcmp: alternate runs of non-digits (compared by weight) and of digits (by value)."""
    i = j = 0
    while i < len(a) or j < len(b):
        while (i < len(a) and not _digit(a, i)) or (j < len(b) and not _digit(b, j)):
            ac = 0 if i >= len(a) or _digit(a, i) else _order(a[i])
            bc = 0 if j >= len(b) or _digit(b, j) else _order(b[j])
            if ac != bc:
                return -1 if ac < bc else 1
            i, j = i + 1, j + 1
        start_i, start_j = i, j
        while _digit(a, i):
            i += 1
        while _digit(b, j):
            j += 1
        left, right = int(a[start_i:i] or "0"), int(b[start_j:j] or "0")
        if left != right:
            return -1 if left < right else 1
    return 0


def compare(a: str, b: str) -> int:
    """-1, 0 or 1 as version `a` sorts before, with or after `b`; VersionError for a non-version."""
    left, right = DebianVersion.parse(a), DebianVersion.parse(b)
    if left.epoch != right.epoch:
        return -1 if left.epoch < right.epoch else 1
    return _compare_part(left.upstream, right.upstream) or _compare_part(left.revision, right.revision)

"""Debian version numbers: their form and their order, as dpkg compares them (deb-version(7)).

Pure functions, shared by the fleet (a rollout that would downgrade a cabinet is refused unless the
operator allows it) and anyone else who must order two package versions without asking dpkg.
"""

from __future__ import annotations

import re
from typing import Final

_DIGITS: Final = frozenset("0123456789")
_LETTERS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
# [epoch:]upstream[-revision]: the upstream part starts with a digit; a hyphen only when a revision follows.
_FORM: Final = re.compile(
    r"^(?:(?P<epoch>[0-9]+):)?(?P<upstream>[0-9][A-Za-z0-9.+~-]*?)(?:-(?P<revision>[A-Za-z0-9.+~]+))?$"
)


class VersionError(ValueError):
    """Text that is not a Debian version number; the message quotes it."""


def check(version: str) -> str:
    """The version itself, or VersionError saying why dpkg would not take it."""
    if not _FORM.match(version) or version.endswith("-"):
        raise VersionError(
            f"{version!r} is not a Debian version: [epoch:]upstream[-revision], the upstream part "
            "starting with a digit, of letters, digits and . + ~ (and - before a revision)"
        )
    return version


def _split(version: str) -> tuple[int, str, str]:
    epoch, colon, rest = version.partition(":")
    if not colon or not epoch.isdigit():
        epoch, rest = "0", version
    upstream, hyphen, revision = rest.rpartition("-")
    if not hyphen:
        upstream, revision = rest, ""
    return int(epoch), upstream, revision


def _weight(text: str, at: int) -> int:
    """dpkg's order of a character outside a run of digits: ~ before the end (and a digit, where the
    other side still has letters), the end before letters, letters before everything else."""
    if at >= len(text) or text[at] in _DIGITS:
        return 0
    char = text[at]
    if char == "~":
        return -1
    if char in _LETTERS:
        return ord(char)
    return ord(char) + 256


def _part_order(a: str, b: str) -> int:
    i = j = 0
    while i < len(a) or j < len(b):
        while (i < len(a) and a[i] not in _DIGITS) or (j < len(b) and b[j] not in _DIGITS):
            left, right = _weight(a, i), _weight(b, j)
            if left != right:
                return left - right
            i, j = i + 1, j + 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        first_difference = 0
        while i < len(a) and a[i] in _DIGITS and j < len(b) and b[j] in _DIGITS:
            first_difference = first_difference or ord(a[i]) - ord(b[j])
            i, j = i + 1, j + 1
        if i < len(a) and a[i] in _DIGITS:
            return 1
        if j < len(b) and b[j] in _DIGITS:
            return -1
        if first_difference:
            return first_difference
    return 0


def compare(a: str, b: str) -> int:
    """Below 0 when `a` is older than `b`, 0 when dpkg holds them equal, above 0 when newer."""
    epoch_a, upstream_a, revision_a = _split(a)
    epoch_b, upstream_b, revision_b = _split(b)
    if epoch_a != epoch_b:
        return epoch_a - epoch_b
    return _part_order(upstream_a, upstream_b) or _part_order(revision_a, revision_b)

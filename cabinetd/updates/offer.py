"""An offered release as the fleet's `offer_update` command gives it, and why one is refused.

The offer's own words are checked before anything is downloaded (a signature that is not base64, a
version that is not a Debian version, the installed one or an older one); the package's bytes and its
control fields after (cabinetd/updates/package.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, get_args

from cabinetproto.debversion import VersionError, check, compare
from cabinetproto.releasesig import BadSignature, decode_signature
from cabinetproto.update_events import RefusedBecause
from cabinetproto.wire import Command

DETAIL_MAX: Final = 500  # the events' Text
REASONS: Final = frozenset(get_args(RefusedBecause))
# A release id names files in the updates directory: no path separators, no dot files.
RELEASE_ID: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
SHA256: Final = re.compile(r"^[0-9a-f]{64}$")
VERSION_MAX: Final = 64  # the events' Version


class Refused(Exception):
    """The release is not taken: `reason` is the update_refused event's, the message its detail."""

    def __init__(self, reason: RefusedBecause, detail: str) -> None:
        super().__init__(detail)
        self.reason: RefusedBecause = reason
        self.detail = detail if len(detail) <= DETAIL_MAX else detail[: DETAIL_MAX - 3] + "..."


@dataclass(frozen=True)
class Offer:
    release: str
    version: str
    sha256: str
    size: int
    signature: str  # base64, as offered
    allow_downgrade: bool

    @classmethod
    def from_command(cls, command: Command) -> Offer:
        """The arguments the cloud checked when it queued the command (cabinetproto.wire.COMMAND_ARGS);
        a missing or mistyped one is a ValueError naming it."""
        args = command.args

        def text(name: str) -> str:
            value = args.get(name)
            if not isinstance(value, str) or not value:
                raise ValueError(f"offer_update {command.command_id}: argument {name!r} must be a non-empty string")
            return value

        size = args.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 1:
            raise ValueError(f"offer_update {command.command_id}: argument 'size' must be a positive number of bytes")
        allow = args.get("allow_downgrade", False)
        if not isinstance(allow, bool):
            raise ValueError(f"offer_update {command.command_id}: argument 'allow_downgrade' must be true or false")
        release, version, sha256 = text("release"), text("version"), text("sha256").lower()
        if not RELEASE_ID.match(release):
            raise ValueError(f"offer_update {command.command_id}: release id {release!r} is not a release id")
        if len(version) > VERSION_MAX:
            raise ValueError(f"offer_update {command.command_id}: version is longer than {VERSION_MAX} characters")
        if not SHA256.match(sha256):
            raise ValueError(f"offer_update {command.command_id}: sha256 {sha256!r} is not 64 hex digits")
        return cls(release, version, sha256, size, text("signature"), allow)

    @property
    def package(self) -> str:
        return f"{self.release}.deb"

    def signature_bytes(self) -> bytes:
        try:
            return decode_signature(self.signature)
        except BadSignature as exc:
            raise Refused("signature", f"release {self.release}: {exc}") from None


def judge_version(release: str, version: str, installed: str, *, allow_downgrade: bool) -> None:
    """Raise Refused unless `version` may replace `installed`: newer, or older with the operator's leave."""
    try:
        order = compare(check(version), check(installed))
    except VersionError as exc:
        raise Refused("package", f"release {release}: {exc}") from None
    if order == 0:
        raise Refused("same_version", f"release {release}: version {version} is the one installed")
    if order < 0 and not allow_downgrade:
        raise Refused(
            "downgrade",
            f"release {release}: version {version} is older than the installed {installed}; "
            "offer it with allow_downgrade to go back",
        )

"""The events of a signed update's way onto the cabinet (docs/updates.md), declared apart from
cabinetproto/events.py so that module stays small; it imports this one, so every event type is known
wherever events are.

One release goes offered → downloaded → installing → installed, or stops at refused, or comes back as
rolled_back. `release` is the cloud's release id; `version` the Debian version of the offered package.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from cabinetproto.events import Ident, Payload, Text, declare

Version = Annotated[str, Field(min_length=1, max_length=64)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
# Why a release was not taken: its signature does not verify with the cabinet's release key, its bytes
# are not the offered sha256, the download ended short, it is older than the installed version (and
# the operator did not allow a downgrade), it is the installed version, or it is not a cabinetd package.
RefusedBecause = Literal["signature", "sha256", "truncated", "downgrade", "same_version", "package", "download"]


@declare("update_offered")
class UpdateOffered(Payload):
    release: Ident
    version: Version
    allow_downgrade: bool = False


@declare("update_downloaded")
class UpdateDownloaded(Payload):
    release: Ident
    version: Version
    sha256: Sha256
    size: Annotated[int, Field(ge=1)]


@declare("update_refused")
class UpdateRefused(Payload):
    release: Ident
    version: Version
    reason: RefusedBecause
    detail: Text = ""


@declare("update_installing")
class UpdateInstalling(Payload):
    release: Ident
    version: Version
    from_version: Version


@declare("update_installed")
class UpdateInstalled(Payload):
    release: Ident
    version: Version
    from_version: Version


@declare("update_rolled_back")
class UpdateRolledBack(Payload):
    release: Ident
    version: Version
    to_version: Version
    reason: Text

"""The events of the cabinet's app package cache (docs/app-packages.md, "At the cabinet"), declared
apart from cabinetproto/events.py so that module stays small; it imports this one, so every event
type is known wherever events are.

An app version a work type names (by its sha256) is cached once downloaded and checked, refused when
the bytes the cloud served are not that app version, and removed when no work type needs it any more.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from cabinetproto.events import Ident, Payload, Text, declare

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
PackageName = Annotated[str, Field(min_length=1, max_length=200)]
VersionCode = Annotated[int, Field(ge=1)]
# Why a download was not taken into the cache: the cloud does not serve it (404, 401, 403), the body
# ended before its Content-Length, it is not the size the work type names, its sha256 is not the
# one it was fetched by, it is not a signed APK (or its signature does not verify), it is another
# package or version than the work type names, or it is signed by another key than the work type
# names.
RefusedBecause = Literal["not_served", "truncated", "size", "sha256", "not_apk", "package", "version_code", "signer"]
# Why a file left the cache: no work type needs it any more, or it is not the file its name says.
RemovedBecause = Literal["unneeded", "corrupt"]


@declare("app_package_cached")
class AppPackageCached(Payload):
    package: PackageName
    version_code: VersionCode
    sha256: Sha256
    size: Annotated[int, Field(ge=1)]
    signer_sha256: Sha256
    work_types: list[Ident]


@declare("app_package_refused")
class AppPackageRefused(Payload):
    package: PackageName
    version_code: VersionCode | None = None
    sha256: Sha256
    reason: RefusedBecause
    detail: Text = ""


@declare("app_package_removed")
class AppPackageRemoved(Payload):
    sha256: Sha256
    package: PackageName | None = None  # None for a file the cache could not read
    size: Annotated[int, Field(ge=0)]
    reason: RemovedBecause

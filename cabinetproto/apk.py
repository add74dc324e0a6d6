"""What an app package says of itself (docs/app-packages.md): its package name and version from the
binary AndroidManifest.xml, and its signer from the APK Signature Scheme v2/v3 block, verified.

The fleet reads these at upload, so an operator cannot name an APK for something it is not; the cabinet
reads them again before a downloaded file enters its package cache, so a file changed on the way or
signed by someone else never reaches a handheld. The manifest is decoded with apkInspector, the signing
block found with apksigcopier and verified with apksigtool, the same checks Android's package manager
makes before it installs (it refuses an APK whose v2/v3 digests or signatures do not verify).

Decided: an APK must carry a v2 or v3 signature with exactly one signer. Every stock handheld a store
runs is Android 8 or newer, where build tools sign v2 and v3 by default; a v1-only (JAR-signed) APK is
refused, because its signature covers the entries and not the file and the cabinet could not tell a
re-packed one. The signer is the sha256 of the first certificate's DER, the digest
`apksigner verify --print-certs` prints as "certificate SHA-256 digest".
"""

from __future__ import annotations

import hashlib
import io
import tempfile
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import apksigcopier
import apksigtool
from apkInspector.axml import get_manifest
from apkInspector.extract import extract_file_based_on_header_info
from apkInspector.headers import ZipEntry

ANDROID_NS: Final = "{http://schemas.android.com/apk/res/android}"
MANIFEST: Final = "AndroidManifest.xml"
NO_V2: Final = "has no APK Signature Scheme v2 or v3 block (a v1-only signature is not accepted)"


class ApkError(ValueError):
    """An app package the cabinet will not take; the message names the file and what is wrong."""


@dataclass(frozen=True)
class ApkFacts:
    package: str
    version_code: int
    version_name: str | None
    sha256: str
    size: int
    signer_sha256: str


def read_apk_file(path: Path, name: str | None = None) -> ApkFacts:
    """The facts of the APK at `path`, its signature verified; ApkError names `name` (the path by default)."""
    name = name or str(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ApkError(f"{name}: cannot be read: {error.strerror}") from None
    package, version_code, version_name = manifest_facts(data, name)
    return ApkFacts(
        package=package,
        version_code=version_code,
        version_name=version_name,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        signer_sha256=verified_signer(path, name),
    )


def read_apk(data: bytes, name: str) -> ApkFacts:
    """The same for bytes in memory (an upload); the signature check reads a file, so one is written."""
    with tempfile.NamedTemporaryFile(suffix=".apk") as file:
        file.write(data)
        file.flush()
        return read_apk_file(Path(file.name), name)


def manifest_facts(data: bytes, name: str) -> tuple[str, int, str | None]:
    """(package, versionCode, versionName) from the binary manifest."""
    if not data.startswith(b"PK"):
        raise ApkError(f"{name}: not an APK (not a zip archive)")
    try:
        apk = io.BytesIO(data)
        entry = ZipEntry.parse_single(apk, MANIFEST)
        if MANIFEST not in entry.central_directory.entries:
            raise ApkError(f"{name}: has no {MANIFEST}")
        raw = extract_file_based_on_header_info(
            apk, entry.local_headers[MANIFEST].to_dict(), entry.central_directory.entries[MANIFEST].to_dict()
        )[0]
        root = ElementTree.fromstring(get_manifest(io.BytesIO(raw)))
    except ApkError:
        raise
    except Exception as error:  # a garbled archive or manifest fails anywhere in the decoders
        raise ApkError(f"{name}: its {MANIFEST} cannot be read ({type(error).__name__}: {error})") from None
    package = root.get("package")
    code = root.get(f"{ANDROID_NS}versionCode")
    if root.tag != "manifest" or not package:
        raise ApkError(f"{name}: its {MANIFEST} names no package")
    if code is None or not code.isdigit() or int(code) < 1:
        raise ApkError(f"{name}: its {MANIFEST} has no android:versionCode (found {code!r})")
    return package, int(code), root.get(f"{ANDROID_NS}versionName")


def verified_signer(path: Path, name: str) -> str:
    """The sha256 of the signer's certificate, once the v3 (else v2) block verifies over the whole file."""
    try:
        found = apksigcopier.extract_v2_sig(str(path))
    except apksigcopier.NoAPKSigningBlock:
        raise ApkError(f"{name}: {NO_V2}") from None
    except Exception as error:
        raise ApkError(f"{name}: its signing block cannot be found ({error})") from None
    if found is None:
        raise ApkError(f"{name}: {NO_V2}")
    try:
        schemes = [pair.value for pair in apksigtool.parse_apk_signing_block(found[1]).pairs]
    except Exception as error:
        raise ApkError(f"{name}: its APK Signing Block is malformed ({type(error).__name__})") from None
    blocks = {scheme.version: scheme for scheme in schemes if isinstance(scheme, apksigtool.APKSignatureSchemeBlock)}
    scheme = blocks.get(3) or blocks.get(2)
    if scheme is None:
        raise ApkError(f"{name}: {NO_V2}")
    if len(scheme.signers) != 1:
        raise ApkError(f"{name}: has {len(scheme.signers)} signers in its v{scheme.version} block, not one")
    try:
        verify = (
            apksigtool.verify_apk_signature_scheme_v3
            if scheme.version == 3
            else apksigtool.verify_apk_signature_scheme_v2
        )
        verify(scheme.signers, str(path))
    except apksigtool.VerificationError as error:
        # apksigtool's digest message quotes both digests as bytes; the person needs only what it means.
        why = "its contents were changed after signing" if str(error).startswith("Digest mismatch") else str(error)
        raise ApkError(f"{name}: its v{scheme.version} signature does not verify ({why})") from None
    except KeyError as error:
        raise ApkError(f"{name}: is signed with an algorithm the cabinet cannot check (id {error})") from None
    except Exception as error:
        raise ApkError(f"{name}: its v{scheme.version} signature cannot be checked ({type(error).__name__})") from None
    certificate: bytes = scheme.signers[0].signed_data.certificates[0].data
    return hashlib.sha256(certificate).hexdigest()

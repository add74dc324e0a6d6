"""Real app packages for tests: a zip with a binary AndroidManifest.xml and a classes.dex, signed with
APK Signature Scheme v2 by a test RSA key and its self-signed certificate.

Built from the formats themselves (the Android resource chunk layout of frameworks/base
ResourceTypes.h for the manifest; source.android.com "APK Signature Scheme v2" for the signing
block), so that the cabinet's reader is checked against what build tools write, not against itself.
Each named signer has its own key, so "another signer" is a different certificate.
"""

from __future__ import annotations

import datetime
import functools
import hashlib
import io
import struct
import zipfile
from dataclasses import dataclass
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

ANDROID_URI: Final = "http://schemas.android.com/apk/res/android"
# Attribute resource ids (android.R.attr): the package manager finds attributes by these.
ATTR_IDS: Final = {"versionCode": 0x0101021B, "versionName": 0x0101021C, "minSdkVersion": 0x0101020C}
TYPE_STRING: Final = 0x03
TYPE_INT_DEC: Final = 0x10
NO_INDEX: Final = 0xFFFFFFFF
V2_BLOCK_ID: Final = 0x7109871A
RSA_PKCS1_SHA256: Final = 0x0103
CHUNK: Final = 1 << 20
DEX_HEADER: Final = b"dex\n035\x00" + bytes(104)


@dataclass(frozen=True)
class Signer:
    key: rsa.RSAPrivateKey
    certificate: bytes  # DER

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.certificate).hexdigest()


@functools.cache
def signer(name: str = "store-apps") -> Signer:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    start = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=25 * 365))
        .sign(key, hashes.SHA256())
    )
    return Signer(key, certificate.public_bytes(serialization.Encoding.DER))


def build_apk(
    package: str,
    version_code: int,
    version_name: str = "1.0",
    *,
    signed_by: str = "store-apps",
    padding_bytes: int = 0,
    min_sdk: int = 26,
) -> bytes:
    """A signed APK; `padding_bytes` of stored asset make it as large as a real app."""
    entries = io.BytesIO()
    with zipfile.ZipFile(entries, "w") as archive:
        archive.writestr(
            "AndroidManifest.xml", manifest(package, version_code, version_name, min_sdk), zipfile.ZIP_DEFLATED
        )
        archive.writestr("classes.dex", DEX_HEADER, zipfile.ZIP_DEFLATED)
        if padding_bytes:
            body = hashlib.shake_256(package.encode()).digest(min(padding_bytes, 4096))
            archive.writestr("assets/payload.bin", (body * (padding_bytes // len(body) + 1))[:padding_bytes])
    return sign_v2(entries.getvalue(), signer(signed_by))


def tamper(apk: bytes, offset: int = 40) -> bytes:
    """The same APK with one byte of its entries changed after signing."""
    return apk[:offset] + bytes([apk[offset] ^ 0xFF]) + apk[offset + 1 :]


# --- the binary manifest ------------------------------------------------------------------------


def manifest(package: str, version_code: int, version_name: str, min_sdk: int) -> bytes:
    strings = ["versionCode", "versionName", "minSdkVersion", "android", ANDROID_URI, "package", "manifest", "uses-sdk"]
    strings += [package, version_name]
    at = {text: number for number, text in enumerate(strings)}
    ns = at[ANDROID_URI]

    def attribute(namespace: int, name: str, kind: int, data: int, raw: int = NO_INDEX) -> bytes:
        return struct.pack("<IIIHBBI", namespace, at[name], raw, 8, 0, kind, data)

    def start(name: str, attributes: list[bytes]) -> bytes:
        body = struct.pack("<IIHHHHHH", NO_INDEX, at[name], 20, 20, len(attributes), 0, 0, 0) + b"".join(attributes)
        return chunk(0x0102, struct.pack("<II", 1, NO_INDEX), body)

    def end(name: str) -> bytes:
        return chunk(0x0103, struct.pack("<II", 1, NO_INDEX), struct.pack("<II", NO_INDEX, at[name]))

    namespace = struct.pack("<II", at["android"], ns)
    elements = [
        chunk(0x0100, struct.pack("<II", 1, NO_INDEX), namespace),
        start(
            "manifest",
            [
                attribute(ns, "versionCode", TYPE_INT_DEC, version_code),
                attribute(ns, "versionName", TYPE_STRING, at[version_name], at[version_name]),
                attribute(NO_INDEX, "package", TYPE_STRING, at[package], at[package]),
            ],
        ),
        start("uses-sdk", [attribute(ns, "minSdkVersion", TYPE_INT_DEC, min_sdk)]),
        end("uses-sdk"),
        end("manifest"),
        chunk(0x0101, struct.pack("<II", 1, NO_INDEX), namespace),
    ]
    resource_map = chunk(0x0180, b"", b"".join(struct.pack("<I", ATTR_IDS[name]) for name in list(ATTR_IDS)))
    return chunk(0x0003, b"", string_pool(strings) + resource_map + b"".join(elements))


def chunk(kind: int, header: bytes, body: bytes) -> bytes:
    header_size = 8 + len(header)
    return struct.pack("<HHI", kind, header_size, header_size + len(body)) + header + body


def string_pool(strings: list[str]) -> bytes:
    """A UTF-16 string pool: offsets, then each string as its length, its code units and a NUL."""
    encoded = [struct.pack("<H", len(text)) + text.encode("utf-16-le") + b"\x00\x00" for text in strings]
    offsets, position = [], 0
    for text in encoded:
        offsets.append(position)
        position += len(text)
    data = b"".join(encoded)
    data += bytes(-len(data) % 4)
    header = struct.pack("<IIIII", len(strings), 0, 0, 28 + 4 * len(strings), 0)
    return chunk(0x0001, header, struct.pack(f"<{len(offsets)}I", *offsets) + data)


# --- APK Signature Scheme v2 --------------------------------------------------------------------


def sign_v2(unsigned: bytes, by: Signer) -> bytes:
    """Insert an APK Signing Block holding one v2 signer before the central directory."""
    eocd = unsigned.rindex(b"PK\x05\x06")
    cd = struct.unpack_from("<I", unsigned, eocd + 16)[0]
    digest = whole_file_digest(unsigned[:cd], unsigned[cd:eocd], unsigned[eocd:])
    digests = prefixed(prefixed(struct.pack("<I", RSA_PKCS1_SHA256) + prefixed(digest)))
    signed_data = digests + prefixed(prefixed(by.certificate)) + prefixed(b"")
    signature = by.key.sign(signed_data, padding.PKCS1v15(), hashes.SHA256())
    public_key = by.key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signer_block = prefixed(signed_data) + prefixed(prefixed(struct.pack("<I", RSA_PKCS1_SHA256) + prefixed(signature)))
    v2 = prefixed(prefixed(signer_block + prefixed(public_key)))
    pair = struct.pack("<QI", 4 + len(v2), V2_BLOCK_ID) + v2
    size = len(pair) + 8 + 16
    block = struct.pack("<Q", size) + pair + struct.pack("<Q", size) + b"APK Sig Block 42"
    moved_eocd = unsigned[eocd : eocd + 16] + struct.pack("<I", cd + len(block)) + unsigned[eocd + 20 :]
    return unsigned[:cd] + block + unsigned[cd:eocd] + moved_eocd


def whole_file_digest(entries: bytes, central_directory: bytes, eocd: bytes) -> bytes:
    """The v2 content digest: 1 MiB chunks of each section, the EOCD naming the block's offset."""
    chunks = [*split(entries), *split(central_directory), *split(eocd)]
    top = b"\x5a" + struct.pack("<I", len(chunks))
    for piece in chunks:
        top += hashlib.sha256(b"\xa5" + struct.pack("<I", len(piece)) + piece).digest()
    return hashlib.sha256(top).digest()


def split(section: bytes) -> list[bytes]:
    return [section[start : start + CHUNK] for start in range(0, len(section), CHUNK)]


def prefixed(data: bytes) -> bytes:
    return struct.pack("<I", len(data)) + data

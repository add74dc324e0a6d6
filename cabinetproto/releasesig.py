"""Signed releases of the cabinet's package (docs/updates.md): a detached ed25519 signature over the
package's bytes, made with the fleet's release key and checked with its public half.

The fleet keeps the private key (`cabinet-cloud release keygen` writes both halves); the cabinet's
package installs only the public key. Keys are PEM files: PKCS#8 for the private key, SubjectPublicKeyInfo
for the public one, the forms `openssl pkey` reads and writes.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


class ReleaseKeyError(ValueError):
    """A release key file that is not an ed25519 key of the expected half (the message names the file)."""


class BadSignature(ValueError):
    """A signature that does not verify with the release key, or is not a signature at all."""


def generate_key() -> tuple[bytes, bytes]:
    """A new release key: (private PEM, public PEM)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return private, public_pem(key.public_key())


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as error:
        raise ReleaseKeyError(f"cannot read the release key {path}: {error.strerror}") from None
    except (ValueError, TypeError) as error:
        raise ReleaseKeyError(f"{path} is not an unencrypted PEM private key: {error}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ReleaseKeyError(f"{path} holds a {type(key).__name__}, not an ed25519 release key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        return parse_public_key(path.read_bytes(), str(path))
    except OSError as error:
        raise ReleaseKeyError(f"cannot read the release public key {path}: {error.strerror}") from None


def parse_public_key(pem: bytes, name: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError as error:
        raise ReleaseKeyError(f"{name} is not a PEM public key: {error}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ReleaseKeyError(f"{name} holds a {type(key).__name__}, not an ed25519 release key")
    return key


def sign(key: Ed25519PrivateKey, package: bytes) -> bytes:
    """The detached signature (64 bytes) over the package's bytes."""
    return key.sign(package)


def verify(key: Ed25519PublicKey, package: bytes, signature: bytes) -> None:
    """Raise BadSignature unless `signature` is the release key's over exactly these bytes."""
    if len(signature) != 64:
        raise BadSignature(f"an ed25519 signature is 64 bytes, this one is {len(signature)}")
    try:
        key.verify(signature, package)
    except InvalidSignature:
        raise BadSignature("the signature does not verify with the release key") from None


def encode_signature(signature: bytes) -> str:
    """The signature as it travels in JSON (offer_update's `signature`): standard base64."""
    return base64.b64encode(signature).decode("ascii")


def decode_signature(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadSignature("the signature is not base64") from None

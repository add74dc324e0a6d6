"""The release signature: a good one verifies; a changed byte, a wrong key, a short or garbled signature
and a key of the wrong kind each fail with their own message."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key

from cabinetproto import releasesig

PACKAGE = b"!<arch>\n" + bytes(range(256)) * 40


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    private, public = releasesig.generate_key()
    (tmp_path / "release.key").write_bytes(private)
    (tmp_path / "release.pub").write_bytes(public)
    return tmp_path / "release.key", tmp_path / "release.pub"


def test_ok__a_signature_verifies_and_travels_as_base64(keys: tuple[Path, Path]) -> None:
    signature = releasesig.sign(releasesig.load_private_key(keys[0]), PACKAGE)
    text = releasesig.encode_signature(signature)
    releasesig.verify(releasesig.load_public_key(keys[1]), PACKAGE, releasesig.decode_signature(text))


def test_fail__a_changed_byte_or_a_truncated_package(keys: tuple[Path, Path]) -> None:
    signature = releasesig.sign(releasesig.load_private_key(keys[0]), PACKAGE)
    public = releasesig.load_public_key(keys[1])
    tampered = PACKAGE[:100] + b"X" + PACKAGE[101:]
    for package in (tampered, PACKAGE[:-10]):
        with pytest.raises(releasesig.BadSignature, match=r"^the signature does not verify with the release key$"):
            releasesig.verify(public, package, signature)


def test_fail__another_key(keys: tuple[Path, Path]) -> None:
    _, other = releasesig.generate_key()
    signature = releasesig.sign(releasesig.load_private_key(keys[0]), PACKAGE)
    with pytest.raises(releasesig.BadSignature, match="does not verify"):
        releasesig.verify(releasesig.parse_public_key(other, "other.pub"), PACKAGE, signature)


def test_fail__short_or_garbled_signature(keys: tuple[Path, Path]) -> None:
    public = releasesig.load_public_key(keys[1])
    with pytest.raises(releasesig.BadSignature, match=r"^an ed25519 signature is 64 bytes, this one is 3$"):
        releasesig.verify(public, PACKAGE, b"abc")
    with pytest.raises(releasesig.BadSignature, match=r"^the signature is not base64$"):
        releasesig.decode_signature("not base64!")


def test_fail__keys_of_the_wrong_kind(tmp_path: Path) -> None:
    ec = generate_private_key(SECP256R1())
    pem = ec.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(releasesig.ReleaseKeyError, match=r"^ec.pub holds a .*, not an ed25519 release key$"):
        releasesig.parse_public_key(pem, "ec.pub")
    (tmp_path / "junk.key").write_text("junk")
    with pytest.raises(releasesig.ReleaseKeyError, match="is not an unencrypted PEM private key"):
        releasesig.load_private_key(tmp_path / "junk.key")
    with pytest.raises(releasesig.ReleaseKeyError, match=r"^cannot read the release public key .*missing.pub"):
        releasesig.load_public_key(tmp_path / "missing.pub")

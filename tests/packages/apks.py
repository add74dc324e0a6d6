# TEMPORARY: replaced by testbed/apkbuild.py once it lands.
from __future__ import annotations

import hashlib
import io
import json
import zipfile

SIGNERS = {"fleet": "aa" * 32, "other": "bb" * 32}


def build(
    package: str, version_code: int, *, version_name: str = "1.0", signer: str = "fleet", tamper: bool = False
) -> bytes:
    pad = hashlib.shake_256(f"{package}{version_code}".encode()).digest(100_000)
    m = {
        "package": package,
        "version_code": version_code,
        "version_name": version_name,
        "signer": SIGNERS[signer],
        "sig": hashlib.sha256(pad).hexdigest(),
    }
    if tamper:
        pad = b"X" + pad[1:]
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w") as z:
        z.writestr("stub-manifest.json", json.dumps(m))
        z.writestr("pad", pad)
    return b.getvalue()


def signer_sha256(signer: str) -> str:
    return SIGNERS[signer]

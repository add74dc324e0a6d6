"""The fleet's release key pair as the fleet service sees it: the public half from a setting.

`cabinet-cloud serve --release-key PATH` (or CABINET_CLOUD_RELEASE_KEY) names the PEM public key that
uploads are checked against. The private half never comes near the server: it stays with whoever
signs releases (`cabinet-cloud release sign`), docs/releases.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cabinetproto import releasesig

RELEASE_KEY_ENV: Final = "CABINET_CLOUD_RELEASE_KEY"


def fleet_key(path: str | None) -> Ed25519PublicKey | None:
    """The public key at `path`, None when no path is set; ReleaseKeyError naming the file."""
    if path is None:
        return None
    return releasesig.load_public_key(Path(path))

"""`cabinet-cloud release keygen | sign`: the fleet's release key pair, and a package's detached signature.

Neither touches the fleet's database: keys are made and packages signed where the private key is kept,
which need not be (and had better not be) the server.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, Final

from cabinetcloud.releases.keys import RELEASE_KEY_ENV
from cabinetproto import releasesig

PRIVATE: Final = "release.key"
PUBLIC: Final = "release.pub"
EXIT_REFUSED: Final = 1


def add_serve_option(serve: argparse.ArgumentParser) -> None:
    serve.add_argument(
        "--release-key",
        default=os.environ.get(RELEASE_KEY_ENV) or None,
        metavar="PATH",
        help=f"the fleet's release public key (PEM) uploads are checked against (default: ${RELEASE_KEY_ENV}; "
        "without one, uploads are refused)",
    )


def add_parser(sub: Any) -> None:
    release = sub.add_parser("release", help="make the fleet's release key, sign a package")
    steps = release.add_subparsers(dest="release_command", required=True)
    keygen = steps.add_parser("keygen", help=f"write a new key pair: DIR/{PRIVATE} (mode 0600) and DIR/{PUBLIC}")
    keygen.add_argument("--out", required=True, type=Path, metavar="DIR")
    sign = steps.add_parser("sign", help="write PACKAGE.sig, the detached signature (64 raw bytes)")
    sign.add_argument("package", type=Path, metavar="PACKAGE.deb")
    sign.add_argument("--key", required=True, type=Path, metavar=PRIVATE)


def _write_new(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as out:
        os.fchmod(out.fileno(), mode)
        out.write(data)


def _keygen(out: Path) -> int:
    private_path, public_path = out / PRIVATE, out / PUBLIC
    for path in (private_path, public_path):
        if path.exists():
            print(
                f"cabinet-cloud: {path} exists: a release key is never overwritten (move it away first)",
                file=sys.stderr,
            )
            return EXIT_REFUSED
    private, public = releasesig.generate_key()
    try:
        out.mkdir(parents=True, exist_ok=True)
        _write_new(private_path, private, 0o600)
        _write_new(public_path, public, 0o644)
    except OSError as error:
        print(f"cabinet-cloud: cannot write the release key in {out}: {error.strerror}", file=sys.stderr)
        return EXIT_REFUSED
    print(f"wrote {private_path} (keep it off the server) and {public_path} (the cabinets' and the server's)")
    return 0


def _sign(package: Path, key_path: Path) -> int:
    try:
        key = releasesig.load_private_key(key_path)
        data = package.read_bytes()
    except releasesig.ReleaseKeyError as error:
        print(f"cabinet-cloud: {error}", file=sys.stderr)
        return EXIT_REFUSED
    except OSError as error:
        print(f"cabinet-cloud: cannot read the package {package}: {error.strerror}", file=sys.stderr)
        return EXIT_REFUSED
    target = package.with_name(package.name + ".sig")
    target.write_bytes(releasesig.sign(key, data))
    print(f"wrote {target}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.release_command == "keygen":
        return _keygen(args.out)
    return _sign(args.package, args.key)

"""`cabinetd-update`: the update helper, run as root by cabinetd-update.service."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from cabinetd import configfile
from cabinetd.updater.attempt import StateDirectory
from cabinetd.updater.commands import Dpkg, Systemd
from cabinetd.updater.handoff import HandoffError
from cabinetd.updater.health import Endpoint, SystemClock
from cabinetd.updater.install import Installer, handle

STATE_DIR: Final = Path("/var/lib/cabinetd-update")
EXIT_FAILED: Final = 1
EXIT_CONFIG: Final = 2
log = logging.getLogger("cabinetd-update")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cabinetd-update",
        description="Install the release the cabinet daemon has handed over, or roll it back.",
    )
    parser.add_argument(
        "--config",
        action="append",
        type=Path,
        default=[],
        metavar="PATH",
        help="the daemon's config file (repeat to layer; replaces /etc/cabinetd/cabinetd.toml)",
    )
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR, help=f"the helper's own directory ({STATE_DIR})")
    parser.add_argument("--dpkg-root", type=Path, help="install into this tree (dpkg --root), for tests and images")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        config = configfile.load(args.config)
    except configfile.ConfigError as error:
        print(f"cabinetd-update: {error}", file=sys.stderr)
        return EXIT_CONFIG
    installer = Installer(
        updates=config.updates.directory,
        state=StateDirectory(args.state_dir),
        release_key=config.updates.release_key,
        healthy_within_s=float(config.updates.healthy_within_s),
        endpoint=Endpoint(config.api.host, config.api.port),
        dpkg=Dpkg(args.dpkg_root),
        systemd=Systemd(),
        clock=SystemClock(),
    )
    try:
        handle(installer)
    except (HandoffError, OSError) as error:
        # No outcome could be written: the unit fails, and the journal says why.
        log.error("%s", error)
        return EXIT_FAILED
    return 0

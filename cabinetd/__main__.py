"""`cabinetd run | config check | config dump`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from cabinetd import __version__, configfile, logsetup
from cabinetd.cabinet import Cabinet
from cabinetd.config import CabinetConfig
from cabinetd.daemon import Daemon

EXIT_USAGE = 2
log = logging.getLogger("cabinetd")


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        action="append",
        type=Path,
        default=[],
        metavar="PATH",
        help="config file (repeat to layer; replaces /etc/cabinetd/cabinetd.toml)",
    )
    parser = argparse.ArgumentParser(prog="cabinetd", description="The smart device cabinet daemon.")
    parser.add_argument("--version", action="version", version=f"cabinetd {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", parents=[common], help="run the cabinet")
    run.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    run.add_argument("--log-format", choices=["text", "json"])

    config = commands.add_parser("config", help="check or print the configuration")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    config_commands.add_parser("check", parents=[common], help="validate; exit 0 or 2")
    config_commands.add_parser("dump", parents=[common], help="print the merged configuration as TOML")

    fsm = commands.add_parser("fsm", help="the slot state machine")
    fsm_commands = fsm.add_subparsers(dest="fsm_command", required=True)
    diagram = fsm_commands.add_parser("diagram", help="print the slot state machine as Mermaid")
    diagram.add_argument("--png", type=Path, metavar="FILE", help="also draw it as PNG (needs graphviz)")
    return parser


def _fsm_diagram(png: Path | None) -> int:
    from cabinetd.fsm import diagram

    sys.stdout.write(diagram.mermaid())
    if png is not None:
        try:
            diagram.png(png)
        except RuntimeError as exc:
            print(f"cabinetd: {exc}", file=sys.stderr)
            return 1
    return 0


def _load(paths: Sequence[Path]) -> CabinetConfig | None:
    try:
        return configfile.load(paths)
    except configfile.ConfigError as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return None


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "fsm":
        return _fsm_diagram(args.png)
    config = _load(args.config)
    if config is None:
        return EXIT_USAGE
    if args.command == "config":
        if args.config_command == "dump":
            sys.stdout.write(configfile.dump(config))
        return 0
    logsetup.configure(args.log_level or config.log.level, args.log_format or config.log.format)
    return asyncio.run(_run(config))


async def _run(config: CabinetConfig) -> int:
    cabinet = Cabinet(config)
    daemon = Daemon(cabinet.subsystems, shutdown_s=config.timeouts.shutdown_s)
    daemon.ready_status = cabinet.describe()
    try:
        return await daemon.run()
    finally:
        cabinet.close()


if __name__ == "__main__":
    sys.exit(main())

"""`cabinetctl`: the technician's command line for a running cabinet (docs/cabinetctl.md).

It talks to cabinetd over the control socket only and never opens hardware itself. Exit status:
0 done, 1 refused or failed, 2 usage, 3 the daemon is not reachable; every failure is one line on
standard error, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from cabinetd.ctl import commands, diag, parser
from cabinetd.ctl.client import EXIT_FAILED, EXIT_USAGE, ControlClient, CtlError, socket_path
from cabinetd.ctl.commands import Run

Command = Callable[[Run], int]

COMMANDS: dict[tuple[str, str | None], Command] = {
    ("status", None): commands.status,
    ("slots", None): commands.slots,
    ("slot", None): commands.slot,
    ("lock", "test"): commands.lock_test,
    ("badge", "watch"): commands.badge_watch,
    ("usb", "list"): commands.usb_list,
    ("usb", "power"): commands.usb_power,
    ("device", "info"): commands.device_info,
    ("device", "clear"): commands.device_clear,
    ("selftest", None): commands.selftest,
    ("ledger", "tail"): commands.ledger_tail,
    ("ledger", "verify"): commands.ledger_verify,
    ("ledger", "export"): commands.ledger_export,
    ("sync", "status"): commands.sync_status,
    ("sync", "now"): commands.sync_now,
    ("packages", None): commands.packages,
    ("config", "show"): commands.config_show,
    ("diag", "bundle"): diag.bundle,
    ("version", None): commands.version,
}


def _chosen(args: argparse.Namespace) -> Command:
    sub = getattr(args, f"{args.command}_command", None)
    return COMMANDS[(args.command, sub)]


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = parser.build().parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage (exit 2) or the help (exit 0)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    out, err = sys.stdout, sys.stderr
    client: ControlClient | None = None
    try:
        client = ControlClient(socket_path(args.socket, args.config), args.timeout)
        return _chosen(args)(Run(args, client, out, err))
    except CtlError as exc:
        for line in str(exc).splitlines():
            err.write(f"cabinetctl: {line}\n")
        return exc.code
    except KeyboardInterrupt:
        err.write("\n")
        return EXIT_FAILED
    except BrokenPipeError:
        return EXIT_FAILED  # output piped into `head`, which stopped reading
    finally:
        if client is not None:
            client.close()


if __name__ == "__main__":
    sys.exit(main())

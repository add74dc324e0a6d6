"""The command line of `cabinetctl`, with help that reads like its manual page (docs/cabinetctl.md)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Final, TypeAlias

from cabinetd import __version__

DESCRIPTION: Final = """\
Show and test a smart device cabinet through its running daemon.

cabinetctl talks to cabinetd over the control socket (/run/cabinetd/control.sock by default) and
never opens hardware itself. Reading is free; every action (opening a door, disabling a slot,
switching a USB port, a self-test) is done by the daemon and recorded in the ledger as a technician
action under your login name.

commands:
  status                        the cabinet at a glance
  slots                         every slot: state, device, battery, health, door, lock, alarms
  slot N                        one slot in detail, with its last events
  slot open N --reason TEXT     unlock the slot's door
  slot disable N --reason TEXT  take the slot out of service
  slot enable N                 put it back in service (a device inside is inspected first)
  lock test N                   pulse the lock and report whether the door sensor saw it open
  badge watch                   print each badge read for 30 s (ids masked)
  usb list                      each slot's USB port, its power and the device on it
  usb power N on|off|cycle      switch the power of slot N's USB port
  device info N                 ask the device in slot N who it is and how it is
  device clear SERIAL           lift a critical problem report (damaged, battery) from a device
  selftest N                    run the self-test of the device in slot N
  ledger tail [-n N] [-f]       the last ledger events, and new ones as they come
  ledger verify                 check the ledger's hash chain
  ledger export --since T FILE  write the events since T to FILE as JSON lines
  sync status                   the link to the cloud
  sync now                      sync now instead of after the current backoff
  packages                      the app packages the cache holds and lacks
  config show                   the daemon's configuration, tokens and PINs redacted
  diag bundle FILE.tar.gz       everything support asks for, in one file

Every command takes --json for machines; without it, output is for people.
"cabinetctl COMMAND --help" says more about a command.
"""

EPILOG: Final = """\
exit status:
  0  done
  1  refused or failed (by the daemon, the hardware, or a failed test)
  2  usage error, or a configuration that cannot be read
  3  the daemon is not reachable (not running, or not answering)

files:
  /etc/cabinetd/cabinetd.toml, /etc/cabinetd/conf.d/*.toml
      the daemon's configuration; api.control_socket names the socket
  /run/cabinetd/control.sock
      the control socket: mode 0660, group cabinet-tech; root, the daemon's user and members of
      cabinet-tech may use it

The full manual is docs/cabinetctl.md.
"""

Raw = argparse.RawDescriptionHelpFormatter


def _slot_number(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a slot number: {text!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"slot numbers start at 1, got {number}")
    return number


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value <= 86400:
        raise argparse.ArgumentTypeError(f"must be between 0 and 86400 seconds, got {text}")
    return value


def _common(defaults: bool) -> argparse.ArgumentParser:
    """Options every command takes; the leaves suppress their defaults so they never undo the top's."""
    keep = (lambda value: value) if defaults else (lambda value: argparse.SUPPRESS)
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("common options")
    group.add_argument("--json", action="store_true", default=keep(False), help="print JSON (see JSON OUTPUT)")
    group.add_argument(
        "--socket", type=Path, metavar="PATH", default=keep(None), help="the control socket (overrides the config)"
    )
    group.add_argument(
        "--config",
        action="append",
        type=Path,
        metavar="PATH",
        default=keep([]),
        help="the daemon's config file, as for cabinetd (repeat to layer)",
    )
    group.add_argument(
        "--timeout", type=_seconds, metavar="SECONDS", default=keep(10.0), help="how long to wait for an answer (10)"
    )
    return common


# argparse's own name for the object add_subparsers() returns
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def build() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cabinetctl", description=DESCRIPTION, epilog=EPILOG, formatter_class=Raw, parents=[_common(True)]
    )
    parser.add_argument("--version", action="version", version=f"cabinetctl {__version__}")
    leaf = [_common(False)]
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(under: Commands, name: str, summary: str, text: str) -> argparse.ArgumentParser:
        return under.add_parser(name, help=summary, description=text, parents=leaf, formatter_class=Raw)

    def family(name: str, summary: str) -> Commands:
        top = commands.add_parser(name, help=summary, description=summary[0].upper() + summary[1:] + ".")
        return top.add_subparsers(dest=f"{name}_command", required=True, metavar="COMMAND")

    def numbered(under: Commands, name: str, summary: str, text: str) -> argparse.ArgumentParser:
        found = add(under, name, summary, text)
        found.add_argument("number", type=_slot_number, metavar="N", help="the slot")
        return found

    add(commands, "status", "the cabinet at a glance", STATUS)
    add(commands, "slots", "every slot in a table", SLOTS)
    slot = add(commands, "slot", "one slot; open, disable or enable it", SLOT)
    slot.add_argument("what", metavar="N | open | disable | enable", help="a slot number, or what to do")
    slot.add_argument("number", nargs="?", type=_slot_number, metavar="N", help="the slot, after open/disable/enable")
    slot.add_argument("--reason", metavar="TEXT", help="why (recorded in the ledger; needed by open and disable)")

    test = numbered(family("lock", "test a slot's lock"), "test", "pulse the lock and watch the door", LOCK_TEST)
    test.add_argument("--wait", type=_seconds, metavar="SECONDS", help="how long to watch (timeouts.door_open_s)")

    watch = add(family("badge", "the badge reader"), "watch", "print each badge read", BADGE_WATCH)
    watch.add_argument("--for", dest="seconds", type=_seconds, default=30.0, metavar="SECONDS", help="how long (30)")

    usb = family("usb", "the slots' USB ports")
    add(usb, "list", "each port, its power and device", USB_LIST)
    numbered(usb, "power", "switch a port's power", USB_POWER).add_argument("power", choices=["on", "off", "cycle"])

    device = family("device", "the device in a slot")
    numbered(device, "info", "ask the device who it is", DEVICE_INFO)
    clear = add(device, "clear", "lift a critical problem report", DEVICE_CLEAR)
    clear.add_argument("serial", metavar="SERIAL", help="the device's serial")
    clear.add_argument("--reason", metavar="TEXT", help="what you found (recorded in the ledger)")
    numbered(commands, "selftest", "run a device's self-test", SELFTEST)

    _ledger_commands(family("ledger", "the cabinet's ledger"), add)

    sync = family("sync", "the link to the cloud")
    add(sync, "status", "the link to the cloud", SYNC_STATUS)
    add(sync, "now", "sync now", SYNC_NOW)

    add(commands, "packages", "the app package cache", PACKAGES)
    add(family("config", "the daemon's configuration"), "show", "print it, secrets redacted", CONFIG_SHOW)
    add(family("diag", "diagnostics for support"), "bundle", "write a support bundle", DIAG_BUNDLE).add_argument(
        "file", metavar="FILE.tar.gz"
    )
    add(commands, "version", "the installed version, the one offered, the last update", VERSION)
    return parser


STATUS: Final = """\
The cabinet at a glance: its id and store, the software version and uptime, whether the cloud is
reachable, how many events wait to be sent, the last sync and the clock skew, the badge reader,
the RS-485 buses and lock boards, the USB hubs, and a count of slots per state."""

SLOTS: Final = """\
Every slot in one table: state, device, battery, device health, door (open/closed as the sensor
reads it), lock (as its board reports it) and alarms."""

DEVICE_CLEAR: Final = """\
Lift a critical problem report from device SERIAL. A device reported at the cabinet as damaged or
with a swollen or hot battery is never handed out again, whatever its self-test says, until a
technician has looked at it and runs this. A device sitting faulty in its slot is then inspected
again (its slot is disabled and enabled), so a passing self-test puts it back in service. Recorded
in the ledger as a technician action (clear_report) with your login name and --reason."""

SLOT: Final = """\
  cabinetctl slot N
      slot N in detail, with its last ten events
  cabinetctl slot open N --reason TEXT
      unlock the door of slot N (one pulse)
  cabinetctl slot disable N --reason TEXT
      take slot N out of service: nothing is rented from it or returned to it
  cabinetctl slot enable N [--reason TEXT]
      put it back in service; a device inside is inspected first

Each action is recorded in the ledger as a technician action with your login name and reason.
A slot with a rent or return under way cannot be opened: the flow owns its door. A door opened
within timeouts.door_open_s of an unlock raises no alarm."""

LOCK_TEST: Final = """\
Pulse the lock of slot N, then watch the door sensor until the door opens or --wait runs out.
Exit status 0 if the door opened, 1 if it did not. Pull the door (or let its spring push it) while
the lock is released. Recorded in the ledger (an open, then the test's result)."""

BADGE_WATCH: Final = """\
Print each badge presented to the reader, for 30 s (--for). Badge ids are masked but for their last
four characters; a badge on the roster shows whose it is. The cabinet still acts on each badge as
usual (a staff badge starts a rental on the screen)."""

USB_LIST: Final = """\
Each slot's USB port: its path on the hub, its power (as last switched through this socket; ports
are on after start) and the device on it (vendor:product and serial)."""

USB_POWER: Final = """\
Switch the power of slot N's USB port on or off, or cycle it (off, wait, on, wait for the device to
come back). Recorded in the ledger. A device whose port is off disappears from the bus; the slot
keeps its state until the device answers again."""

DEVICE_INFO: Final = """\
Ask the agent on the device in slot N for its hello: serial, model, OS, agent version, battery,
storage and the work type it is provisioned for; with its health and last rental from the ledger."""

SELFTEST: Final = """\
Run the self-test of the device in slot N and print each check with its evidence. Exit status 0 if
every check passed, 1 otherwise. Recorded in the ledger; the slot's state does not change (use
slot disable to take a failing device out of service)."""

LEDGER_TAIL: Final = """\
The last N events of the ledger, oldest first. With -f, keep printing new events as they are
recorded until Ctrl-C (or --for runs out); with --json, each new event is one JSON line."""

LEDGER_VERIFY: Final = """\
Walk the ledger's hash chain and report the first broken link, if any. Exit status 1 if broken."""

LEDGER_EXPORT: Final = """\
Write every event recorded at or after T to FILE, one JSON object a line, in ledger order. T is an
ISO 8601 date or time (local time unless it carries Z or an offset) or an age: 90m, 12h, 7d."""

SYNC_STATUS: Final = """\
The link to the cloud: online or not, the last successful sync, events waiting, what the cloud has
acknowledged, the clock skew, the last error. Says so when no cloud.url is configured."""

SYNC_NOW: Final = """\
Ask the sync client to try now instead of waiting out its backoff. Recorded in the ledger. Exit
status 1 when no cloud is configured."""

PACKAGES: Final = """\
The app package cache (adb.packages): each APK it holds (package, version, size, short sha256,
the work types that need it) and each one a work type needs that it lacks, with the last refusal
and when the cache asks the cloud again. `sync now` makes it ask at once."""

CONFIG_SHOW: Final = """\
The configuration the daemon runs with, all layers merged, as TOML. Secrets are redacted; the cloud
token file is named, never read."""

DIAG_BUNDLE: Final = """\
Write FILE.tar.gz for support: the configuration (redacted), status, slots, USB ports, sync, the
last 10,000 events, the hash chain check, the log records the daemon keeps in memory and the
versions of everything. A progress bar shows on standard error."""


VERSION: Final = """\
The version installed: the Debian package's (cabinetd) when this is the packaged cabinetctl, else the
source tree's, read on this computer. Then, from the daemon's ledger, the release the fleet offered
last and where it stands, and how the last update went ("unknown" when the daemon does not answer)."""


def _ledger_commands(ledger: Commands, add: Callable[[Commands, str, str, str], argparse.ArgumentParser]) -> None:
    """`ledger tail | verify | export`: the technician's reading of the ledger."""
    tail = add(ledger, "tail", "the last events", LEDGER_TAIL)
    tail.add_argument("-n", type=int, default=20, metavar="N", help="how many (20, at most 10000)")
    tail.add_argument("-f", "--follow", action="store_true", help="keep printing new events (Ctrl-C stops)")
    tail.add_argument("--for", dest="seconds", type=_seconds, metavar="SECONDS", help="stop following after this long")
    add(ledger, "verify", "check the hash chain", LEDGER_VERIFY)
    export = add(ledger, "export", "events since a time, as JSON lines", LEDGER_EXPORT)
    export.add_argument("--since", required=True, metavar="T", help="e.g. 2026-11-02, 2026-11-02T08:00Z, 90m, 12h, 7d")
    export.add_argument("file", metavar="FILE", help="where to write; - for standard output")

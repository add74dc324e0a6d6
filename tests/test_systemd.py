"""systemd/: units, sysusers, tmpfiles, modules-load and udev rules, checked with systemd's own tools.

`systemd-analyze verify` exits 0 on unknown keys and bad values and only complains on stderr, so any
stderr output fails a test here. The environment is kept from adding noise rather than filtered out:
ExecStart binaries are pointed at stubs in a temporary copy, sysusers and tmpfiles work on a scratch
root.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from cabinetd.config import ApiSection, TimeoutsSection
from tests.conftest import require_command

ROOT = Path(__file__).resolve().parent.parent
SYSTEMD = ROOT / "systemd"
UNITS = ("cabinetd.service", "cabinet-kiosk.service", "cabinet-adb.service")
MAX_EXPOSURE = 2.0

# The device classes DESIGN.md §10 lets the daemon reach, as (class, access).
DEVICE_CLASSES = {"char-ttyUSB rw", "char-ttyACM rw", "char-gpiochip rw", "char-usb_device rw"}


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SYSTEMD_PAGER": "", "SYSTEMD_COLORS": "0"}
    return subprocess.run(
        argv, capture_output=True, encoding="utf-8", errors="replace", env=env, timeout=60, check=False
    )


# --- a small reader for unit files: (section, key, value) in order, keys may repeat ---------------


def unit_entries(path: Path) -> list[tuple[str, str, str]]:
    entries: list[tuple[str, str, str]] = []
    section = ""
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith(("#", ";"))):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not a key=value line: {raw!r}"
        entries.append((section, key.strip(), value.strip()))
    return entries


def values(path: Path, section: str, key: str) -> list[str]:
    return [v for s, k, v in unit_entries(path) if s == section and k == key]


def value(path: Path, section: str, key: str) -> str:
    found = values(path, section, key)
    assert len(found) == 1, f"{path.name}: [{section}] {key} set {len(found)} times, expected once"
    return found[0]


def exec_binary(command_line: str) -> str:
    return shlex.split(command_line)[0].lstrip("-@:+!")


def copy_units_with_stub_binaries(dest: Path) -> Path:
    """All units into dest, each ExecStart binary replaced by an executable stub of the same name."""
    bin_dir = dest / "bin"
    bin_dir.mkdir(parents=True)
    for name in UNITS:
        source = SYSTEMD / name
        text = source.read_text(encoding="utf-8")
        for binary in {exec_binary(v) for s, k, v in unit_entries(source) if k.startswith("Exec")}:
            stub = bin_dir / Path(binary).name
            stub.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
            stub.chmod(0o755)
            pattern = re.compile(rf"^(Exec\w+=[-@:+!]*){re.escape(binary)}(?=\s|$)", re.MULTILINE)
            text, count = pattern.subn(r"\g<1>" + str(stub).replace("\\", "\\\\"), text)
            assert count, f"{name}: {binary} not replaced"
        (dest / name).write_text(text, encoding="utf-8")
    return dest


# --- systemd-analyze ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", UNITS)
def test_ok__verify(name: str, tmp_path: Path) -> None:
    analyze = require_command("systemd-analyze")
    units = copy_units_with_stub_binaries(tmp_path)
    # --recursive-errors=no: judge our unit, not the distribution's targets it is ordered against.
    result = run([analyze, "verify", "--man=no", "--recursive-errors=no", str(units / name)])
    assert result.stderr == "", result.stderr
    assert result.returncode == 0, result.stdout


def test_fail__verify_reports_an_unknown_key_on_stderr(tmp_path: Path) -> None:
    """The check above relies on this: a misspelt key is reported on stderr (the exit code is 0 or 1
    depending on the options and the version, so it proves nothing)."""
    analyze = require_command("systemd-analyze")
    units = copy_units_with_stub_binaries(tmp_path)
    unit = units / "cabinetd.service"
    unit.write_text(unit.read_text(encoding="utf-8").replace("[Service]\n", "[Service]\nWatchDogSec=20\n"))
    result = run([analyze, "verify", "--man=no", "--recursive-errors=no", str(unit)])
    assert re.search(r"Unknown key (name )?'WatchDogSec'", result.stderr), result.stderr


@pytest.mark.parametrize("name", ["cabinetd.service", "cabinet-adb.service"])
def test_ok__exposure_within_budget(name: str) -> None:
    analyze = require_command("systemd-analyze")
    result = run([analyze, "security", "--offline=true", "--no-pager", str(SYSTEMD / name)])
    assert result.stderr == "", result.stderr
    assert result.returncode == 0, result.stdout
    found = re.search(rf"Overall exposure level for {re.escape(name)}: (\d+\.\d+)", result.stdout)
    assert found, result.stdout
    exposure = float(found.group(1))
    print(f"{name} exposure: {exposure}")
    assert exposure <= MAX_EXPOSURE, result.stdout


# --- the units' contents --------------------------------------------------------------------------


def test_ok__daemon_unit() -> None:
    unit = SYSTEMD / "cabinetd.service"
    assert value(unit, "Service", "Type") == "notify"
    assert value(unit, "Service", "NotifyAccess") == "main"
    assert value(unit, "Service", "WatchdogSec") == "20"
    assert value(unit, "Service", "Restart") == "always"
    assert (value(unit, "Service", "User"), value(unit, "Service", "Group")) == ("cabinetd", "cabinetd")
    assert value(unit, "Service", "ExecStart") == "/usr/lib/cabinetd/venv/bin/cabinetd run"
    assert value(unit, "Service", "StateDirectory") == "cabinetd"
    assert value(unit, "Service", "StateDirectoryMode") == "0700"
    assert value(unit, "Service", "RuntimeDirectory") == "cabinetd"
    # Technicians are not in the daemon's group: they need the search bit for others to reach the socket.
    assert int(value(unit, "Service", "RuntimeDirectoryMode"), 8) & 0o001
    assert ApiSection().control_socket.parent == Path("/run/cabinetd")
    # SIGTERM handling must finish before systemd escalates to SIGKILL.
    assert float(value(unit, "Service", "TimeoutStopSec")) > TimeoutsSection().shutdown_s
    assert set(values(unit, "Service", "DeviceAllow")) == DEVICE_CLASSES
    assert value(unit, "Service", "DevicePolicy") == "closed"
    assert value(unit, "Service", "CapabilityBoundingSet") == ""
    # The cloud is reached over HTTPS at addresses nobody can list ahead: no IP allow list.
    assert values(unit, "Service", "IPAddressDeny") == []
    assert set(value(unit, "Service", "RestrictAddressFamilies").split()) == {
        "AF_UNIX",
        "AF_INET",
        "AF_INET6",
        "AF_NETLINK",
    }


def test_ok__kiosk_unit() -> None:
    unit = SYSTEMD / "cabinet-kiosk.service"
    assert "cabinetd.service" in values(unit, "Unit", "Wants")
    assert "cabinetd.service" in " ".join(values(unit, "Unit", "After")).split()
    assert value(unit, "Service", "User") == "kiosk"
    assert value(unit, "Service", "Restart") == "on-failure"
    argv = shlex.split(value(unit, "Service", "ExecStart"))
    browser = argv[argv.index("--") + 1 :]
    assert Path(browser[0]).name == "chromium"
    for flag in (
        "--kiosk",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--autoplay-policy=no-user-gesture-required",  # the kiosk's tones (sound.js) without a touch first
    ):
        assert flag in browser
    api = ApiSection()
    assert browser[-1] == f"http://{api.host}:{api.port}/"


# --- sysusers -------------------------------------------------------------------------------------


def read_db(path: Path) -> dict[str, list[str]]:
    return {line.split(":")[0]: line.split(":") for line in path.read_text().splitlines() if line}


def test_ok__sysusers(tmp_path: Path) -> None:
    sysusers = require_command("systemd-sysusers")
    etc = tmp_path / "etc"
    etc.mkdir()
    # As on Debian: dialout and plugdev exist already, gpio only on Raspberry Pi OS.
    (etc / "group").write_text("root:x:0:\ndialout:x:20:\nplugdev:x:46:\n")
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    # The daemon's package brings cabinetd.sysusers, the kiosk's package cabinet-kiosk.sysusers.
    files = [str(SYSTEMD / "cabinetd.sysusers"), str(SYSTEMD / "cabinet-kiosk.sysusers")]
    result = run([sysusers, f"--root={tmp_path}", *files])
    assert result.returncode == 0, result.stderr
    for line in result.stderr.splitlines():
        assert re.fullmatch(r"Creating (group|user) '[a-z-]+' .*\.", line), result.stderr

    groups, users = read_db(etc / "group"), read_db(etc / "passwd")
    member_of = {name: fields[3].split(",") for name, fields in groups.items()}
    cabinetd_groups = sorted(g for g, members in member_of.items() if "cabinetd" in members)
    daemon_unit = SYSTEMD / "cabinetd.service"
    assert cabinetd_groups == sorted(value(daemon_unit, "Service", "SupplementaryGroups").split())
    assert groups["dialout"][2] == "20"  # an existing group is joined, not recreated
    assert users["cabinetd"][5:] == ["/var/lib/cabinetd", "/usr/sbin/nologin"]
    adb_unit = SYSTEMD / "cabinet-adb.service"
    adb_groups = sorted(g for g, members in member_of.items() if "cabinet-adb" in members)
    assert adb_groups == sorted(value(adb_unit, "Service", "SupplementaryGroups").split())
    assert users["cabinet-adb"][5:] == ["/var/lib/cabinet-adb", "/usr/sbin/nologin"]
    assert [g for g, members in member_of.items() if "kiosk" in members] == []
    kiosk_unit = SYSTEMD / "cabinet-kiosk.service"
    kiosk_home = "/run/" + value(kiosk_unit, "Service", "RuntimeDirectory")
    assert users["kiosk"][5:] == [kiosk_home, "/usr/sbin/nologin"]
    assert f"HOME={kiosk_home}" in values(kiosk_unit, "Service", "Environment")


# --- tmpfiles -------------------------------------------------------------------------------------


def test_ok__tmpfiles(tmp_path: Path) -> None:
    tmpfiles = require_command("systemd-tmpfiles")
    config = SYSTEMD / "cabinetd.tmpfiles"
    as_root = os.geteuid() == 0
    if not as_root:
        # Only root may hand a directory to root; an unprivileged run checks the rest of each line.
        copy = tmp_path / "cabinetd.tmpfiles"
        text, count = re.subn(r" root root ", " - - ", config.read_text())
        assert count, "expected directories owned by root"
        copy.write_text(text)
        config = copy
    root = tmp_path / "root"
    root.mkdir()
    result = run([tmpfiles, "--create", f"--root={root}", str(config)])
    assert result.stderr == "", result.stderr
    assert result.returncode == 0
    for path in ("etc/cabinetd", "etc/cabinetd/conf.d"):
        made = (root / path).stat()
        assert oct(made.st_mode & 0o7777) == oct(0o755), path
        if as_root:
            assert (made.st_uid, made.st_gid) == (0, 0), path


# --- modules-load ---------------------------------------------------------------------------------


def test_ok__modules_load() -> None:
    lines = (SYSTEMD / "cabinetd.modules-load").read_text().splitlines()
    modules = [line.strip() for line in lines if line.strip() and not line.startswith(("#", ";"))]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", m) for m in modules), modules
    # The drivers that register the tty classes DeviceAllow= names.
    assert set(modules) == {"usbserial", "cdc_acm"}


# --- udev rules -----------------------------------------------------------------------------------

# key: (may match, may assign, takes {attribute})
UDEV_KEYS: dict[str, tuple[bool, bool, bool]] = {
    "ACTION": (True, False, False),
    "DEVPATH": (True, False, False),
    "KERNEL": (True, False, False),
    "KERNELS": (True, False, False),
    "SUBSYSTEM": (True, False, False),
    "SUBSYSTEMS": (True, False, False),
    "DRIVER": (True, False, False),
    "DRIVERS": (True, False, False),
    "ATTRS": (True, False, True),
    "TAGS": (True, False, False),
    "TEST": (True, False, True),
    "PROGRAM": (True, False, False),
    "RESULT": (True, False, False),
    "CONST": (True, False, True),
    "ATTR": (True, True, True),
    "SYSCTL": (True, True, True),
    "ENV": (True, True, True),
    "NAME": (True, True, False),
    "SYMLINK": (True, True, False),
    "TAG": (True, True, False),
    "IMPORT": (True, False, True),
    "OWNER": (False, True, False),
    "GROUP": (False, True, False),
    "MODE": (False, True, False),
    "RUN": (False, True, True),
    "LABEL": (False, True, False),
    "GOTO": (False, True, False),
    "OPTIONS": (False, True, False),
}
UDEV_TOKEN = re.compile(r'\s*([A-Z]+)(?:\{([^}]+)\})?\s*(==|!=|\+=|-=|:=|=)\s*"([^"]*)"\s*')

Rule = list[tuple[str, str | None, str, str]]


def parse_udev_rules(text: str) -> list[Rule]:
    """Each rule as (key, attribute, operator, value); an AssertionError names the line at fault."""
    rules: list[Rule] = []
    for number, line in enumerate(text.replace("\\\n", "").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        rule: Rule = []
        position = 0
        while position < len(line):
            token = UDEV_TOKEN.match(line, position)
            assert token, f"line {number}: cannot read a key at column {position + 1}: {line[position:]!r}"
            key, attribute, op, val = token.groups()
            assert key in UDEV_KEYS, f"line {number}: unknown key {key}"
            may_match, may_assign, takes_attribute = UDEV_KEYS[key]
            assert takes_attribute == (attribute is not None), f"line {number}: {key} and its {{attribute}}"
            is_match = op in ("==", "!=")
            assert may_match if is_match else may_assign, f"line {number}: {key} cannot take {op}"
            rule.append((key, attribute, op, val))
            position = token.end()
            if position < len(line):
                assert line[position] == ",", f"line {number}: expected ',' at column {position + 1}"
                position += 1
        assert any(op in ("==", "!=") for _, _, op, _ in rule), f"line {number}: a rule without a match"
        assert any(op not in ("==", "!=") for _, _, op, _ in rule), f"line {number}: a rule that does nothing"
        for key, _, _, val in rule:
            if key == "MODE":
                assert re.fullmatch(r"0[0-7]{3}", val), f"line {number}: MODE {val!r}"
        rules.append(rule)
    return rules


def assigned(rule: Rule, key: str, attribute: str | None = None) -> str | None:
    return next((v for k, a, op, v in rule if k == key and a == attribute and op not in ("==", "!=")), None)


def matched(rule: Rule, key: str, attribute: str | None = None) -> str | None:
    return next((v for k, a, op, v in rule if k == key and a == attribute and op == "=="), None)


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ('SUBSYSTEM=="tty", SYMLINK+="x", GROUP=="dialout"', "GROUP cannot take =="),
        ('SUBSYSTEM="tty", SYMLINK+="x"', "SUBSYSTEM cannot take ="),
        ('SUBSYSTEM=="tty" SYMLINK+="x"', "expected ','"),
        ('ATTRS=="x", MODE="0660"', "ATTRS and its {attribute}"),
        ('SUBSYSTEM=="tty", MODE="660"', "MODE '660'"),
        ('SUBSYSTEM=="tty", FOO="bar"', "unknown key FOO"),
        ('SUBSYSTEM=="tty", GROUP="dialout', "cannot read a key"),
        ('SUBSYSTEM=="tty"', "a rule that does nothing"),
    ],
)
def test_fail__udev_parser(line: str, error: str) -> None:
    with pytest.raises(AssertionError, match=re.escape(error)):
        parse_udev_rules(line + "\n")


def test_ok__udev_rules(tmp_path: Path) -> None:
    path = SYSTEMD / "99-cabinetd.rules"
    rules = parse_udev_rules(path.read_text())

    # systemd 254 and later check rules themselves; Debian 12's 252 has no `udevadm verify`, and the
    # parser above covers what it would: the check runs in addition wherever it exists.
    udevadm = shutil.which("udevadm")
    if udevadm and run([udevadm, "verify", "--help"]).returncode == 0:
        result = run([udevadm, "verify", str(path)])
        assert result.returncode == 0, result.stdout + result.stderr

    by_symlink = {assigned(r, "SYMLINK"): r for r in rules if assigned(r, "SYMLINK")}
    assert set(by_symlink) == {"cabinet-lockbus", "cabinet-badge"}
    for rule in by_symlink.values():
        assert matched(rule, "SUBSYSTEM") == "tty"
        for attribute in ("idVendor", "idProduct", "serial"):
            assert matched(rule, "ATTRS", attribute) is not None
        assert (assigned(rule, "GROUP"), assigned(rule, "MODE")) == ("dialout", "0660")

    usb = [r for r in rules if matched(r, "SUBSYSTEM") == "usb"]
    assert any(assigned(r, "GROUP") == "plugdev" and assigned(r, "MODE") == "0660" for r in usb)
    hubs = [r for r in usb if matched(r, "ATTR", "bDeviceClass") == "09"]
    assert [assigned(r, "ATTR", "power/control") for r in hubs] == ["on"]
    gpio = [r for r in rules if matched(r, "SUBSYSTEM") == "gpio"]
    assert [(assigned(r, "GROUP"), assigned(r, "MODE")) for r in gpio] == [("gpio", "0660")]

    # The daemon can open everything the rules hand out.
    daemon_groups = set(value(SYSTEMD / "cabinetd.service", "Service", "SupplementaryGroups").split())
    assert {assigned(r, "GROUP") for r in rules} - {None} <= daemon_groups

    # Every stable device name the example config uses is one the rules create.
    config = tomllib.loads((ROOT / "config" / "cabinetd.toml").read_text())
    ports = [bus["port"] for bus in config.get("buses", {}).values()]
    ports.append(config.get("badge_reader", {}).get("port", "/dev/cabinet-badge"))
    for port in ports:
        if port.startswith("/dev/cabinet-"):
            assert port.removeprefix("/dev/") in by_symlink, port


def test_ok__udev_rules_set_the_latency_timer_of_ftdi_adapters_to_1_ms() -> None:
    rules = parse_udev_rules((SYSTEMD / "99-cabinetd.rules").read_text())
    ftdi = [r for r in rules if matched(r, "DRIVER") == "ftdi_sio"]
    assert [(matched(r, "SUBSYSTEM"), assigned(r, "ATTR", "latency_timer")) for r in ftdi] == [("usb-serial", "1")]

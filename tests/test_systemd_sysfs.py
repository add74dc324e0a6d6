"""systemd/ and the slot ports' sysfs `disable` fallback: the unit lets the daemon write a hub port's
`disable` file, and the udev rules give it that file (the rest of systemd/ is in test_systemd.py)."""

from __future__ import annotations

import pytest

from tests.test_systemd import SYSTEMD, assigned, matched, parse_udev_rules, value, values

# Where a Raspberry Pi 4 and a PC keep a hub port's `disable` file, as /sys/bus/usb/devices/... resolves.
PORT_DISABLE_FILES = (
    "/sys/devices/platform/scb/fd500000.pcie/pci0000:00/0000:00:00.0/0000:01:00.0"
    "/usb1/1-1/1-1:1.0/1-1-port4/disable",
    "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-0:1.0/usb1-port3/disable",
)


def under(path: str, directories: list[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in directories)


@pytest.mark.parametrize("disable", PORT_DISABLE_FILES)
def test_ok__unit_lets_the_daemon_write_a_hub_ports_disable_file(disable: str) -> None:
    unit = SYSTEMD / "cabinetd.service"
    # What makes /sys read-only for the service is in force...
    assert value(unit, "Service", "ProtectSystem") == "strict"
    assert value(unit, "Service", "ProtectKernelTunables") == "yes"
    # ...and a writable path opens the device tree again, with nothing narrower closing it.
    writable = [p.lstrip("-+") for line in values(unit, "Service", "ReadWritePaths") for p in line.split()]
    assert under(disable, writable), writable
    for key in ("ReadOnlyPaths", "InaccessiblePaths", "TemporaryFileSystem"):
        closed = [p.lstrip("-+").split(":")[0] for line in values(unit, "Service", key) for p in line.split()]
        assert not under(disable, closed), (key, closed)
    assert values(unit, "Service", "PrivateDevices") in ([], ["no"])


def test_ok__udev_rules_hand_the_ports_disable_files_to_the_daemon() -> None:
    rules = parse_udev_rules((SYSTEMD / "99-cabinetd.rules").read_text())
    ports = [r for r in rules if matched(r, "SUBSYSTEM") == "usb" and matched(r, "DRIVER") == "hub"]
    assert len(ports) == 1
    command = assigned(ports[0], "RUN", "program")
    assert command is not None
    assert "chgrp plugdev $sys$devpath/*-port*/disable" in command
    assert "chmod 0660 $sys$devpath/*-port*/disable" in command
    assert "plugdev" in value(SYSTEMD / "cabinetd.service", "Service", "SupplementaryGroups").split()

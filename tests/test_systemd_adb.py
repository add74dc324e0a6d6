"""systemd/cabinet-adb.service: the adb server of the stock Android handhelds (docs/deployment.md).
systemd-analyze verifies it and scores its exposure with the other units, in tests/test_systemd.py."""

from __future__ import annotations

from cabinetd.config import AdbSection
from tests.test_systemd import SYSTEMD, value, values


def test_ok__adb_server_unit() -> None:
    """Debian's adb on the loopback address the daemon's [adb] section names, in the foreground, as
    its own user holding the cabinet's key, reaching only USB device nodes and localhost."""
    unit = SYSTEMD / "cabinet-adb.service"
    adb = AdbSection()
    assert value(unit, "Service", "ExecStart") == f"/usr/bin/adb -L tcp:localhost:{adb.port} nodaemon server"
    assert adb.host == "127.0.0.1"
    assert (value(unit, "Service", "User"), value(unit, "Service", "Group")) == ("cabinet-adb", "cabinet-adb")
    assert value(unit, "Service", "StateDirectory") == "cabinet-adb"
    assert value(unit, "Service", "StateDirectoryMode") == "0700"
    assert values(unit, "Service", "Environment") == ["HOME=/var/lib/cabinet-adb"]
    assert values(unit, "Service", "DeviceAllow") == ["char-usb_device rw"]
    assert (values(unit, "Service", "IPAddressDeny"), values(unit, "Service", "IPAddressAllow")) == (
        ["any"],
        ["localhost"],
    )
    assert value(unit, "Service", "CapabilityBoundingSet") == ""
    assert value(unit, "Unit", "Before") == "cabinetd.service"
    # adb is only recommended: without it the unit is skipped, not failed.
    assert value(unit, "Unit", "ConditionPathExists") == "/usr/bin/adb"

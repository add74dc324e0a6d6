"""Drivers by the name config gives them, and a driver that cannot start here said in one line."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest
import usb.backend.libusb1

from cabinetd.config import BadgeReaderSection, CabinetConfig, ModuleLock, UsbSection
from cabinetd.hal import drivers, pins
from cabinetd.hal.base import PartStateChanged
from cabinetd.hal.board8a import Board8aBoard
from cabinetd.hal.drivers import build_badge_reader, build_slot_ports
from cabinetd.hal.errors import DriverError
from cabinetd.hal.gpio import GpioDoors, GpioLockBank
from cabinetd.hal.kerong import KerongBoard
from cabinetd.hal.locks import build_locks_and_doors
from cabinetproto.links import DEFAULT_LINK, LOCAL_LINKS
from testbed.badgerig import badge_config
from testbed.lockrig import LOCK_KINDS, lock_config
from testbed.recorder import EventRecorder
from testbed.usbrig import usb_config

ROOT = Path(__file__).resolve().parents[2]
NO_PIN_LIBRARY = (("cabinetd.hal.no_such_pins", "NoFactory"),)
NO_PINS_WHY = "no GPIO pin library works on this computer (NoFactory: No module named 'cabinetd.hal.no_such_pins')"
MISSING = "/nonexistent/ttyUSB0"
NO_SUCH_PORT = f"[Errno 2] could not open port {MISSING}: [Errno 2] No such file or directory: '{MISSING}'"


def _literal_names(annotation: Any) -> set[str]:
    return set(typing.get_args(annotation))


def test_ok__every_name_config_accepts_has_a_driver_and_no_other() -> None:
    (union, *_) = typing.get_args(ModuleLock)  # Annotated[A | B | C, Field(discriminator="driver")]
    models = typing.get_args(union)
    lock_names = set().union(*(_literal_names(model.model_fields["driver"].annotation) for model in models))
    assert set(drivers.LOCK_DRIVERS) == lock_names == {"gpio", "kerong", "board8a"}
    assert set(drivers.BADGE_READERS) == _literal_names(BadgeReaderSection.model_fields["type"].annotation)
    assert set(drivers.SLOT_PORTS) == _literal_names(UsbSection.model_fields["type"].annotation)
    assert set(drivers.DEVICE_LINKS) <= set(LOCAL_LINKS)
    assert DEFAULT_LINK in drivers.DEVICE_LINKS


@pytest.mark.parametrize(
    ("kind", "bank_type"),
    [("gpio", GpioLockBank), ("gpio-active-low", GpioLockBank), ("kerong", KerongBoard), ("board8a", Board8aBoard)],
)
def test_ok__a_module_gets_the_driver_its_name_picks(kind: str, bank_type: type) -> None:
    hardware = build_locks_and_doors(lock_config(kind), EventRecorder())
    (bank,) = hardware.lock_banks
    assert type(bank) is bank_type
    assert [bus.bus for bus in hardware.buses] == ([] if bank_type is GpioLockBank else ["lockbus"])


def test_ok__building_opens_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    # No pin library anywhere: building still works, and the lookup waits for prepare().
    monkeypatch.setattr(pins, "PIN_LIBRARIES", NO_PIN_LIBRARY)
    for kind in LOCK_KINDS:
        build_locks_and_doors(lock_config(kind), EventRecorder())


@pytest.mark.parametrize(
    ("kind", "where", "part_type"),
    [
        ("gpio", "modules[0].lock", GpioLockBank),
        ("kerong-bit1-reed", "modules[0].slots[0].door.pin", GpioDoors),
    ],
    ids=["gpio-lock", "reed-switch-on-a-board-module"],
)
async def test_fail__no_pin_library_is_one_line_naming_the_key(
    monkeypatch: pytest.MonkeyPatch, kind: str, where: str, part_type: type
) -> None:
    monkeypatch.setattr(pins, "PIN_LIBRARIES", NO_PIN_LIBRARY)
    hardware = build_locks_and_doors(lock_config(kind), EventRecorder(), serial_url_for=lambda name: MISSING)
    (part,) = [part for part in hardware.subsystems() if isinstance(part, part_type)]
    with pytest.raises(DriverError) as raised:
        await part.prepare()
    assert str(raised.value) == f"{where} (gpio): {NO_PINS_WHY}"
    await part.cleanup()


async def test_fail__no_libusb_is_one_line_naming_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(usb.backend.libusb1, "get_backend", lambda *args, **kwargs: None)
    ports = build_slot_ports(usb_config({1: "1-1.1"}), EventRecorder())
    with pytest.raises(DriverError) as raised:
        await ports.prepare()
    assert str(raised.value) == "usb.type (pyusb): libusb-1.0 is not installed (Debian: libusb-1.0-0)"
    await ports.cleanup()


async def test_ok__missing_bus_device_is_one_warning_and_the_board_waits_for_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    raw = lock_config("kerong").model_dump()
    raw["buses"]["lockbus"]["port"] = MISSING
    config = CabinetConfig.model_validate(raw)
    events = EventRecorder()
    hardware = build_locks_and_doors(config, events)
    prepared = []
    caplog.set_level(logging.WARNING, logger="cabinetd.hal")
    try:
        for part in hardware.subsystems():
            await part.prepare()  # no exception: the port is reopened forever, as after an unplug
            prepared.append(part)
        gone = await events.next(PartStateChanged)
        assert gone == PartStateChanged("bus/lockbus", False, f"cannot open {MISSING}: {NO_SUCH_PORT}")
        warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
        assert warnings[0].getMessage() == f"buses.lockbus.port (kerong): cannot open {MISSING}: {NO_SUCH_PORT}"
        assert all(record.exc_info is None for record in caplog.records)
    finally:
        for part in reversed(prepared):
            await part.cleanup()


async def test_ok__missing_reader_device_is_one_warning_and_the_reader_waits_for_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = badge_config({"type": "rdm6300", "port": MISSING})
    events = EventRecorder()
    reader = build_badge_reader(config, events)
    caplog.set_level(logging.WARNING, logger="cabinetd.hal")
    await reader.prepare()
    task = asyncio.create_task(reader.run())
    try:
        await events.next(PartStateChanged)
        await asyncio.sleep(0.3)  # a few more attempts, none of them news
        assert [record.getMessage() for record in caplog.records] == [
            f"badge_reader.port (rdm6300): cannot open: {NO_SUCH_PORT}; retrying every 0.1 s"
        ]
        assert not task.done()
    finally:
        task.cancel()
        await reader.cleanup()


@pytest.mark.slow  # a real cabinetd run in a fresh interpreter
def test_fail__cabinetd_run_without_a_pin_library_says_one_line(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text(
        f'[cabinet]\nstate_dir = "{tmp_path}/state"\n'
        f'[api]\nport = 18099\ncontrol_socket = "{tmp_path}/control.sock"\n'
        f'[cloud]\ntoken_file = "{tmp_path}/cloud.token"\n'
        f'[badge_reader]\nport = "{MISSING}"\n'
        f'[buses.lockbus]\nport = "{MISSING}"\n'
    )
    script = (
        "import sys\n"
        "from cabinetd.hal import pins\n"
        f"pins.PIN_LIBRARIES = {NO_PIN_LIBRARY!r}\n"
        "from cabinetd.__main__ import main\n"
        f"sys.exit(main(['run', '--config', 'config/cabinetd.toml', '--config', {str(site)!r}]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    errors = [line.split(" ", 3)[3] for line in done.stderr.splitlines() if " ERROR " in line]
    assert errors == [f"cabinetd.daemon: cannot prepare gpio locks of module A: modules[0].lock (gpio): {NO_PINS_WHY}"]

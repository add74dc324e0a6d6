"""The cabinet's configuration checks that span fields: each problem with the key path it is about.

The models in `config.py` check each value on its own; what only a whole cabinet can tell (a lock
board on a bus that is not declared, two slots with one number, a cloud URL without TLS) is here.
"""

from __future__ import annotations

import ipaddress

from cabinetd.config import (
    BOARD_CHANNELS,
    Board8aModuleLock,
    CabinetConfig,
    GpioModuleLock,
    KeyPath,
    ModuleSection,
    SlotSection,
    path_text,
)


def cross_checks(config: CabinetConfig) -> list[tuple[KeyPath, str]]:
    """Checks that span fields; each problem is (key path, message)."""
    problems: list[tuple[KeyPath, str]] = []
    problems += _check_api(config)
    problems += _check_cloud(config)
    problems += _check_buses_and_boards(config)
    problems += _check_slots(config)
    problems += _check_sim(config)
    return problems


def _check_sim(config: CabinetConfig) -> list[tuple[KeyPath, str]]:
    modules = {module.name for module in config.modules}
    problems: list[tuple[KeyPath, str]] = [
        (("sim", "modules", name), f"no module named {name!r}") for name in config.sim.modules if name not in modules
    ]
    problems += [
        (("sim", "buses", name), f"no bus named {name!r}") for name in config.sim.buses if name not in config.buses
    ]
    return problems


def _check_api(config: CabinetConfig) -> list[tuple[KeyPath, str]]:
    host = config.api.host
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        return []
    return [(("api", "host"), f"must be a loopback address (127.0.0.1, ::1 or localhost), got {host!r}")]


def _check_cloud(config: CabinetConfig) -> list[tuple[KeyPath, str]]:
    url = config.cloud.url
    if url is None or url.scheme == "https":
        return []
    host = url.host or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        return []
    return [(("cloud", "url"), f"must use https (plain http only to a loopback host), got '{url}'")]


def _check_buses_and_boards(config: CabinetConfig) -> list[tuple[KeyPath, str]]:
    problems: list[tuple[KeyPath, str]] = []
    boards_seen: dict[tuple[str, int], int] = {}
    driver_of_bus: dict[str, tuple[str, int]] = {}
    for index, module in enumerate(config.modules):
        lock = module.lock
        if isinstance(lock, GpioModuleLock):
            continue
        if lock.bus not in config.buses:
            known = ", ".join(sorted(config.buses)) or "none"
            problems.append(
                (("modules", index, "lock", "bus"), f"no bus named {lock.bus!r} (defined: {known})")
            )
            continue
        first = boards_seen.setdefault((lock.bus, lock.board), index)
        if first != index:
            problems.append(
                (
                    ("modules", index, "lock", "board"),
                    f"board {lock.board} on bus {lock.bus!r} is already used by modules[{first}]",
                )
            )
        driver, owner = driver_of_bus.setdefault(lock.bus, (lock.driver, index))
        if driver != lock.driver:
            problems.append(
                (
                    ("modules", index, "lock", "driver"),
                    f"bus {lock.bus!r} already speaks {driver!r} (modules[{owner}]); "
                    "one protocol per bus",
                )
            )
    return problems


def _check_slots(config: CabinetConfig) -> list[tuple[KeyPath, str]]:
    problems: list[tuple[KeyPath, str]] = []
    numbers: dict[int, KeyPath] = {}
    pins: dict[int, KeyPath] = {}
    usb_ports: dict[str, KeyPath] = {}

    def claim_pin(pin: int | None, path: KeyPath) -> None:
        if pin is None:
            return
        first = pins.setdefault(pin, path)
        if first != path:
            problems.append((path, f"GPIO {pin} is already used by {path_text(first)}"))

    for m, module in enumerate(config.modules):
        for s, slot in enumerate(module.slots):
            here: KeyPath = ("modules", m, "slots", s)
            first = numbers.setdefault(slot.number, (*here, "number"))
            if first != (*here, "number"):
                problems.append(
                    ((*here, "number"), f"slot {slot.number} is already defined at {path_text(first[:-1])}")
                )
            port_first = usb_ports.setdefault(slot.usb_port, (*here, "usb_port"))
            if port_first != (*here, "usb_port"):
                problems.append(
                    (
                        (*here, "usb_port"),
                        f"USB port {slot.usb_port} is already used by {path_text(port_first[:-1])}",
                    )
                )
            problems += _check_slot_lock(module, slot, here)
            claim_pin(slot.lock.pin, (*here, "lock", "pin"))
            claim_pin(slot.door.pin, (*here, "door", "pin"))
            claim_pin(slot.led_pin, (*here, "led_pin"))
    return problems


def _check_slot_lock(module: ModuleSection, slot: SlotSection, here: KeyPath) -> list[tuple[KeyPath, str]]:
    problems: list[tuple[KeyPath, str]] = []
    driver = module.lock.driver
    if driver == "gpio":
        if slot.lock.pin is None:
            problems.append(((*here, "lock", "pin"), "required for a gpio lock"))
        if slot.lock.channel is not None:
            problems.append(((*here, "lock", "channel"), "not used by a gpio lock (give lock.pin)"))
        if slot.door.board_feedback:
            problems.append(((*here, "door", "board_feedback"), "a gpio lock has no board to read back"))
    else:
        channels = module.lock.channels if isinstance(module.lock, Board8aModuleLock) else BOARD_CHANNELS[driver]
        if slot.lock.channel is None:
            problems.append(((*here, "lock", "channel"), f"required for a {driver} lock"))
        elif slot.lock.channel > channels:
            problems.append(
                ((*here, "lock", "channel"), f"must be between 1 and {channels}, got {slot.lock.channel}")
            )
        if slot.lock.pin is not None:
            problems.append(((*here, "lock", "pin"), f"not used by a {driver} lock (give lock.channel)"))
    if slot.door.pin is None and not slot.door.board_feedback:
        problems.append(((*here, "door"), "needs a sensor: give door.pin or door.board_feedback = true"))
    if slot.door.pin is not None and slot.door.board_feedback:
        problems.append(((*here, "door"), "give door.pin or door.board_feedback, not both"))
    return problems

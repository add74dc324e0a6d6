"""The simulated cabinet's physical world on disk, and the stock it starts with.

A real cabinet's contents survive a restart or a crash of the daemon: the handhelds stay in their slots
(or with the staff who took them), their batteries keep their charge, a door left open stays open. The
simulator keeps the same facts in one JSON file in the state directory, rewritten after every change a
person makes at the cabinet; a crash leaves either the old file or the new one, never half of either.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from cabinetd.hal.agentprotocol import SELFTEST_CHECKS

log = logging.getLogger(__name__)

FILE_NAME: Final = "sim-world.json"
VERSION: Final = 1


class SimWorldError(Exception):
    """The world file cannot be read; the message names the file and what is wrong with it."""


def check_selftest(value: str) -> str:
    """'pass', or 'fail:CHECK' with CHECK one of the agent protocol's self-test checks."""
    if value == "pass":
        return value
    kind, _, check = value.partition(":")
    if kind != "fail" or check not in SELFTEST_CHECKS:
        checks = ", ".join(SELFTEST_CHECKS)
        raise ValueError(f"must be 'pass' or 'fail:CHECK' with CHECK one of {checks}, got {value!r}")
    return value


class DeviceRecord(BaseModel):
    """One handheld of the simulated fleet, in a slot or out with a member of staff."""

    model_config = ConfigDict(extra="forbid")

    serial: Annotated[str, Field(min_length=1, max_length=64)]
    model: Annotated[str, Field(min_length=1, max_length=64)]
    # How the cabinet talks to it: the agent app over AOA, or stock Android over adb (its model's link
    # in the fleet data must say the same).
    link: Literal["aoa-agent", "adb"] = "aoa-agent"
    slot: int | None = None  # None: out of the cabinet
    battery: Annotated[float, Field(ge=0, le=100)] = 80.0
    charging: bool = True
    selftest: str = "pass"
    responsive: bool = True
    # What the cabinet installed on it, so that a restart does not undo provisioning.
    installed: dict[str, int] = {}
    enabled: list[str] = []
    work_type: str | None = None

    @field_validator("selftest")
    @classmethod
    def _selftest(cls, value: str) -> str:
        return check_selftest(value)


class WorldRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = VERSION
    devices: list[DeviceRecord] = []
    open_doors: list[int] = []


def demo_stock() -> WorldRecord:
    """The cabinet `make demo` starts with: handhelds of config/fleet-demo.toml, three charged, two
    charging, one whose scanner fails its self-test (found at the first start), slots 3 and 8 empty. Slot
    7 holds a stock Android handheld the cabinet talks to over adb; the others run the agent app."""
    return WorldRecord(
        devices=[
            DeviceRecord(serial="S1-0001", model="pda-s1", slot=1, battery=96),
            DeviceRecord(serial="S1-0002", model="pda-s1", slot=2, battery=22),
            DeviceRecord(serial="S1-0003", model="pda-s1", slot=4, battery=85, selftest="fail:scanner"),
            DeviceRecord(serial="R1-0001", model="pda-r1", slot=5, battery=92),
            DeviceRecord(serial="R1-0002", model="pda-r1", slot=6, battery=45),
            DeviceRecord(serial="A1-0001", model="pda-a1", link="adb", slot=7, battery=88),
        ]
    )


def load(path: Path) -> WorldRecord | None:
    """The world saved at `path`, or None when there is none yet."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SimWorldError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        world = WorldRecord.model_validate(json.loads(text))
    except json.JSONDecodeError as exc:
        raise SimWorldError(f"{path}: not JSON: {exc.msg} at line {exc.lineno}") from None
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise SimWorldError(f"{path}: {where}: {error['msg']}") from None
    if world.version != VERSION:
        raise SimWorldError(f"{path}: version {world.version}, this simulator reads version {VERSION}")
    return world


def save(path: Path, world: WorldRecord) -> None:
    """Write atomically: a temporary file synced to disk, then renamed over the old one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    data = json.dumps(world.model_dump(mode="json"), indent=1, sort_keys=True).encode("utf-8")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)

"""A whole simulated cabinet for flow tests: the real drivers on the fakes, the real ledger and
controller, and a clock the test moves for the controller's timers."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cabinetd import configfile
from cabinetd.cabinet import Cabinet
from cabinetd.clock import ManualClock, settle
from cabinetd.config import CabinetConfig
from cabinetd.ledger import Ledger
from cabinetd.lifecycle import Subsystem
from cabinetd.sim.cabinet import SimCabinet
from cabinetproto.pins import hash_pin

ROOT = Path(__file__).resolve().parent.parent.parent
SHA = hashlib.sha256(b"app").hexdigest()

APPS = [
    {
        "package": "com.example.home",
        "version": "2.4.0",
        "version_code": 240,
        "url": "https://apps.example/home.apk",
        "sha256": SHA,
    },
    {
        "package": "com.example.labels",
        "version": "3.1.2",
        "version_code": 312,
        "url": "https://apps.example/labels.apk",
        "sha256": SHA,
    },
]
ROSTER: list[dict[str, Any]] = [
    {
        "entity": "work_types",
        "id": "price-tags",
        "data": {
            "name": "Price tags",
            "rental_limit_minutes": 240,
            "battery_threshold": 40,
            "device_models": ["pda-s1"],
            "apps": APPS,
            "max_devices_per_staff": 1,
        },
    },
    {
        "entity": "work_types",
        "id": "picking",
        "data": {
            "name": "Picking",
            "rental_limit_minutes": 480,
            "battery_threshold": 60,
            "device_models": ["pda-r1"],
            "apps": APPS[:1],
            "max_devices_per_staff": 2,
        },
    },
    {"entity": "device_models", "id": "pda-s1", "data": {"name": "S1", "slot_types": ["pda-standard"]}},
    {"entity": "device_models", "id": "pda-r1", "data": {"name": "R1", "slot_types": ["pda-rugged"]}},
    {
        "entity": "staff",
        "id": "anna",
        "data": {"badge": "A1B2C3", "name": "Anna", "store": "demo", "work_type": "price-tags", "active": True},
    },
    {
        "entity": "staff",
        "id": "piet",
        "data": {"badge": "B2C3D4", "name": "Piet", "store": "demo", "work_type": "picking", "active": True},
    },
    {
        "entity": "staff",
        "id": "olga",
        "data": {"badge": "C3D4E5", "name": "Olga", "store": "north", "work_type": "price-tags", "active": True},
    },
    {
        "entity": "staff",
        "id": "tom",
        "data": {
            "badge": "D4E5F6",
            "name": "Tom",
            "store": "demo",
            "work_type": "price-tags",
            "active": True,
            "role": "technician",
            "pin_hash": hash_pin("2468", b"salt0001"),
        },
    },
]


def sim_config(tmp_path: Path, *, id_form: str | None = None, **timeouts: float) -> CabinetConfig:
    site = tmp_path / "site.toml"
    lines = [f'[cabinet]\nstate_dir = "{tmp_path}/state"\n', f'[api]\ncontrol_socket = "{tmp_path}/c.sock"\n']
    if id_form is not None:
        lines.append(f'[badge_reader]\nid_form = "{id_form}"\n')
    if timeouts:
        lines.append("[timeouts]\n" + "".join(f"{k} = {v}\n" for k, v in timeouts.items()))
    site.write_text("".join(lines))
    return configfile.load([ROOT / "config" / "sim.toml", site])


class Rig:
    def __init__(
        self,
        tmp_path: Path,
        *,
        occupied: list[int] | None = None,
        id_form: str | None = None,
        roster: list[dict[str, Any]] | None = None,
        rewire: Callable[[dict[str, Any]], None] | None = None,
        **timeouts: float,
    ) -> None:
        self.tmp_path = tmp_path
        # Staff badge again seconds later in these tests; the reader's repeat window would eat that.
        self.config = sim_config(tmp_path, id_form=id_form, **{"badge_repeat_s": 0.05, **timeouts})
        self.roster = ROSTER if roster is None else roster
        if rewire is not None:  # a test's own wiring of the simulated cabinet, on top of config/sim.toml
            data = self.config.model_dump()
            rewire(data)
            self.config = CabinetConfig.model_validate(data)
        self.clock = ManualClock()
        self.occupied = occupied
        self.tasks: list[asyncio.Task[None]] = []
        self.parts: list[Subsystem] = []
        self.sim = SimCabinet(self.config, occupied=occupied, refresh_s=3600)
        self.cabinet = self._build()

    def _build(self) -> Cabinet:
        return Cabinet(self.config, sim=self.sim, clock=self.clock)

    @property
    def controller(self) -> Any:
        return self.cabinet.controller

    @property
    def ledger(self) -> Ledger:
        return self.cabinet.ledger.ledger

    async def start(self, *, seed: bool = True) -> None:
        # Everything but the HTTP listener: the flows are driven through the hardware fakes.
        self.parts = [p for p in self.cabinet.subsystems if p is not self.cabinet.api]
        ledger_part, rest = self.parts[0], self.parts[1:]
        await ledger_part.prepare()
        if seed and not self.ledger.work_types():
            ops = [{**op, "version": 1, "op": "upsert"} for op in self.roster]
            self.ledger.replace_replicas(ops, "seed")
        for part in rest:
            await part.prepare()
        self.tasks = [asyncio.create_task(part.run(), name=part.name) for part in self.parts]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for part in reversed(self.parts):
            await part.cleanup()

    async def restart(self) -> None:
        await self.stop()
        await self.start_again()

    async def start_again(self, while_down: Callable[[], object] | None = None) -> None:
        """Start after a stop, over the same ledger and fakes; `while_down` is what happened at the
        cabinet meanwhile (a door shut, a device put back)."""
        if while_down is not None:
            while_down()
        self.cabinet = self._build()
        await self.start()

    async def until(self, what: Callable[[], object], within: float = 5.0) -> None:
        deadline = time.monotonic() + within
        while not what():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting; screen {self.controller.screen.snapshot()}")
            await asyncio.sleep(0.01)
        await settle()

    def events(self, *types: str) -> list[str]:
        return [e.type for e in self.ledger.tail(10_000) if not types or e.type in types]

    def state(self, slot: int) -> str:
        return str(self.controller.slots[slot].state.value)

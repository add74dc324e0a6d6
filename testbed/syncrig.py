"""The sync client against a cloud, as the sync tests and the catch-up benchmark drive it: a cabinet
config pointing at the cloud, the real loops at fast pacing, and a loop that runs until a condition holds."""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cabinetd.config import CabinetConfig
from cabinetd.ledger import Ledger
from cabinetd.sync.client import CloudSync
from cabinetd.sync.pacing import Pacing
from cabinetproto.wire import Command, CommandOutcome
from testbed.cloudharness import FLEET_DEMO

SIM_CONFIG = FLEET_DEMO.parent / "sim.toml"

# The real loops, at a hundredth of the real waits.
FAST = Pacing(
    backoff_base_s=0.01,
    backoff_cap_s=0.2,
    first_request_spread_s=0.0,
    request_timeout_s=5.0,
    long_poll_s=0.2,
    outbox_poll_s=0.05,
    command_timeout_s=5.0,
)


def cabinet_config(
    state_dir: Path, url: str | None, *, ca_bundle: Path | None = None, cabinet_id: str | None = None
) -> CabinetConfig:
    raw = tomllib.loads(SIM_CONFIG.read_text())
    if cabinet_id is not None:
        raw["cabinet"]["id"] = cabinet_id
    raw["cabinet"]["state_dir"] = str(state_dir)
    raw["api"]["control_socket"] = str(state_dir / "control.sock")
    raw["cloud"] = {"token_file": str(state_dir / "cloud.token")}
    if url is not None:
        raw["cloud"]["url"] = url
    if ca_bundle is not None:
        raw["cloud"]["ca_bundle"] = str(ca_bundle)
    return CabinetConfig.model_validate(raw)


class Executed:
    """The controller's side of remote commands, as the tests see it: what ran, and in what order."""

    def __init__(self) -> None:
        self.commands: list[Command] = []

    async def __call__(self, command: Command) -> CommandOutcome:
        self.commands.append(command)
        return CommandOutcome(True, f"{command.kind} done")


async def run_until(client: CloudSync, done: Callable[[], bool], timeout_s: float = 60.0) -> None:
    """Run the client until `done()` holds; fail with its status if it does not in time."""
    await client.prepare()
    task = asyncio.create_task(client.run())
    try:
        async with asyncio.timeout(timeout_s):
            while not done():
                if task.done():
                    task.result()
                    raise AssertionError("the sync client stopped by itself")
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"not done within {timeout_s} s; sync status: {client.status()}") from None
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.cleanup()


def client_for(config: CabinetConfig, ledger: Ledger, execute: Any = None, **options: Any) -> CloudSync:
    options.setdefault("pacing", FAST)
    return CloudSync(config, ledger, execute or Executed(), **options)

"""The sync client as its own process, for the crash tests: `python -m tests.sync.crash_child STATE_DIR URL`.

It syncs until the outbox is empty and exits 0; the test kills it with SIGKILL at chosen points.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from cabinetd.ledger import open_ledger
from testbed.syncrig import cabinet_config, client_for, run_until


async def main(state_dir: Path, url: str) -> None:
    ledger = open_ledger(state_dir, "sim-1")
    try:
        client = client_for(cabinet_config(state_dir, url), ledger)

        def done() -> bool:
            state = ledger.sync_state()
            return state.acked_seq == state.last_seq

        await run_until(client, done, timeout_s=60)
    finally:
        ledger.close()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2]))

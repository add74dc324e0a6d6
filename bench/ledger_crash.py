"""The process-crash soak with more kills than the test suite runs.

    python -m bench ledger_crash [--json] [--kills N] [--target N] [--seed N] [--dir PATH]

A child process rents and returns devices through the ledger, printing every event after `append`
returned, and is killed with SIGKILL at random moments; after every kill the ledger is reopened and
checked (every printed event present, no device in two open rentals, hash chain intact, rebuilt
projections identical). `problems` must be empty. The harness is testbed/process_crash.py.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import tempfile
from pathlib import Path
from typing import Any

from testbed.process_crash import soak


def main(argv: list[str]) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench ledger_crash")
    parser.add_argument("--kills", type=int, default=200, help="SIGKILLs (default 200)")
    parser.add_argument("--target", type=int, default=200, help="rentals and returns per round (default 200)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: a fresh one)")
    parser.add_argument("--dir", type=Path, default=None, help="run on this directory's disk")
    options = parser.parse_args(argv)
    seed = options.seed if options.seed is not None else random.randrange(2**32)
    with tempfile.TemporaryDirectory(prefix="bench-ledger-crash-", dir=options.dir) as directory:
        result = soak(Path(directory) / "state", kills=options.kills, target=options.target, seed=seed)
    return {"seed": seed, **dataclasses.asdict(result), "kills_per_s": round(result.kills / result.seconds, 1)}

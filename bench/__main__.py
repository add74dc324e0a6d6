"""Run one benchmark, or all of them with their quick defaults.

    python -m bench NAME [--json] [options]     # bench/NAME.py: main(options) -> dict
    python -m bench all --json                  # every benchmark module, quick defaults

With --json the result is printed as one JSON object (for `all`: one object keyed by benchmark name);
otherwise as readable `key: value` lines.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

Bench = Callable[[list[str]], dict[str, Any]]


def names() -> list[str]:
    here = Path(__file__).parent
    return sorted(info.name for info in pkgutil.iter_modules([str(here)]) if not info.name.startswith("_"))


def load(name: str) -> Bench:
    if name not in names():
        raise SystemExit(f"no benchmark named {name!r} (known: {', '.join(names())})")
    module = importlib.import_module(f"bench.{name}")
    main: Bench = module.main
    return main


def readable(result: dict[str, Any], indent: str = "") -> str:
    lines = []
    for key, value in result.items():
        if isinstance(value, dict):
            lines.append(f"{indent}{key}:")
            lines.append(readable(value, indent + "  "))
        else:
            shown = f"{value:,.2f}" if isinstance(value, float) else str(value)
            lines.append(f"{indent}{key}: {shown}")
    return "\n".join(lines)


def run(argv: list[str]) -> int:
    as_json = "--json" in argv
    args = [arg for arg in argv if arg != "--json"]
    if not args or args[0] in ("-h", "--help"):
        print(__doc__.strip())
        print(f"\nbenchmarks: {', '.join(names())}")
        return 0 if args else 2
    name, options = args[0], args[1:]
    if name == "all":
        if options:
            raise SystemExit("`all` runs every benchmark with its quick defaults and takes no options")
        result: dict[str, Any] = {each: load(each)([]) for each in names()}
    else:
        result = load(name)(options)
    print(json.dumps(result, sort_keys=False) if as_json else readable(result))
    # A benchmark whose figures must hold (the soak's must-be-0 counts) says so with "ok".
    return 0 if result.get("ok", True) is not False else 1


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))

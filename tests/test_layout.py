"""Sizes that keep the code readable: no module over 400 lines, no function over 60 (a nested one
counts on its own, and inside the one around it). A failure names every offender, so that one run
shows all there is to split."""

from __future__ import annotations

import ast
import functools
from pathlib import Path
from typing import Final

import pytest

ROOT: Final = Path(__file__).resolve().parent.parent
PACKAGES: Final = ("cabinetd", "cabinetcloud", "cabinetproto", "bench", "tests")
MODULE_LINES: Final = 400
FUNCTION_LINES: Final = 60


@functools.cache
def sources() -> dict[Path, str]:
    return {
        path: path.read_text(encoding="utf-8")
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def where(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_ok__no_module_over_400_lines() -> None:
    over = [
        f"{where(path)} ({lines} lines)"
        for path, text in sources().items()
        if (lines := len(text.splitlines())) > MODULE_LINES
    ]
    if over:
        pytest.fail(f"modules over {MODULE_LINES} lines ({len(over)}):\n" + "\n".join(over), pytrace=False)


def test_ok__no_function_over_60_lines() -> None:
    over: list[str] = []
    for path, text in sources().items():
        for node in ast.walk(ast.parse(text, filename=str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                lines = node.end_lineno - node.lineno + 1
                if lines > FUNCTION_LINES:
                    over.append(f"{where(path)}:{node.lineno} {node.name} ({lines} lines)")
    if over:
        pytest.fail(f"functions over {FUNCTION_LINES} lines ({len(over)}):\n" + "\n".join(over), pytrace=False)

"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
import shutil

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_system(what: str, present: bool) -> None:
    """A test that needs a system package: skip on a developer's machine, fail in CI (CI=true)."""
    if present:
        return
    if IN_CI:
        pytest.fail(f"{what} is missing; `make test` installs it when run as root")
    pytest.skip(f"{what} is missing (install it, or run `make test` as root)")


def require_command(name: str) -> str:
    found = shutil.which(name)
    require_system(f"the command {name!r}", found is not None)
    assert found is not None
    return found

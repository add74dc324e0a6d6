"""Debian version order: the pure function against dpkg's own `--compare-versions`."""

from __future__ import annotations

import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cabinetd.updates.debversion import VersionError, compare
from tests.conftest import require_command

_PART = st.text(alphabet="0123456789abcz.+~AZ", max_size=6)
_REVISION = st.text(alphabet="0123456789abz.+~", min_size=1, max_size=4)


@st.composite
def versions(draw: st.DrawFn) -> str:
    epoch = draw(st.sampled_from(["", "0:", "1:", "2:"]))
    upstream = draw(st.sampled_from("0123456789")) + draw(_PART)
    revision = draw(st.one_of(st.just(""), _REVISION.map(lambda r: "-" + r)))
    if revision and draw(st.booleans()):
        upstream += "-" + draw(_PART)  # a hyphen inside the upstream part: the last one starts the revision
    return epoch + upstream + revision


def _dpkg(a: str, op: str, b: str) -> bool:
    done = subprocess.run(["dpkg", "--compare-versions", a, op, b], capture_output=True, text=True, check=False)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode == 0


def _dpkg_order(a: str, b: str) -> int:
    if _dpkg(a, "lt", b):
        return -1
    return 1 if _dpkg(a, "gt", b) else 0


@settings(max_examples=150, deadline=None)
@given(versions(), versions())
def test_ok__the_order_is_dpkgs(a: str, b: str) -> None:
    require_command("dpkg")
    assert compare(a, b) == _dpkg_order(a, b)


@settings(max_examples=60, deadline=None)
@given(versions())
def test_ok__a_small_change_orders_as_dpkg_says(a: str) -> None:
    """Random pairs are seldom close; these are: a tilde, a suffix, a bumped revision."""
    require_command("dpkg")
    for b in (a + "~rc1", a + "+fleet1", a + ".0", a + "a"):
        assert compare(a, b) == _dpkg_order(a, b)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("1.0~rc1", "1.0", -1),
        ("1.0", "1.0-0", 0),
        ("1:0.1", "2.0", 1),
        ("0.1.0+fleet.7", "0.1.0+fleet.10", -1),
        ("1.0-1", "1.0-1~bpo1", 1),
        ("1.01", "1.1", 0),
    ],
)
def test_ok__known_pairs(a: str, b: str, expected: int) -> None:
    assert compare(a, b) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "'' is not a Debian version: empty or with spaces"),
        ("1.0 ", "'1.0 ' is not a Debian version: empty or with spaces"),
        ("a:1.0", "'a:1.0' is not a Debian version: the epoch 'a' is not a number"),
        ("1.0-", "'1.0-' is not a Debian version: bad revision ''"),
        (
            "v1.0",
            "'v1.0' is not a Debian version: the upstream part 'v1.0' must start with a digit "
            "and hold only letters, digits and . + ~ -",
        ),
    ],
)
def test_fail__not_a_version(text: str, message: str) -> None:
    with pytest.raises(VersionError) as raised:
        compare(text, "1.0")
    assert str(raised.value) == message

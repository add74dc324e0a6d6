"""Debian version order as dpkg has it: checked against `dpkg --compare-versions` itself, and the
form of a version number."""

from __future__ import annotations

import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cabinetproto import debversion
from tests.conftest import require_command

KNOWN = [
    "0.1.0",
    "0.1.0-1",
    "0.2.0-1",
    "0.10.0-1",
    "1.0~rc1-1",
    "1.0-1~bpo12+1",
    "1.0-1",
    "1.0a-1",
    "1.0+b1-1",
    "2.0.0",
    "1:0.9-1",
]
_PART = st.text(alphabet="0123456789.+~abz", min_size=0, max_size=6)
# Texts that need not be versions (a checkout reports "0.1.0", a test rig "t"): dpkg still orders them.
_ANY = st.text(alphabet="0123456789.+~abzA", min_size=1, max_size=8)


def _dpkg_says(a: str, b: str) -> int:
    dpkg = require_command("dpkg")
    for relation, sign in (("lt", -1), ("eq", 0)):
        if subprocess.run([dpkg, "--compare-versions", a, relation, b], check=False).returncode == 0:
            return sign
    return 1


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


@pytest.mark.parametrize("older", range(len(KNOWN) - 1))
def test_ok__the_known_versions_are_in_order(older: int) -> None:
    for newer in KNOWN[older + 1 :]:
        a = KNOWN[older]
        assert (_sign(debversion.compare(a, newer)), _dpkg_says(a, newer)) == (-1, -1), (a, newer)
        assert _sign(debversion.compare(newer, a)) == 1


@pytest.mark.parametrize(("older", "newer"), [("1.0", "1.a"), ("0.2.0-1", "t"), ("1.0~", "1.0"), ("1.0", "1.0.")])
def test_ok__where_a_digit_meets_a_letter(older: str, newer: str) -> None:
    assert (_sign(debversion.compare(older, newer)), _dpkg_says(older, newer)) == (-1, -1)


def test_ok__equal_in_dpkg_order() -> None:
    assert (debversion.compare("1.00-1", "1.0-1"), debversion.compare("0:2.0", "2.0")) == (0, 0)


@settings(max_examples=60, deadline=None)
@given(
    st.tuples(st.sampled_from(["", "1:"]), st.integers(0, 12), _PART, st.sampled_from(["", "-1", "-2~b", "-1+x"])),
    st.tuples(st.sampled_from(["", "1:"]), st.integers(0, 12), _PART, st.sampled_from(["", "-1", "-2~b", "-1+x"])),
)
def test_ok__random_versions_order_as_dpkg_orders_them(
    a: tuple[str, int, str, str], b: tuple[str, int, str, str]
) -> None:
    left, right = (f"{epoch}{number}{rest}{revision}" for epoch, number, rest, revision in (a, b))
    assert _sign(debversion.compare(left, right)) == _dpkg_says(left, right), (left, right)


@settings(max_examples=60, deadline=None)
@given(_ANY, _ANY)
def test_ok__any_two_texts_order_as_dpkg_orders_them(left: str, right: str) -> None:
    assert _sign(debversion.compare(left, right)) == _dpkg_says(left, right), (left, right)


@pytest.mark.parametrize("version", ["0.2.0-1", "1:2.0~rc1-3+b1", "20261203"])
def test_ok__a_debian_version(version: str) -> None:
    assert debversion.check(version) == version


@pytest.mark.parametrize("version", ["", "v1.0", "1.0-", "1.0 beta", "abc", "1.0_1"])
def test_fail__not_a_debian_version(version: str) -> None:
    with pytest.raises(debversion.VersionError) as raised:
        debversion.check(version)
    assert str(raised.value) == (
        f"{version!r} is not a Debian version: [epoch:]upstream[-revision], the upstream part starting with a "
        "digit, of letters, digits and . + ~ (and - before a revision)"
    )

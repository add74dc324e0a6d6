"""Debouncing a door switch against a clock the test moves by hand."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cabinetd.hal.debounce import Debouncer
from testbed.recorder import HandClock

SETTLE_S = 0.05


def test_ok__a_level_that_holds_settles() -> None:
    clock = HandClock()
    switch = Debouncer(False, SETTLE_S, clock)
    switch.observe(True)
    assert switch.settle() is None
    assert switch.due_in() == pytest.approx(SETTLE_S)
    clock.advance(SETTLE_S)
    assert switch.due_in() == pytest.approx(0, abs=1e-9)
    assert switch.settle() is True
    assert switch.stable is True
    assert switch.settle() is None, "a settled level is reported once"


def test_ok__chatter_that_returns_to_the_old_level_is_no_change() -> None:
    clock = HandClock()
    switch = Debouncer(False, SETTLE_S, clock)
    for level in (True, False, True, False):
        switch.observe(level)
        clock.advance(0.002)
    clock.advance(SETTLE_S)
    assert switch.settle() is None
    assert not switch.pending
    assert switch.stable is False


def test_ok__each_edge_restarts_the_wait() -> None:
    clock = HandClock()
    switch = Debouncer(False, SETTLE_S, clock)
    switch.observe(True)
    clock.advance(0.04)
    switch.observe(False)
    switch.observe(True)
    clock.advance(0.04)
    assert switch.settle() is None
    clock.advance(0.01)
    assert switch.settle() is True


@given(st.lists(st.tuples(st.floats(0, 0.2), st.booleans()), max_size=30))
def test_ok__the_stable_level_only_ever_takes_a_level_that_held(edges: list[tuple[float, bool]]) -> None:
    clock = HandClock()
    switch = Debouncer(False, SETTLE_S, clock)
    raw, since = False, clock.monotonic()
    for wait, level in edges:
        clock.advance(wait)
        settled = switch.settle()
        if settled is not None:
            assert settled == raw
            assert clock.monotonic() >= since + SETTLE_S
        if level != raw:
            raw, since = level, clock.monotonic()
        switch.observe(level)
    clock.advance(SETTLE_S)
    switch.settle()
    assert switch.stable == raw

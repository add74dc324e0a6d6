"""The fleet data's values, checked the same way for the seed file and the admin API."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from cabinetcloud.fleetdata import Notify, Slots

NOTIFY: TypeAdapter[str] = TypeAdapter(Notify)
SLOTS: TypeAdapter[list[int]] = TypeAdapter(Slots)


@pytest.mark.parametrize(
    "address",
    [
        "mailto:anna.li@example.com",
        "mailto://anna:secret@example.com",  # Apprise's own e-mail URL
        "mailtos://anna@example.com",
        "dingtalk://abcdef1234567890",
        "wecombot://botkey",
        "+8613800138000",
        "13800138000",
    ],
)
def test_ok__a_notification_address_in_each_form(address: str) -> None:
    assert NOTIFY.validate_python(address) == address


@pytest.mark.parametrize(
    ("address", "words"),
    [
        ("anna@example.com", "is not a notification address"),
        ("mailto:anna", "is not an e-mail address"),
        ("138 0013 8000", "is not a notification address"),
        ("x" * 501, "must be at most 500 characters"),
    ],
)
def test_fail__a_notification_address_that_is_none_of_them(address: str, words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        NOTIFY.validate_python(address)
    assert words in caught.value.errors()[0]["msg"]


@pytest.mark.parametrize(("given", "slots"), [(3, [1, 2, 3]), ([5, 1, 2], [1, 2, 5])])
def test_ok__slots_as_a_count_or_numbers(given: object, slots: list[int]) -> None:
    assert SLOTS.validate_python(given) == slots


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (0, "a count of slots is 1 to 999"),
        ([1, 1000], "slot 1000 is not 1 to 999"),
        ([2, 2], "slot 2 is listed twice"),
        ([], "must be a count of slots or a list of slot numbers, e.g. 8 or [1, 2, 5]"),
        (True, "must be a count of slots or a list of slot numbers, e.g. 8 or [1, 2, 5]"),
    ],
)
def test_fail__slots_that_a_cabinet_cannot_have(given: object, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        SLOTS.validate_python(given)
    assert caught.value.errors()[0]["msg"] == message

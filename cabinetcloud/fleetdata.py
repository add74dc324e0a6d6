"""The fleet data's entries and the checks of each value: one set of models for the seed file and the
admin API, so that an entry is refused with the same words whichever way it came in.

What needs more than one entry (references, a badge held twice, a PIN a role needs) is in
fleetcheck.py; how an entry becomes the rows the cloud keeps is in fleetwrite.py.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainValidator
from pydantic_core import PydanticCustomError

from cabinetproto.badges import BadgeError, parse_roster
from cabinetproto.links import DEFAULT_LINK, Link
from cabinetproto.names import MAX_NAME, NamesError, check_names, default_name
from cabinetproto.pins import MAX_PIN_DIGITS, MIN_PIN_DIGITS

StaffRole = Literal["staff", "technician", "manager"]
PRIVILEGED: Final = frozenset({"technician", "manager"})
MAX_SLOT: Final = 999  # as a cabinet's config numbers its slots (cabinetd/config.py)
MAX_NOTIFY: Final = 500


def _ident(value: str) -> str:
    if not (
        0 < len(value) <= 64
        and value[0].isascii()
        and value[0].isalnum()
        and all(c.isascii() and (c.isalnum() or c in "._-") for c in value)
    ):
        raise PydanticCustomError(
            "ident",
            "must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit, got {got}",
            {"got": repr(value)},
        )
    return value


def _badge(value: str) -> str:
    try:
        badge = parse_roster(value)
    except BadgeError as exc:
        raise PydanticCustomError("badge", "{reason}", {"reason": str(exc)}) from None
    # One text per card, whatever form it was typed in: a cabinet matches it against any reader form.
    return badge.roster_text()


def _pin(value: str) -> str:
    if not (value.isascii() and value.isdigit() and MIN_PIN_DIGITS <= len(value) <= MAX_PIN_DIGITS):
        raise PydanticCustomError(
            "pin", "must be {least} to {most} digits", {"least": MIN_PIN_DIGITS, "most": MAX_PIN_DIGITS}
        )
    return value


def _local_name(value: object) -> str | dict[str, str]:
    """One plain name, or a table of them by language (`name = { en = "Price tags", zh-CN = "价签" }`)."""
    if isinstance(value, str):
        if not value.strip():
            raise PydanticCustomError("name", "must not be empty")
        if len(value) > MAX_NAME:
            raise PydanticCustomError("name", "must be at most {most} characters", {"most": MAX_NAME})
        return value
    if isinstance(value, dict) and all(isinstance(name, str) for name in value.values()):
        try:
            return check_names(value)
        except NamesError as exc:
            raise PydanticCustomError("name", "{reason}", {"reason": str(exc)}) from None
    example = '{ en = "Price tags", zh-CN = "价签" }'
    raise PydanticCustomError(
        "name", "must be a string or a table of names by language, e.g. {example}", {"example": example}
    )


# How a notice reaches a person (issue 17 delivers them): an e-mail address as a mailto: URL, a URL of
# one of Apprise's services (scheme://...), or a mobile number that a group-chat robot @-mentions.
_MAILTO: Final = re.compile(r"^mailto:[^@\s]+@[^@\s]+\.[^@\s]+$")
_SERVICE_URL: Final = re.compile(r"^[a-z][a-z0-9+.-]{1,31}://\S+$")
_MOBILE: Final = re.compile(r"^\+?[0-9]{6,15}$")


def _notify(value: str) -> str:
    if len(value) > MAX_NOTIFY:
        raise PydanticCustomError("notify", "must be at most {most} characters", {"most": MAX_NOTIFY})
    # `mailto:name@host` is an address (RFC 6068); Apprise's own e-mail URLs are `mailto://user:pass@host`.
    if value.startswith("mailto:") and not value.startswith("mailto://") and not _MAILTO.match(value):
        raise PydanticCustomError(
            "notify", "{got} is not an e-mail address (mailto:name@example.com)", {"got": repr(value)}
        )
    if not (_MAILTO.match(value) or _SERVICE_URL.match(value) or _MOBILE.match(value)):
        raise PydanticCustomError(
            "notify",
            "{got} is not a notification address: write mailto:name@example.com, a service URL "
            "(dingtalk://..., wecombot://..., mailtos://...) or a mobile number (+8613800138000)",
            {"got": repr(value)},
        )
    return value


def _slots(value: object) -> list[int]:
    """A cabinet's slot numbers: a count (8 is slots 1 to 8) or the numbers themselves."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 1 <= value <= MAX_SLOT:
            raise PydanticCustomError("slots", "a count of slots is 1 to {most}", {"most": MAX_SLOT})
        return list(range(1, value + 1))
    if isinstance(value, list) and value and all(isinstance(n, int) and not isinstance(n, bool) for n in value):
        bad = next((n for n in value if not 1 <= n <= MAX_SLOT), None)
        if bad is not None:
            raise PydanticCustomError("slots", "slot {bad} is not 1 to {most}", {"bad": bad, "most": MAX_SLOT})
        twice = next((n for i, n in enumerate(value) if n in value[:i]), None)
        if twice is not None:
            raise PydanticCustomError("slots", "slot {twice} is listed twice", {"twice": twice})
        return sorted(value)
    raise PydanticCustomError("slots", "must be a count of slots or a list of slot numbers, e.g. 8 or [1, 2, 5]")


Ident = Annotated[str, AfterValidator(_ident)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
LocalName = Annotated[str | dict[str, str], PlainValidator(_local_name, json_schema_input_type=str | dict[str, str])]
BadgeText = Annotated[str, AfterValidator(_badge)]
Pin = Annotated[str, AfterValidator(_pin)]
Notify = Annotated[str, AfterValidator(_notify)]
Slots = Annotated[list[int], PlainValidator(_slots, json_schema_input_type=int | list[int])]


def name_columns(name: str | dict[str, str]) -> dict[str, Any]:
    """The columns of a name: the plain one (the first language's), and the table ({} for a plain name)."""
    if isinstance(name, str):
        return {"name": name, "names": {}}
    return {"name": default_name(name), "names": dict(name)}


class Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreEntry(Entry):
    id: Ident
    name: Name


class CabinetEntry(Entry):
    id: Ident
    store: Ident
    slots: Slots | None = None


class AppEntry(Entry):
    package: Annotated[str, Field(min_length=1, max_length=200)]
    version: Annotated[str, Field(min_length=1, max_length=64)]


class WorkTypeEntry(Entry):
    id: Ident
    name: LocalName
    apps: Annotated[list[AppEntry], Field(max_length=100)] = []
    battery_threshold: Annotated[int, Field(ge=0, le=100)]
    rental_limit_minutes: Annotated[int, Field(ge=1, le=7 * 24 * 60)]
    device_limit: Annotated[int, Field(ge=1, le=100)] = 1
    device_models: Annotated[list[Ident], Field(min_length=1, max_length=100)]


class DeviceModelEntry(Entry):
    id: Ident
    name: LocalName
    slot_type: Ident
    link: Link = DEFAULT_LINK  # how the cabinet talks to its handhelds (cabinetproto.links)


class DeviceEntry(Entry):
    serial: Ident
    model: Ident
    store: Ident
    active: bool = True


class StaffEntry(Entry):
    id: Ident
    name: Name
    badge: BadgeText
    store: Ident
    work_type: Ident
    role: StaffRole = "staff"
    pin: Pin | None = None
    active: bool = True
    notify: Notify | None = None

"""Badge ids: the forms a card's number is written in, and when two of them are the same card.

A 125 kHz (EM4100) card carries 40 bits: a version byte and the 32-bit card number. The number printed
on the card is that card number as 10 decimal digits, often followed by its Wiegand-26 split, the
third byte as facility and the low 16 bits as card: `0011828047 180,31567`. A reader reports one of
these forms (`IdForm`); a roster typed from cards may hold any of them. So a badge is kept as the bits
that are known (`Badge.bits`: 24 for facility/card, 32 for the card number, 40 with the version byte,
`UID_BITS` for the longer UIDs of other cards), and two badges are the same card when the bits both
know agree (`Badge.matches`). The low 24 bits are in every form: they are the lookup key.

Three kinds of text, each with its parser:

- the reader's id in its configured form (`Badge.id_text`, read back by `parse_id`);
- a roster entry as a person types it, in any form (`parse_roster`), kept in one normalised form
  (`Badge.roster_text`) that the cloud stores and sends and the cabinet's replica holds;
- the one form everything held before badge ids followed the card: upper-case hex of what the reader
  reported, no leading zeros (`parse_old`), which the migrations convert.

Pure functions, no I/O; the one error is `BadgeError`, whose message quotes the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, Literal, get_args

IdForm = Literal["decimal", "hex8", "hex10", "wiegand26"]
ID_FORMS: Final[tuple[IdForm, ...]] = get_args(IdForm)

UID_BITS: Final = 80  # a UID longer than an EM4100's 40 bits (13.56 MHz cards through a line reader)
KEY_MASK: Final = 0xFFFFFF
CARD_MASK: Final = 0xFFFFFFFF
# Marks a staff op whose badge is in the roster form; ops without it still carry the old hex.
BADGE_FORMAT: Final = 2

_DECIMAL: Final = re.compile(r"^[0-9]{10}$")
_HEX: Final = re.compile(r"^[0-9A-Fa-f]+$")
_PREFIXED: Final = re.compile(r"^0[xX]([0-9A-Fa-f]{1,20})$")
_WIEGAND: Final = re.compile(r"^([0-9]{1,3}),([0-9]{1,5})$")
_SPLIT_WIEGAND: Final = re.compile(r"^[0-9]{1,3} [0-9]{1,5}$")
_DECIMAL_40: Final = re.compile(r"^[0-9]{13}$")
_FORM_BITS: Final[dict[IdForm, int]] = {"decimal": 32, "hex8": 32, "hex10": 40, "wiegand26": 24}
FORMS_HINT: Final = (
    "the number printed on the card (10 digits, 0011828047), 8 or 10 hex digits (00B47B4F, 5900B47B4F), "
    "facility,card (180,31567) or 0x and hex"
)


class BadgeError(ValueError):
    """Text that is not a badge id; the message quotes it and says what was expected."""


@dataclass(frozen=True)
class Badge:
    number: int  # only the low `bits` bits are known
    bits: int  # 24, 32, 40 or UID_BITS

    def __post_init__(self) -> None:
        if self.bits not in (24, 32, 40, UID_BITS):
            raise ValueError(f"a badge has 24, 32, 40 or {UID_BITS} bits, not {self.bits}")
        if not 0 < self.number < 1 << self.bits:
            raise ValueError(f"badge number {self.number} does not fit in {self.bits} bits")

    @property
    def key(self) -> int:
        """What every form of one card shares: the facility and card of Wiegand-26."""
        return self.number & KEY_MASK

    def matches(self, other: Badge) -> bool:
        """The same card: the bits both know are equal. A long UID is only ever itself."""
        if UID_BITS in (self.bits, other.bits):
            return self == other
        mask = (1 << min(self.bits, other.bits)) - 1
        return self.number & mask == other.number & mask

    def shown_as(self, form: IdForm) -> Badge:
        """What a reader set to `form` tells of this card (a long UID has no shorter form).

        BadgeError when that is zero: a card whose number is zero has no id, like a read of nothing.
        """
        if self.bits == UID_BITS:
            return self
        bits = min(self.bits, _FORM_BITS[form])
        number = self.number & ((1 << bits) - 1)
        if number == 0:
            raise BadgeError(f"card {self.number:0{self.bits // 4}X} has no {form} id: that part of it is zero")
        return Badge(number, bits)

    def id_text(self, form: IdForm) -> str:
        """The reader's id in `form`; a form this badge lacks the bits for falls back to what it has."""
        shown = self.shown_as(form)
        if shown.bits == UID_BITS:
            return f"{shown.number:X}"
        if shown.bits == 24:
            return f"{shown.number >> 16:03d},{shown.number & 0xFFFF:05d}"
        if form == "decimal":
            return f"{shown.number:010d}"
        return f"{shown.number:010X}" if shown.bits == 40 else f"{shown.number:08X}"

    def roster_text(self) -> str:
        """The normalised roster form: one text per badge, read back the same by `parse_roster`."""
        if self.bits == 40:
            return f"0x{self.number:010X}"
        if self.bits == UID_BITS:
            return f"0x{self.number:X}"  # the 0x keeps a UID of digits only from reading as decimal
        return self.id_text("decimal")


def _badge(text: str, number: int, bits: int) -> Badge:
    if number == 0:
        raise BadgeError(f"{text!r} is badge number zero, which readers send when they read nothing")
    return Badge(number, bits)


def _hex_bits(digits: str, number: int) -> int:
    if len(digits) <= 8:
        return 32
    return 40 if len(digits) <= 10 or number < 1 << 40 else UID_BITS


def _wiegand(text: str, match: re.Match[str]) -> Badge:
    facility, card = int(match[1]), int(match[2])
    if facility > 0xFF or card > 0xFFFF:
        raise BadgeError(f"{text!r}: a Wiegand-26 facility is 0-255 and its card 0-65535")
    return _badge(text, facility << 16 | card, 24)


def _one_roster_form(text: str) -> Badge:
    if match := _WIEGAND.match(text):
        return _wiegand(text, match)
    if match := _PREFIXED.match(text):
        number = int(match[1], 16)
        return _badge(text, number, _hex_bits(match[1], number))
    if _DECIMAL.match(text):
        number = int(text)
        if number > CARD_MASK:
            raise BadgeError(
                f"{text!r} is above 4294967295, the largest card number; "
                f"a 10-hex id with its version byte is written 0x{text}"
            )
        return _badge(text, number, 32)
    if _DECIMAL_40.match(text) and 0 < int(text) < 1 << 40:
        return _badge(text, int(text), 40)
    if _HEX.match(text) and (len(text) in (8, 10) or 10 < len(text) <= 20):
        number = int(text, 16)
        return _badge(text, number, _hex_bits(text, number))
    raise BadgeError(f"{text!r} is not a badge id: write {FORMS_HINT}")


def parse_roster(text: str) -> Badge:
    """A badge as a person types it from the card, in any form; both printed numbers may be given.

    Facility and card may also be split by a blank (`180 31567`) or by a comma and a blank, as some
    cards print them; the 13-digit decimal of all 40 bits is read too.
    """
    parts = re.sub(r",\s+", ",", text).split()
    if len(parts) == 2 and _SPLIT_WIEGAND.match(" ".join(parts)):
        parts = [",".join(parts)]
    if len(parts) == 2:
        first, second = _one_roster_form(parts[0]), _one_roster_form(parts[1])
        if not first.matches(second):
            raise BadgeError(f"{text!r}: {parts[0]!r} and {parts[1]!r} are not the same card")
        return max(first, second, key=lambda badge: badge.bits)
    if len(parts) != 1:
        raise BadgeError(f"{text!r} is not a badge id: write {FORMS_HINT}")
    return _one_roster_form(parts[0])


def parse_id(text: str, form: IdForm) -> Badge:
    """A reader's id in `form` back to its badge: the inverse of `Badge.id_text`."""
    if _HEX.match(text) and len(text) > 10:
        return _badge(text, int(text, 16), UID_BITS)
    if match := _WIEGAND.match(text):
        return _wiegand(text, match)
    if form == "decimal" and _DECIMAL.match(text) and int(text) <= CARD_MASK:
        return _badge(text, int(text), 32)
    if form != "decimal" and _HEX.match(text) and len(text) in (8, 10):
        return _badge(text, int(text, 16), 32 if len(text) == 8 else 40)
    raise BadgeError(f"{text!r} is not a {form} badge id")


def parse_old(text: str) -> Badge:
    """A badge as held before ids followed the card: the reader's number in hex, no leading zeros.

    Up to 8 digits is a card number whose version byte is unknown (a line reader's number, or an
    rdm6300 card of version 00: both match the card by its number); 9 or 10 digits carry the version.
    """
    if not _HEX.match(text) or len(text) > 20:
        raise BadgeError(f"{text!r} is not a badge id in the old hex form")
    number = int(text, 16)
    return _badge(text, number, _hex_bits(text.lstrip("0") or "0", number))

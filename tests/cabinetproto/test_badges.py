"""Badge ids: every form of one card, the roster's normalised form, the old hex, and when two match."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cabinetproto.badges import (
    ID_FORMS,
    UID_BITS,
    Badge,
    BadgeError,
    IdForm,
    parse_id,
    parse_old,
    parse_roster,
)

# The card of the field report: version byte 59, card number 00B47B4F, printed 0011828047 180,31567.
CARD = Badge(0x5900B47B4F, 40)


@pytest.mark.parametrize(
    ("form", "text"),
    [("decimal", "0011828047"), ("hex8", "00B47B4F"), ("hex10", "5900B47B4F"), ("wiegand26", "180,31567")],
)
def test_ok__one_card_in_each_reader_form(form: IdForm, text: str) -> None:
    assert CARD.id_text(form) == text
    assert parse_id(text, form).matches(CARD)


@pytest.mark.parametrize(
    ("typed", "roster"),
    [
        ("0011828047", "0011828047"),
        ("00B47B4F", "0011828047"),
        ("00b47b4f", "0011828047"),
        ("5900B47B4F", "0x5900B47B4F"),
        ("0x5900b47b4f", "0x5900B47B4F"),
        ("0x00B47B4F", "0011828047"),
        ("180,31567", "180,31567"),
        ("180 31567", "180,31567"),  # facility and card as some cards print them
        ("0011828047 180, 31567", "0011828047"),
        ("0382263917391", "0x5900B47B4F"),  # all 40 bits in 13 decimal digits
        ("  0011828047 180,31567 ", "0011828047"),  # the whole printed line, both numbers
        ("0x5900123456", "0x5900123456"),  # a 10-hex id of digits only says it is hex
        ("04A1B2C3D4E5F6", "0x4A1B2C3D4E5F6"),  # a longer UID is only ever itself
        ("0x1000000000000", "0x1000000000000"),  # a UID of digits only: not the 13-digit decimal
    ],
)
def test_ok__a_roster_entry_typed_in_any_form_is_normalised(typed: str, roster: str) -> None:
    assert parse_roster(typed).roster_text() == roster


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        (
            "12D687",
            "'12D687' is not a badge id: write the number printed on the card (10 digits, 0011828047), 8 or "
            "10 hex digits (00B47B4F, 5900B47B4F), facility,card (180,31567) or 0x and hex",
        ),
        (
            "5900123456",
            "'5900123456' is above 4294967295, the largest card number; a 10-hex id with its version byte "
            "is written 0x5900123456",
        ),
        ("256,00001", "'256,00001': a Wiegand-26 facility is 0-255 and its card 0-65535"),
        ("0000000000", "'0000000000' is badge number zero, which readers send when they read nothing"),
        ("0011828047 181,31567", "'0011828047 181,31567': '0011828047' and '181,31567' are not the same card"),
    ],
)
def test_fail__a_roster_entry_that_names_no_card(typed: str, message: str) -> None:
    with pytest.raises(BadgeError) as caught:
        parse_roster(typed)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("old", "expected"),
    [
        ("5900B47B4F", CARD),
        ("B47B4F", Badge(0xB47B4F, 32)),  # up to 8 digits: the version byte is not known
        ("12D687", Badge(0x12D687, 32)),
        ("4A1B2C3D4E5F6", Badge(0x4A1B2C3D4E5F6, UID_BITS)),
    ],
)
def test_ok__the_old_hex_is_read_as_the_card_it_named(old: str, expected: Badge) -> None:
    assert parse_old(old) == expected


def test_fail__the_old_hex_refuses_what_it_never_held() -> None:
    with pytest.raises(BadgeError) as caught:
        parse_old("12-D6")
    assert str(caught.value) == "'12-D6' is not a badge id in the old hex form"


def test_ok__cards_match_on_the_bits_both_know() -> None:
    assert CARD.matches(Badge(0x00B47B4F, 32))
    assert CARD.matches(Badge(0xB47B4F, 24))
    assert not CARD.matches(Badge(0x5800B47B4F, 40))  # same number, another version byte
    assert not CARD.matches(Badge(0x01B47B4F, 32))
    assert Badge(0x01B47B4F, 32).matches(Badge(0xB47B4F, 24))  # facility,card cannot tell these apart
    assert not Badge(0xB47B4F, 32).matches(Badge(0xB47B4F, UID_BITS))  # a UID is only itself


def test_fail__a_card_whose_shown_part_is_zero_has_no_id() -> None:
    with pytest.raises(BadgeError) as caught:
        Badge(0x5900000000, 40).id_text("decimal")
    assert str(caught.value) == "card 5900000000 has no decimal id: that part of it is zero"


# --- properties ------------------------------------------------------------------------------------

cards = st.integers(min_value=1, max_value=(1 << 40) - 1).map(lambda number: Badge(number, 40))
em_badges = st.sampled_from([24, 32, 40]).flatmap(
    lambda bits: st.integers(min_value=1, max_value=(1 << bits) - 1).map(lambda number: Badge(number, bits))
)
uids = st.integers(min_value=1 << 40, max_value=(1 << UID_BITS) - 1).map(lambda number: Badge(number, UID_BITS))
forms = st.sampled_from(ID_FORMS)


def shown(card: Badge, form: IdForm) -> Badge | None:
    """None for a card whose low bits are all zero: it has no id in this form (a read of nothing)."""
    try:
        return card.shown_as(form)
    except BadgeError:
        return None


def typed(card: Badge, form: IdForm) -> str:
    """The id as a person types it into the roster: a 10-hex id of digits only needs its 0x."""
    text = card.id_text(form)
    return f"0x{text}" if form == "hex10" and text.isdigit() and len(text) == 10 else text


@given(st.one_of(cards, uids), forms)
def test_ok__a_reader_id_reads_back_as_what_its_form_shows(card: Badge, form: IdForm) -> None:
    part = shown(card, form)
    if part is None:
        return
    assert parse_id(card.id_text(form), form) == part
    assert part.matches(card)


@given(st.one_of(em_badges, uids))
def test_ok__the_roster_form_reads_back_as_the_same_badge(badge: Badge) -> None:
    assert parse_roster(badge.roster_text()) == badge


@given(st.one_of(cards, uids), forms, forms)
def test_ok__a_roster_typed_in_one_form_matches_a_reader_set_to_another(
    card: Badge, typed_in: IdForm, reader_form: IdForm
) -> None:
    if shown(card, typed_in) is None or shown(card, reader_form) is None:
        return
    roster = parse_roster(parse_roster(typed(card, typed_in)).roster_text())
    assert roster.matches(parse_id(card.id_text(reader_form), reader_form))


@given(cards, cards, forms)
def test_ok__two_cards_match_only_where_their_shown_bits_agree(first: Badge, second: Badge, form: IdForm) -> None:
    part = shown(first, form)
    if part is None:
        return
    assert part.matches(second) == (part.number == second.number & ((1 << part.bits) - 1))
    assert first.matches(second) == (first == second)


@given(st.text(max_size=30))
def test_fail__any_text_raises_only_badge_error(text: str) -> None:
    for parse in (parse_roster, parse_old, *(lambda t, f=form: parse_id(t, f) for form in ID_FORMS)):
        with contextlib.suppress(BadgeError):
            parse(text)

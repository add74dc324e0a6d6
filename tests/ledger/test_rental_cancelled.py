"""`rental_cancelled`: a rental whose device never left with the person is closed and the device is in
its slot again; the ledger refuses one that names an unknown rental or another device's."""

from __future__ import annotations

import pytest

from cabinetd.ledger import Ledger, LedgerError
from tests.ledger.helpers import stock

RENT = {"rental_id": "R-1", "due_at": "2025-03-01T16:00:00Z"}


def test_ok__a_cancelled_rental_is_closed_and_its_device_back_in_the_slot(ledger: Ledger) -> None:
    stock(ledger, 1)
    ledger.append("device_rented", RENT, slot=1, device="PDA-001", staff="S-1")
    ledger.append("rental_cancelled", {"rental_id": "R-1", "reason": "back in its slot"}, slot=1, device="PDA-001")
    rental = ledger.rental("R-1")
    assert rental is not None
    assert (rental.status, rental.returned_to_slot, rental.usage) == ("closed", 1, None)
    assert ledger.rented_devices() == set()
    assert {row.slot: row.device for row in ledger.slot_states()}[1] == "PDA-001"
    assert ledger.rebuild().identical


@pytest.mark.parametrize(
    ("rental_id", "device", "message"),
    [
        ("R-9", "PDA-001", "event type 'rental_cancelled': rental 'R-9' does not exist"),
        ("R-1", "PDA-002", "event type 'rental_cancelled': rental 'R-1' is for device 'PDA-001', not 'PDA-002'"),
    ],
)
def test_fail__a_cancel_naming_the_wrong_rental_is_refused(
    ledger: Ledger, rental_id: str, device: str, message: str
) -> None:
    stock(ledger, 2)
    ledger.append("device_rented", RENT, slot=1, device="PDA-001", staff="S-1")
    with pytest.raises(LedgerError) as caught:
        ledger.append("rental_cancelled", {"rental_id": rental_id, "reason": "x"}, slot=1, device=device)
    assert str(caught.value) == message


def test_fail__a_closed_rental_cannot_be_cancelled(ledger: Ledger) -> None:
    stock(ledger, 1)
    ledger.append("device_rented", RENT, slot=1, device="PDA-001", staff="S-1")
    ledger.append("rental_cancelled", {"rental_id": "R-1", "reason": "x"}, slot=1, device="PDA-001")
    with pytest.raises(LedgerError) as caught:
        ledger.append("rental_cancelled", {"rental_id": "R-1", "reason": "x"}, slot=1, device="PDA-001")
    assert str(caught.value) == "event type 'rental_cancelled': rental 'R-1' is already closed"

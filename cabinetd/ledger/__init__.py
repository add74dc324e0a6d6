"""The cabinet's ledger: a durable local record of every rental, return and fault (DESIGN.md §7).

Events are appended to an SQLite file with a hash chain and are the sync outbox; projections
(slots, devices, rentals, executed commands, incidents) are updated in the same transaction and can
be rebuilt from the events; replicas of the cloud's fleet data sit beside them. See docs/ledger.md.
"""

from cabinetd.ledger.audit import RebuildResult, VerifyResult
from cabinetd.ledger.errors import LedgerError
from cabinetd.ledger.events import NewEvent, StoredEvent
from cabinetd.ledger.integrity import LEDGER_FILE, open_ledger
from cabinetd.ledger.ledger import Ledger
from cabinetd.ledger.queries import DeviceRow, EpochRow, RentalRow, SlotRow, SyncState
from cabinetd.ledger.replicas import DeviceModel, FleetDevice, StaffMember, WorkType, WorkTypeApp
from cabinetd.ledger.schema import SCHEMA_VERSION
from cabinetd.ledger.service import LedgerService

__all__ = [
    "LEDGER_FILE",
    "SCHEMA_VERSION",
    "DeviceModel",
    "DeviceRow",
    "EpochRow",
    "FleetDevice",
    "Ledger",
    "LedgerError",
    "LedgerService",
    "NewEvent",
    "RebuildResult",
    "RentalRow",
    "SlotRow",
    "StaffMember",
    "StoredEvent",
    "SyncState",
    "VerifyResult",
    "WorkType",
    "WorkTypeApp",
    "open_ledger",
]

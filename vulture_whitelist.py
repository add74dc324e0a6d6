"""Names the dead-code check (`make lint`) cannot see being used: a framework calls them by name, a
decorator registers them, or a value read off the wire or the roster reaches them. Each entry says
which. Vulture matches by name, so an entry covers the name wherever it is defined.

Not a module anyone imports. It is type-checked with the packages (`make typecheck`), so an entry
whose target was renamed or removed fails there instead of silently whitelisting nothing.
"""

import tarfile

from cabinetd.api.server import EmbeddedServer
from cabinetd.clock import ManualClock
from cabinetd.fsm.slot import ClockTimeout, Slot
from cabinetd.ledger import projections
from cabinetd.ledger.ledger import Ledger
from cabinetd.ledger.queries import SlotRow
from cabinetd.logbuffer import Kept
from cabinetd.policy import Role
from cabinetproto import events, wire
from cabinetproto.enums import DeviceHealth

__all__ = ["USED_BY_NAME", "instance_attributes"]

USED_BY_NAME: list[object] = [
    # pydantic reads a model's configuration from this class attribute.
    wire.WireModel.model_config,
    # transitions calls these by the names the table and build_machine give as strings.
    Slot.has_device,  # the condition of the "enable" rows of TRANSITIONS
    Slot._door_timed_out,  # on_timeout of the dispensing and receiving states
    ClockTimeout.create_timer,  # AsyncTimeout's hook that starts a state's timer
    # uvicorn's serve loop calls these overrides of its Server.
    EmbeddedServer.capture_signals,
    EmbeddedServer.main_loop,
    # The clock the tests move by hand (DESIGN §4: timers on a clock the tests control).
    ManualClock,
    ManualClock.advance,
    # Projections are registered with @projects(EventType); the ledger calls them for each event.
    projections.slot_state_changed,
    projections.dispense_started,
    projections.alarm_raised,
    projections.alarm_cleared,
    projections.device_status,
    projections.device_provisioned,
    projections.device_rented,
    projections.device_returned,
    projections.rental_due_soon,
    projections.rental_overdue,
    projections.command_result,
    projections.ledger_incident,
    projections.incident_cleared,
    # Event payloads are registered with @declare("type") and validated by their event type.
    events.CabinetStarted,
    events.RepairTicketOpened,
    events.DispenseCancelled,
    events.ReturnStarted,
    events.ReturnCancelled,
    events.RentRefused,
    events.TriggerRefused,
    events.TechnicianAction,
    events.ReconciliationDifference,
    # Payload and wire fields are validated and sent whether or not the cabinet reads them back.
    events.SlotStateChanged.from_,  # the payload's "from" (a keyword in Python, hence the alias)
    events.RepairTicketOpened.ticket_id,
    wire.SessionReply.acked_hash,
    # Members reached by value: Role(staff.role) from the roster, DeviceHealth(...) from payloads.
    Role.TECHNICIAN,
    Role.MANAGER,
    DeviceHealth.GOOD,
    DeviceHealth.DEGRADED,
    # The ledger's own checks and technician actions (docs/ledger.md): rebuild() recomputes the
    # projections from the events (the crash and fork tests compare the two); clear_incident() lifts
    # an incident's block on renting.
    Ledger.rebuild,
    Ledger.clear_incident,
]


def instance_attributes(server: EmbeddedServer, member: tarfile.TarInfo, row: SlotRow, line: Kept) -> list[object]:
    return [
        server.should_exit,  # uvicorn's serve loop reads it; ApiServer.cleanup() sets it
        member.mtime,  # tarfile writes a member's time from it (cabinetctl diag bundles)
        row.updated_seq,  # a column of the slots projection, read back whole
        line.ts,  # a kept log line's time, sent to cabinetctl as JSON
    ]

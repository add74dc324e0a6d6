"""The Ledger: appends events durably, with their projection changes, and answers queries.

Write-ahead rule: the controller appends an event and only then unlocks a door or confirms anything
on screen. `append` returns after SQLite's COMMIT returned with synchronous=FULL, that is after the
write-ahead log was synced: an event whose append returned survives a crash or a power cut.

The ledger is synchronous on purpose: one durable commit is a fraction of a millisecond, shorter
than a hop to a thread and back, and the event loop is its only caller.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from cabinetd.ledger import fork, outbox, queries, replicas
from cabinetd.ledger.append import Appender, Clock
from cabinetd.ledger.audit import RebuildResult, VerifyResult, rebuild_projections, verify_chain
from cabinetd.ledger.envelope import read_boot_id
from cabinetd.ledger.errors import LedgerError
from cabinetd.ledger.events import NewEvent, StoredEvent
from cabinetd.ledger.queries import DeviceRow, EpochRow, RentalRow, SlotRow, SyncState
from cabinetd.ledger.replica_reads import ReplicaReads
from cabinetd.ledger.replicas import DeviceModel, FleetDevice, StaffMember, WorkType
from cabinetd.ledger.store import Store
from cabinetproto.badges import BadgeError, IdForm, parse_id
from cabinetproto.chain import GENESIS_HASH, iso_utc, utc_now

logger = logging.getLogger(__name__)


class Ledger:
    """The cabinet's ledger over one open store. Use `open_ledger()` to get one at start-up."""

    def __init__(
        self,
        store: Store,
        cabinet_id: str,
        *,
        clock: Clock = utc_now,
        boot_id: str | None = None,
        monotonic_ns: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        self._store = store
        self.cabinet_id = cabinet_id
        self._clock = clock
        self.boot_id = boot_id if boot_id is not None else read_boot_id()
        self._appender = Appender(store, cabinet_id, clock=clock, boot_id=self.boot_id, monotonic_ns=monotonic_ns)
        # Counts replica writes made through this object, so readers can tell cheaply that the roster
        # or the work types changed (the controller re-judges battery thresholds then, not per badge).
        self.replica_changes = 0
        self._replica_reads = ReplicaReads(store)
        self._claim()

    @property
    def path(self) -> str:
        return self._store.path

    @property
    def store(self) -> Store:
        return self._store

    def close(self) -> None:
        self._store.close()

    def fold_log(self) -> int:
        """Copy the committed pages of the write-ahead log into the database file (a passive
        checkpoint: it waits for no reader), so that the log starts over; returns the pages it held.
        Run at quiet moments by the ledger's subsystem, so that no commit someone waits for (a badge's)
        pays for it; SQLite's own checkpoint stays as the backstop (see schema.configure)."""
        try:
            _busy, pages, _copied = self._store.rows("PRAGMA wal_checkpoint(PASSIVE)")[0]
        except self._store.database_errors as exc:
            raise LedgerError(f"ledger {self.path}: could not fold the log into the file: {exc}") from exc
        return int(pages)

    def _now(self) -> datetime:
        return self._clock()

    def _claim(self) -> None:
        """Tie the file to this cabinet on first start, and refuse another cabinet's file."""
        owner = queries.meta(self._store, "cabinet_id")
        if owner is not None and owner != self.cabinet_id:
            raise LedgerError(f"ledger {self.path} belongs to cabinet {owner!r}, not {self.cabinet_id!r}")
        if owner is None:
            with self._store.atomic():
                self._store.run("INSERT INTO meta (key, value) VALUES ('cabinet_id', ?)", (self.cabinet_id,))
                self._store.run("INSERT INTO meta (key, value) VALUES ('created_at', ?)", (iso_utc(self._now()),))
                self._appender.mint_epoch("first start", GENESIS_HASH)
            logger.info("ledger %s created for cabinet %s", self.path, self.cabinet_id)

    # --- the write path -------------------------------------------------------------------------

    def append(
        self,
        event_type: str,
        payload: Mapping[str, Any] | BaseModel,
        *,
        slot: int | None = None,
        device: str | None = None,
        staff: str | None = None,
    ) -> StoredEvent:
        """Validate, seal and commit one event with its projection changes; returns once durable."""
        return self.append_many([NewEvent(event_type, payload, slot, device, staff)])[0]

    def append_many(self, events: Sequence[NewEvent]) -> list[StoredEvent]:
        """Append events in one transaction: all of them are committed, or none."""
        return self._appender.append_many(events)

    # --- epochs and the outbox -------------------------------------------------------------------

    def new_epoch(self, reason: str) -> str:
        """Start a new epoch (after a fork): seq restarts at 1, the chain goes on from the last hash."""
        tail = self._appender.tail()
        try:
            with self._store.atomic():
                epoch = self._appender.mint_epoch(reason, tail.hash)
        except self._store.database_errors as exc:
            raise LedgerError(f"ledger {self.path}: could not start a new epoch: {exc}") from exc
        finally:
            self._appender.forget_tail()
        logger.warning(
            "ledger %s: new epoch %s after epoch %s (seq %d): %s", self.path, epoch, tail.epoch, tail.seq, reason
        )
        return epoch

    def adopt_fork(self, held: Sequence[Mapping[str, Any]], diverged_after: int, reason: str) -> str:
        """Join the cloud's history and the ledger's own after a fork, in one transaction (fork.py):
        the current epoch's events after seq `diverged_after` are taken out; `held` (the wire events
        the cloud holds after that seq, then those of its later epochs, in order) goes in as it is,
        acknowledged; the events taken out are sealed again into a new epoch, except those the cloud
        holds; the projections are folded again. Returns the new epoch."""
        try:
            with self._store.atomic():
                adoption = fork.adopt(self._store, self.cabinet_id, held, diverged_after, reason, iso_utc(self._now()))
        except LedgerError as exc:
            raise LedgerError(f"ledger {self.path}: fork not adopted: {exc}") from None
        except self._store.database_errors as exc:
            raise LedgerError(f"ledger {self.path}: could not adopt the fork: {exc}") from exc
        finally:
            self._appender.forget_tail()
        logger.warning(
            "ledger %s: %s: took out %d events after seq %d, took in %d of the cloud's, sealed %d again "
            "into new epoch %s",
            self.path,
            reason,
            adoption.taken_out,
            diverged_after,
            adoption.taken_in,
            adoption.resealed,
            adoption.epoch,
        )
        return adoption.epoch

    def sync_state(self) -> SyncState:
        return outbox.sync_state(self._store, self.cabinet_id, self._appender.tail())

    def pending_count(self) -> int:
        """Events of the current epoch the cloud has not acknowledged."""
        return self.sync_state().pending

    def events_after(
        self, seq: int, limit: int = 500, max_bytes: int = 256 * 1024, *, epoch: str | None = None
    ) -> list[StoredEvent]:
        """The outbox: events after `seq` in the current epoch (or `epoch`), within the limits."""
        return queries.events_after(self._store, epoch or self._appender.tail().epoch, seq, limit, max_bytes)

    def record_ack(self, epoch: str, acked_seq: int) -> int:
        """The cloud holds `epoch` up to `acked_seq`. Never moves backwards; returns the acked seq."""
        return outbox.record_ack(self._store, epoch, acked_seq)

    def epochs(self) -> list[EpochRow]:
        return queries.epochs(self._store)

    # --- replicas of the cloud's data -------------------------------------------------------------

    def apply_replica(self, ops: Iterable[Mapping[str, Any] | BaseModel], cursor: str) -> int:
        """Apply a page of changes and its cursor in one transaction; returns the rows changed."""
        try:
            with self._store.atomic():
                changed = replicas.apply_ops(self._store, ops)
                self._store.run("UPDATE sync SET downlink_cursor = ? WHERE id = 1", (cursor,))
        except self._store.database_errors as exc:
            raise LedgerError(f"ledger {self.path}: could not apply replica changes: {exc}") from exc
        self._replica_changes_made()
        return changed

    def replace_replicas(self, snapshot: Iterable[Mapping[str, Any] | BaseModel], cursor: str) -> int:
        """Swap every replica for a snapshot (a list of upserts) in one transaction."""
        try:
            with self._store.atomic():
                replicas.clear(self._store)
                changed = replicas.apply_ops(self._store, snapshot)
                self._store.run("UPDATE sync SET downlink_cursor = ? WHERE id = 1", (cursor,))
        except self._store.database_errors as exc:
            raise LedgerError(f"ledger {self.path}: could not replace the replicas: {exc}") from exc
        self._replica_changes_made()
        return changed

    def _replica_changes_made(self) -> None:
        self.replica_changes += 1
        self._replica_reads.forget()

    def staff_by_badge(self, badge: str, form: IdForm) -> StaffMember | None:
        """Whose badge a reader's id (in the reader's `form`) is; None for an id no roster entry matches."""

        def read(store: Store, key: tuple[str, IdForm]) -> StaffMember | None:
            try:
                card = parse_id(*key)
            except BadgeError:
                return None
            return replicas.staff_by_badge(store, card)

        # Keyed by the text: a badge answered from memory is not even parsed again.
        found: StaffMember | None = self._replica_reads.read("staff by badge", (badge, form), read)
        return found

    def work_type(self, work_type_id: str) -> WorkType | None:
        found: WorkType | None = self._replica_reads.read("work type", work_type_id, replicas.work_type)
        return found

    def work_types(self) -> list[WorkType]:
        return replicas.work_types(self._store)

    def staff_of_store(self, store_id: str) -> list[StaffMember]:
        """The store's active staff on the roster replica (kept in memory until the next replica write:
        a rent with a choice of devices reads it, on the badge-to-unlock path)."""
        found: list[StaffMember] = self._replica_reads.read("staff of store", store_id, replicas.staff_of_store)
        return found

    def fleet_device(self, serial: str) -> FleetDevice | None:
        return replicas.fleet_device(self._store, serial)

    def fleet_lists(self, serial: str) -> bool | None:
        """True when the fleet's device list names the serial, False when it does not, None when the
        cabinet holds no device list to judge by (kept in memory until the next replica write)."""
        found: bool | None = self._replica_reads.read("fleet lists", serial, replicas.fleet_lists)
        return found

    def device_link(self, serial: str) -> str | None:
        """How the cabinet talks to this device (its model's `link`); None when the fleet data does not
        say. Asked before every request to a device, so kept in memory until the next replica write."""
        found: str | None = self._replica_reads.read("device link", serial, replicas.device_link)
        return found

    def device_model(self, model: str) -> DeviceModel | None:
        return replicas.device_model(self._store, model)

    # --- queries for the controller and the CLI --------------------------------------------------

    def slot_states(self) -> list[SlotRow]:
        return queries.slot_states(self._store)

    def devices(self) -> list[DeviceRow]:
        return queries.devices(self._store)

    def rental(self, rental_id: str) -> RentalRow | None:
        return queries.rental(self._store, rental_id)

    def held_by(self, staff: str) -> list[RentalRow]:
        """The open rentals of a staff member."""
        return queries.held_by(self._store, staff)

    def open_rental_of(self, device: str) -> str | None:
        """The id of the open rental a device is out on, if any."""
        return queries.open_rental_of(self._store, device)

    def rented_devices(self) -> set[str]:
        """The devices out on an open rental."""
        return queries.rented_devices(self._store)

    def open_rentals(self) -> list[RentalRow]:
        return queries.open_rentals(self._store)

    def overdue(self, now: datetime) -> list[RentalRow]:
        return queries.overdue(self._store, now)

    def due_soon(self, now: datetime, within: timedelta) -> list[RentalRow]:
        return queries.due_soon(self._store, now, within)

    def command_executed(self, command_id: str) -> bool:
        return queries.command_executed(self._store, command_id)

    def command_started(self, command_id: str) -> bool:
        return queries.command_started(self._store, command_id)

    def events_of(self, *types: str) -> list[StoredEvent]:
        return queries.events_of(self._store, types)

    def tail(self, n: int) -> list[StoredEvent]:
        return queries.tail(self._store, n)

    def last_pin_attempt(self, technician: str) -> queries.PinAttempt | None:
        return queries.last_pin_attempt(self._store, technician)

    def pending_report(self, slot: int) -> StoredEvent | None:
        """The problem reported for the return at `slot` not yet taken in by an inspection or ticket."""
        return queries.pending_report(self._store, slot)

    def last_at_slot(self, slot: int, event_type: str) -> StoredEvent | None:
        return queries.last_at_slot(self._store, slot, event_type)

    def critical_devices(self) -> dict[str, str]:
        """Devices under a critical problem report no technician has cleared, with the reason."""
        return queries.critical_devices(self._store)

    def roster_size(self) -> int:
        """Staff members on the roster replica (0: the cabinet has no roster yet)."""
        return queries.roster_size(self._store)

    # --- checks --------------------------------------------------------------------------------

    def verify(self) -> VerifyResult:
        """Walk the hash chain; the result names the first broken link."""
        return verify_chain(self._store)

    def rebuild(self) -> RebuildResult:
        """Recompute every projection from the events (one transaction) and say what differed."""
        try:
            result = rebuild_projections(self._store)
        except self._store.database_errors as exc:
            raise LedgerError(f"ledger {self.path}: could not rebuild the projections: {exc}") from exc
        if not result.identical:
            logger.error("ledger %s: projections differed from the events: %s", self.path, result.differences)
        return result

    # --- incidents -------------------------------------------------------------------------------

    @property
    def renting_blocked(self) -> str | None:
        """Why renting is refused (an open ledger incident), or None. Returns are always accepted."""
        incident = queries.open_incident(self._store)
        if incident is None:
            return None
        kind, detail, copy_path = incident
        kept = f"; damaged files kept at {copy_path}" if copy_path else ""
        return f"ledger incident {kind}: {detail}{kept}; renting is blocked until a technician clears it"

    def clear_incident(self, technician: str, note: str = "") -> StoredEvent:
        event = self.append("incident_cleared", {"technician": technician, "note": note})
        logger.warning("ledger %s: incidents cleared by technician %s", self.path, technician)
        return event

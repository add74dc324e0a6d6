"""The projector and the views over a scripted fleet history (fleet_story.py), on SQLite and
PostgreSQL: each view as the story says, equal to a recomputation from the raw events, and the
same whatever order the cabinets' batches come in and are projected."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from cabinetcloud import schema
from cabinetcloud.projections import DeviceState, catch_up, device_status, history, projector, run_once, views
from cabinetcloud.projections import tables as projected
from cabinetcloud.storage import MIGRATIONS, Storage
from tests.cabinetcloud.fleet_history import Fleet
from tests.cabinetcloud.fleet_story import DAY_END, LATER
from tests.cabinetcloud.told import ENGINES, tell
from tests.cabinetcloud.views_rig import every_view

_told = pytest.fixture(scope="module", params=ENGINES, name="told")(tell)


def _ids(rentals: list[views.Rental]) -> list[str]:
    return [rental.rental_id for rental in rentals]


def test_ok__open_rentals_by_store_and_staff_and_overdue(told: Fleet) -> None:
    with told.storage.reading() as conn:
        assert _ids(views.open_rentals(conn, store=None, now=DAY_END)) == ["R-N1", "R-A4", "R-B1"]
        assert _ids(views.open_rentals(conn, store="demo", now=DAY_END)) == ["R-A4", "R-B1"]
        assert _ids(views.open_rentals(conn, store=None, staff="north-erik", now=DAY_END)) == ["R-N1"]
        assert views.open_rentals(conn, store="north", staff="demo-chen", now=DAY_END) == []
        late = views.overdue(conn, store=None, now=DAY_END)
    assert [(r.rental_id, r.device, r.staff_name, r.cabinet, r.slot) for r in late] == [
        ("R-N1", "S1-0101", "Erik Holm", "north-1", 1)
    ]
    assert late[0].due_at is not None
    assert late[0].due_at.isoformat() == "2026-03-02T11:00:00+00:00"


def test_ok__a_return_at_another_cabinet_closes_the_rental_and_away_from_home_is_shown(told: Fleet) -> None:
    with told.storage.reading() as conn:
        rows = {r.rental_id: r for r in conn.execute(sa.select(projected.rentals))}
        away = views.away_returns(conn, store=None, now=DAY_END)
        north = views.away_returns(conn, store="north", now=DAY_END)
    a1 = rows["R-A1"]
    assert (a1.ended_by, a1.end_cabinet, a1.end_store, a1.battery_out, a1.battery_in) == (
        "returned",
        "demo-2",
        "demo",
        90,
        55,
    )
    assert [(r.rental_id, r.returned_store, r.away_from_home) for r in away] == [("R-A2", "north", True)]
    assert _ids(north) == ["R-A2"]


def test_ok__a_device_in_two_open_rentals_after_a_restore_is_flagged_not_merged(told: Fleet) -> None:
    with told.storage.reading() as conn:
        found = views.conflicts(conn, store="demo", now=DAY_END)
        assert views.conflicts(conn, store="north", now=DAY_END) == []
        epochs = conn.execute(sa.select(projected.rentals.c.epoch).where(projected.rentals.c.device == "R1-0001")).all()
    assert [(c.device, c.open, _ids(c.rentals)) for c in found] == [("R1-0001", True, ["R-A4", "R-B1"])]
    assert all(rental.conflict and rental.ended_at is None for rental in found[0].rentals)
    assert len({row.epoch for row in epochs}) == 2  # one from each history of sim-1


def test_ok__faults_carry_the_self_test_evidence_and_the_person_s_report(told: Fleet) -> None:
    with told.storage.reading() as conn:
        found = views.faults(conn, store="demo", now=DAY_END)
        open_only = views.faults(conn, store="demo", open_only=True, now=DAY_END)
        assert views.faults(conn, store="north", now=DAY_END) == []
    ticket = next(fault for fault in found if fault.kind == "ticket")
    report = next(fault for fault in found if fault.kind == "report")
    assert ticket.evidence is not None
    assert ticket.evidence["scanner"] == {"passed": False, "evidence": "no beam"}
    assert (ticket.ticket_id, ticket.reason, ticket.critical, ticket.open) == ("T-1", "battery", True, True)
    assert (report.note, report.staff, report.critical, report.open) == ("battery broke", "demo-anna", True, False)
    assert ticket.rental is not None
    assert report.rental is not None
    assert ticket.rental.rental_id == report.rental.rental_id == "R-A3"
    assert [fault.kind for fault in open_only] == ["ticket"]


def test_ok__device_status_and_lost_devices(told: Fleet) -> None:
    serials = ["S1-0001", "S1-0002", "S1-0003", "S1-0101", "R1-0001", "R1-0002"]
    with told.storage.reading() as conn:
        today = device_status(conn, serials, DAY_END)
        later = device_status(conn, serials, LATER)
        lost = views.lost_devices(conn, store=None, now=LATER)
        lost_north = views.lost_devices(conn, store="north", days=10, now=LATER)
    assert today == {
        "S1-0001": DeviceState.IN_SLOT,
        "S1-0002": DeviceState.IN_SLOT,
        "S1-0003": DeviceState.IN_REPAIR,
        "S1-0101": DeviceState.RENTED,
        "R1-0001": DeviceState.RENTED,
        "R1-0002": DeviceState.UNKNOWN,
    }
    # Five days on, with no cabinet in contact since: every device seen is lost.
    assert set(later.values()) == {DeviceState.LOST, DeviceState.UNKNOWN}
    assert [(d.serial, d.home_store, d.rental.rental_id if d.rental else None) for d in lost][:2] == [
        ("R1-0001", "demo", "R-B1"),
        ("S1-0001", "demo", None),
    ]
    assert lost_north == []


def test_ok__a_device_in_a_slot_is_seen_while_its_cabinet_keeps_in_contact(told: Fleet) -> None:
    with told.storage.reading() as conn:
        contacts = conn.execute(sa.select(schema.cabinets.c.id, schema.cabinets.c.last_session_at)).all()
    before, told.clock.now = told.clock.now, LATER
    try:
        for cabinet in told.cabinets.values():
            told.contact(cabinet)
        with told.storage.reading() as conn:
            later = device_status(conn, ["S1-0001", "S1-0003", "S1-0101"], LATER)
            lost = views.lost_devices(conn, store=None, now=LATER)
    finally:
        told.clock.now = before
        with told.storage.writing() as conn:
            for cabinet_id, at in contacts:
                conn.execute(
                    sa.update(schema.cabinets).where(schema.cabinets.c.id == cabinet_id).values(last_session_at=at)
                )
    assert later == {"S1-0001": DeviceState.IN_SLOT, "S1-0003": DeviceState.IN_REPAIR, "S1-0101": DeviceState.LOST}
    assert [device.serial for device in lost] == ["R1-0001", "S1-0101"]


def test_ok__the_slots_picture_follows_the_latest_epoch(told: Fleet) -> None:
    with told.storage.reading() as conn:
        found = views.cabinet_slots(conn, cabinet="sim-1", now=DAY_END)
    assert [(s.slot, s.state, s.device) for s in found] == [
        (1, "empty", None),
        (2, "empty", None),
        (3, "faulty", "S1-0003"),
        (5, "empty", None),
    ]


def test_ok__histories_are_read_from_the_events(told: Fleet) -> None:
    with told.storage.reading() as conn:
        device = history.device_history(conn, "S1-0001", limit=3)
        rest = history.device_history(conn, "S1-0001", offset=3, limit=100)
        log = history.cabinet_log(conn, "sim-1", limit=2)
        first = history.cabinet_log(conn, "sim-1", epoch=log.epochs[0], after=0, limit=1000)
    assert [(e.cabinet, e.type) for e in device.events] == [
        ("demo-2", "device_returned"),
        ("demo-2", "device_status"),
        ("sim-1", "device_rented"),
    ]
    assert (device.next_offset, rest.next_offset) == (3, None)
    assert [e.type for e in rest.events] == ["dispense_started", "device_status"]
    assert len(log.epochs) == 2
    assert log.epoch == log.epochs[1]
    assert ([e.seq for e in log.events], log.next_after) == ([1, 2], 2)
    assert first.next_after is None
    assert [e.type for e in first.events[-2:]] == ["device_rented", "slot_state_changed"]


def test_ok__a_recomputation_from_the_raw_events_equals_every_view(told: Fleet) -> None:
    incremental = {now: every_view(told.storage, now) for now in (DAY_END, LATER)}
    projector.reset(told.storage)
    with told.storage.reading() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(projected.rentals)).scalar() == 0
    assert catch_up(told.storage, LATER) == count_events(told.storage)
    assert run_once(told.storage, LATER) == 0
    for now, seen in incremental.items():
        assert every_view(told.storage, now) == seen


def count_events(storage: Storage) -> int:
    with storage.reading() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(schema.events)).scalar_one())


def test_ok__schema_step_5_on_a_cloud_that_holds_events_projects_them(told: Fleet) -> None:
    """A cloud upgraded from version 4: the projections start empty and the projector fills them."""
    seen = every_view(told.storage, DAY_END)
    with told.storage.writing() as conn:
        for table in reversed(projected.PROJECTION_TABLES):
            table.drop(conn)
        projected.events_by_device.drop(conn)
        conn.execute(sa.update(schema.schema_version).values(version=4))
    assert told.storage.migrate() == len(MIGRATIONS)
    with told.storage.reading() as conn:
        assert "events_by_device" in {index["name"] for index in sa.inspect(conn).get_indexes("events")}
    catch_up(told.storage, DAY_END)
    assert every_view(told.storage, DAY_END) == seen

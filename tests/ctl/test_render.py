"""What people read, for cabinets the simulator does not show: a board gone, renting blocked, a cloud."""

from __future__ import annotations

from cabinetd.api.control import shapes
from cabinetd.ctl import render

PART = {"connected": True, "since": "2026-11-02T07:00:00+00:00", "detail": "", "counters": {}}


def _status(**changes: object) -> dict[str, object]:
    status: dict[str, object] = {
        "cabinet_id": "store-12-a", "store": "store-12", "version": "0.1.0", "uptime_s": 93784.0,
        "simulated": False, "online": True, "sync": "online", "pending_events": 0,
        "last_sync_at": "2026-11-02T08:14:03.120000+00:00", "clock_skew_s": -0.42, "renting_blocked": None,
        "stalled": [],
        "readers": [{**PART, "part": "badge reader /dev/cabinet-badge", "counters": {"good": 41, "bad": 0}}],
        "boards": [
            {**PART, "part": "bus/rs485", "detail": "/dev/ttyUSB0 open at 9600 8N1"},
            {**PART, "part": "lockboard/rs485/1", "connected": False, "detail": "silent after 3 retries",
             "counters": {"replies": 1200, "silent": 4}},
        ],
        "hubs": [], "slot_counts": {"ready": 10, "charging": 2}, "slots": [],
    }
    status.update(changes)
    shapes.Status.model_validate(status)  # the fixture itself keeps to the documented shape
    return status


def test_ok__status_of_a_cabinet_with_a_board_gone() -> None:
    assert render.status(_status()) == (
        "cabinet      store-12-a (store store-12)\n"
        "software     cabinetd 0.1.0, up 1 d 2 h 3 min\n"
        "cloud        online (online)\n"
        "pending      0 events not yet acknowledged by the cloud\n"
        "last sync    2026-11-02 08:14:03\n"
        "clock skew   -0.4 s\n"
        "renting      allowed\n"
        "stalled      none\n"
        "reader       badge reader /dev/cabinet-badge: connected since 2026-11-02 07:00:00 (good 41)\n"
        "lock boards  bus/rs485: connected since 2026-11-02 07:00:00 (/dev/ttyUSB0 open at 9600 8N1)\n"
        "             lockboard/rs485/1: DISCONNECTED since 2026-11-02 07:00:00 "
        "(silent after 3 retries; replies 1200, silent 4)\n"
        "USB hubs     none\n"
        "slots        12 slots: 10 ready, 2 charging\n"
    )


def test_ok__status_with_renting_blocked_and_a_stalled_part() -> None:
    blocked = "ledger incident corrupt: ..."
    text = render.status(_status(renting_blocked=blocked, stalled=["controller"], online=False, sync="offline"))
    assert "renting      BLOCKED: ledger incident corrupt: ...\n" in text
    assert "stalled      controller\n" in text
    assert "cloud        offline (offline)\n" in text


def test_ok__sync_status_with_a_cloud() -> None:
    report = {
        "configured": True, "state": "offline", "online": False, "last_success_at": "2026-11-02T08:14:03+00:00",
        "pending_events": 17, "last_error": "cloud.example: connection refused", "clock_skew_s": 42.0,
        "skew_flagged": True, "epoch": "01a2", "acked_seq": 120, "dead_lettered": 0, "batch_limit": 200,
    }
    shapes.SyncReport.model_validate(report)
    assert render.sync(report) == (
        "sync          offline (offline)\n"
        "last sync     2026-11-02 08:14:03\n"
        "pending       17 events\n"
        "acknowledged  seq 120 of epoch 01a2\n"
        "clock skew    +42.0 s (too far off)\n"
        "last error    cloud.example: connection refused\n"
        "dead letters  0\n"
        "batch limit   200\n"
    )


def test_ok__long_event_details_are_cut_to_one_line() -> None:
    assert render.details({"a": 1, "b": {"c": [True, None]}}) == "a=1 b={c:[true,null]}"
    assert render.details({"text": "x" * 100}) == "text=" + "x" * 64 + "…"

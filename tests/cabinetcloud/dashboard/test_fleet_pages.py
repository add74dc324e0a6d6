"""The pages over the fleet's views, on the day of fleet_story.py as of its end: the figures of the
overview, what needs attention, repair tickets with their evidence, a device and its history, a
cabinet's slots, and the store-manager's share of each."""

from __future__ import annotations

import re

from cabinetcloud import audit
from cabinetcloud.operators import Role
from tests.cabinetcloud.dashboard.rig import Fleet, sign_in
from tests.cabinetcloud.dashboard.test_pages import references


def cells(html: str, table: str) -> list[list[str]]:
    """The rows of a table as text, cell by cell."""
    body = re.search(rf'id="{table}".*?<tbody>(.*?)</tbody>', html, re.S)
    assert body is not None, table
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), re.S)
    return [
        [
            re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", cell)).strip()
            for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        ]
        for row in rows
    ]


def test_ok__the_overview_counts_what_is_out_overdue_and_in_repair(told: Fleet) -> None:
    client = told.client()
    sign_in(client, Role.VIEWER)
    html = client.get("/dashboard").text
    figures = {row[1]: row[3:] for row in cells(html, "stores")}
    # demo: R1-0001 out twice (R-A4, R-B1: the restore), T-1 open; S1-0002's R-A2 was closed by its
    # return at north-1. north: S1-0101 out since 08:40, due at 11:00.
    assert figures == {"demo": ["2", "0", "1"], "north": ["1", "1", "0"]}
    assert html.count('<figure class="chart">') == 2
    assert "<script" not in html.split("</head>")[1]


def test_ok__needs_attention_lists_overdue_conflicts_and_lost(told: Fleet) -> None:
    client = told.client()
    sign_in(client, Role.OPERATOR)
    html = client.get("/dashboard/attention").text
    assert [(row[0], row[1], row[7]) for row in cells(html, "overdue")] == [
        ("S1-0101", "Erik Holm", "2026-03-02 11:00 UTC overdue")
    ]
    assert [row[0] for row in cells(html, "conflicts")] == ["R1-0001"]
    assert cells(html, "lost") == [["No device is missing."]]


def test_ok__a_ticket_shows_the_self_test_and_the_persons_report(told: Fleet) -> None:
    client = told.client()
    sign_in(client, Role.ADMIN)
    open_only = cells(client.get("/dashboard/tickets").text, "faults")
    assert [(row[1], row[2], row[5]) for row in open_only] == [("repair ticket T-1 critical", "S1-0003", "open")]
    assert "scanner: failed no beam" in open_only[0][4]
    assert "Reported: battery: “battery broke”" in open_only[0][4]
    everything = cells(client.get("/dashboard/tickets?all=1").text, "faults")
    assert sorted(row[1] for row in everything) == ["repair ticket T-1 critical", "report by staff critical"]


def test_ok__a_device_page_has_its_status_and_history(told: Fleet) -> None:
    client = told.client("zh-CN")
    sign_in(client, Role.ADMIN)
    html = client.get("/dashboard/devices/S1-0003").text
    assert re.search(r'id="device-status">([^<]+)<', html).group(1) == "维修中"  # type: ignore[union-attr]
    events = [row[2] for row in cells(html, "history")]
    assert events[0] == "repair_ticket_opened"
    assert "device_rented" in events
    missing = client.get("/dashboard/devices/NOPE-1")
    assert missing.status_code == 404
    assert "没有设备 NOPE-1。" in missing.text


def test_ok__a_cabinets_page_pictures_its_slots_and_refreshes_them(told: Fleet) -> None:
    client = told.client()
    sign_in(client, Role.VIEWER)
    html = client.get("/dashboard/cabinets/sim-1").text
    assert 'data-src="/dashboard/cabinets/sim-1/slots"' in html
    assert '<script src="/dashboard/static/slots.js" defer></script>' in html
    fragment = client.get("/dashboard/cabinets/sim-1/slots").text
    assert "<html" not in fragment
    slots = dict(re.findall(r'data-slot="(\d+)" data-state="([a-z]+)"', fragment))
    assert slots["3"] == "faulty"
    assert client.get("/dashboard/static/slots.js").status_code == 200


def test_ok__a_store_manager_sees_their_stores_share_of_every_view(told: Fleet) -> None:
    client = told.client()
    sign_in(client, Role.STORE_MANAGER)  # north
    assert [row[0] for row in cells(client.get("/dashboard/attention").text, "overdue")] == ["S1-0101"]
    assert cells(client.get("/dashboard/tickets?all=1").text, "faults") == [["Nothing open."]]
    assert client.get("/dashboard/devices/S1-0101").status_code == 200
    assert client.get("/dashboard/devices/S1-0003").status_code == 404  # a demo device, in a demo slot
    away = client.get("/dashboard/devices/S1-0002")  # demo's, returned into a north slot
    assert away.status_code == 200
    assert {row[1] for row in cells(away.text, "history")} == {"north-1"}
    assert client.get("/dashboard/cabinets/sim-1/slots").status_code == 404


def test_ok__an_operator_queues_a_command_from_the_cabinets_page(told: Fleet) -> None:
    client = told.client()
    csrf = sign_in(client, Role.OPERATOR)
    page = client.get("/dashboard/cabinets/sim-1").text
    assert re.findall(r'<select id="command-slot" name="slot">(.*?)</select>', page, re.S)[0].count("<option") == 8
    data = {"csrf_token": csrf, "kind": "disable_slot", "slot": "3", "reason": "door hinge"}
    reply = client.post("/dashboard/cabinets/sim-1/commands", data=data, follow_redirects=False)
    assert (reply.status_code, reply.headers["location"]) == (303, "/dashboard/cabinets/sim-1#commands")
    listed = cells(client.get("/dashboard/cabinets/sim-1").text, "command-list")
    assert [row[1:4] for row in listed] == [
        ["Take a slot out of service", "reason=door hinge slot=3", "waiting for the cabinet"]
    ]
    with told.storage.reading() as conn:
        queued = audit.page(conn, resource="command")[0]
    assert [(event["actor"], event["via"], event["action"]) for event in queued] == [("otto", "session", "queue")]


def test_fail__a_command_the_cabinet_cannot_take_is_refused_naming_why(told: Fleet) -> None:
    client = told.client()
    csrf = sign_in(client, Role.ADMIN)
    for data, status, words in [
        ({"kind": "unlock_slot", "slot": "99"}, 422, "cabinet &#39;sim-1&#39; has no slot 99 (its slots: 1-8)"),
        ({"kind": "unlock_slot", "slot": "three"}, 422, "three is not a slot number."),
        ({"kind": "self_destruct", "slot": "1"}, 422, "self_destruct is not a command the cabinet knows."),
    ]:
        reply = client.post("/dashboard/cabinets/sim-1/commands", data={"csrf_token": csrf, **data})
        assert reply.status_code == status
        assert words in reply.text


def test_ok__who_may_command_which_cabinet(told: Fleet) -> None:
    viewer = told.client()
    csrf = sign_in(viewer, Role.VIEWER)
    assert 'id="command-form"' not in viewer.get("/dashboard/cabinets/sim-1").text
    forged = viewer.post(
        "/dashboard/cabinets/sim-1/commands", data={"csrf_token": csrf, "kind": "unlock_slot", "slot": "1"}
    )
    assert forged.status_code == 403
    manager = told.client()
    csrf = sign_in(manager, Role.STORE_MANAGER)  # north
    assert 'id="command-form"' in manager.get("/dashboard/cabinets/north-1").text
    other = manager.post(
        "/dashboard/cabinets/sim-1/commands", data={"csrf_token": csrf, "kind": "unlock_slot", "slot": "1"}
    )
    assert other.status_code == 404
    with told.storage.reading() as conn:
        assert audit.page(conn, resource="command")[0] == []


def test_ok__no_page_over_the_views_refers_to_anything_elsewhere(told: Fleet) -> None:
    client = told.client()
    sign_in(client, Role.ADMIN)
    for path in [
        "/dashboard",
        "/dashboard/stores/demo",
        "/dashboard/cabinets/sim-1",
        "/dashboard/cabinets/sim-1/slots",
        "/dashboard/attention",
        "/dashboard/tickets?all=1",
        "/dashboard/devices/S1-0003",
    ]:
        html = client.get(path).text
        found = references(html)
        assert [url for url in found if not url.startswith(("/", "#")) or url.startswith("//")] == [], path
        assert "⟦" not in html, path
        # The charts' SVG names its namespace, and nothing else that is an address.
        assert set(re.findall(r"https?://[^\"' )<]+", html)) <= {"http://www.w3.org/2000/svg"}, path

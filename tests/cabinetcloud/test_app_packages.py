"""`/v1/admin/app-packages` and `GET /v1/packages/{sha256}`: APKs read from themselves, kept, refused
when bad, tampered or signed by another, downloaded by cabinets, and carried in the work types'
replica the cabinets receive (docs/app-packages.md)."""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from cabinetcloud import audit
from cabinetcloud import fleet as feed
from cabinetcloud.apppackages import uploads
from cabinetcloud.operators import Role
from cabinetd.ledger import WorkType
from testbed.apkbuild import build_apk, signer, tamper
from tests.cabinetcloud.operators_rig import Fleet, fleet, sqlite_fleet

__all__ = ["fleet", "sqlite_fleet"]

APK = "application/vnd.android.package-archive"
HOME = "com.example.store.home"  # version "2.4.0" in the demo fleet's work types
STORE = "store-apps"  # testbed/apkbuild.py signs with it unless told; signer() is cached by its arguments


def upload(fleet: Fleet, data: bytes, name: str = "home.apk", role: Role = Role.OPERATOR) -> httpx.Response:
    headers = {
        **fleet.as_role(role),
        "Content-Type": APK,
        "Content-Disposition": f'attachment; filename="{name}"',
    }
    reply: httpx.Response = fleet.client.post("/v1/admin/app-packages", content=data, headers=headers)
    return reply


def cabinet(fleet: Fleet) -> dict[str, str]:
    return {"Authorization": f"Bearer {fleet.cabinet_token}"}


def work_type_apps(fleet: Fleet, work_type: str) -> list[dict[str, Any]]:
    """The work type's apps as the cabinet's replica holds them, from the snapshot a cabinet takes."""
    reply = fleet.client.get("/v1/cabinets/sim-1/snapshot", headers=cabinet(fleet))
    assert reply.status_code == 200, reply.text
    for op in reply.json()["ops"]:
        if op["entity"] == "work_types" and op["id"] == work_type:
            return [app.model_dump(exclude_none=True) for app in WorkType.model_validate(op["data"]).apps]
    raise AssertionError(f"no work type {work_type} in the snapshot")


def test_ok__an_upload_is_read_from_the_apk_and_kept_once(fleet: Fleet) -> None:
    data = build_apk(HOME, 240, "2.4.0")
    first = upload(fleet, data)
    assert first.status_code == 201, first.text
    kept = first.json()
    assert {key: kept[key] for key in ("sha256", "package", "version_code", "version_name", "size")} == {
        "sha256": hashlib.sha256(data).hexdigest(),
        "package": HOME,
        "version_code": 240,
        "version_name": "2.4.0",
        "size": len(data),
    }
    assert (kept["signer_sha256"], kept["uploaded_by"]) == (signer(STORE).sha256, "otto")
    again = upload(fleet, data, name="again.apk")
    assert (again.status_code, again.json()) == (200, kept)
    listed = fleet.client.get("/v1/admin/app-packages", headers=fleet.as_role(Role.VIEWER))
    assert (listed.status_code, listed.json()) == (200, [kept])
    audit = fleet.client.get("/v1/admin/audit", params={"resource": "app_package"}, headers=fleet.as_role(Role.ADMIN))
    assert [(event["action"], event["resource_id"]) for event in audit.json()["events"]] == [("upload", kept["sha256"])]


def test_ok__the_list_filtered_by_package_newest_first(fleet: Fleet) -> None:
    for package, code in ((HOME, 239), ("com.example.store.labels", 312), (HOME, 240)):
        assert upload(fleet, build_apk(package, code, f"{code}")).status_code == 201
    listed = fleet.client.get("/v1/admin/app-packages", params={"package": HOME}, headers=fleet.as_role(Role.VIEWER))
    assert [(found["package"], found["version_code"]) for found in listed.json()] == [(HOME, 240), (HOME, 239)]


@pytest.mark.parametrize(
    ("data", "name", "detail"),
    [
        (b"hello", "hello.apk", "hello.apk: not an APK (not a zip archive)"),
        (
            tamper(build_apk(HOME, 240, "2.4.0")),
            "home.apk",
            "home.apk: its v2 signature does not verify (its contents were changed after signing)",
        ),
    ],
)
def test_fail__a_bad_or_tampered_apk(fleet: Fleet, data: bytes, name: str, detail: str) -> None:
    reply = upload(fleet, data, name=name)
    assert (reply.status_code, reply.json()) == (422, {"code": "not_an_apk", "detail": detail})
    assert fleet.client.get("/v1/admin/app-packages", headers=fleet.as_role(Role.VIEWER)).json() == []


def test_fail__another_signer_for_a_package_the_fleet_holds(fleet: Fleet) -> None:
    assert upload(fleet, build_apk(HOME, 240, "2.4.0")).status_code == 201
    reply = upload(fleet, build_apk(HOME, 241, "2.4.1", signed_by="someone-else"), name="evil.apk")
    assert (reply.status_code, reply.json()) == (
        409,
        {
            "code": "signer_differs",
            "detail": f"evil.apk: {HOME} is signed by {signer('someone-else').sha256}, but the fleet holds it "
            f"signed by {signer(STORE).sha256} (versionCode 240): a device refuses such an update",
        },
    )


def test_fail__other_bytes_under_a_version_code_kept(fleet: Fleet) -> None:
    first = upload(fleet, build_apk(HOME, 240, "2.4.0")).json()
    reply = upload(fleet, build_apk(HOME, 240, "2.4.0", padding_bytes=10), name="rebuilt.apk")
    assert (reply.status_code, reply.json()) == (
        409,
        {
            "code": "version_taken",
            "detail": f"rebuilt.apk: {HOME} versionCode 240 is kept already with other bytes "
            f"(sha256 {first['sha256']}): a new build needs a new versionCode",
        },
    )


def test_ok__a_cabinet_downloads_the_bytes(fleet: Fleet) -> None:
    data = build_apk(HOME, 240, "2.4.0", padding_bytes=3000)
    sha256 = upload(fleet, data).json()["sha256"]
    whole = fleet.client.get(f"/v1/packages/{sha256}", headers=cabinet(fleet))
    assert (whole.status_code, whole.content, whole.headers["content-length"]) == (200, data, str(len(data)))
    assert whole.headers["content-type"] == APK
    rest = fleet.client.get(f"/v1/packages/{sha256}", headers={**cabinet(fleet), "Range": "bytes=100-"})
    assert (rest.status_code, rest.content) == (206, data[100:])


def test_fail__a_download_without_a_cabinet_token_or_of_an_unknown_apk(fleet: Fleet) -> None:
    sha256 = upload(fleet, build_apk(HOME, 240, "2.4.0")).json()["sha256"]
    path = f"/v1/packages/{sha256}"
    fleet.client.headers.pop("Authorization", None)
    nobody = fleet.client.get(path)
    assert (nobody.status_code, nobody.json()) == (
        401,
        {"code": "unauthorized", "detail": "missing or unknown cabinet token"},
    )
    operator = fleet.client.get(path, headers=fleet.as_role(Role.ADMIN))
    assert (operator.status_code, operator.json()) == (
        403,
        {"code": "forbidden", "detail": "an operator's token is not accepted on cabinet routes"},
    )
    unknown = fleet.client.get(f"/v1/packages/{'0' * 64}", headers=cabinet(fleet))
    assert (unknown.status_code, unknown.json()) == (
        404,
        {"code": "not_found", "detail": f"app package {'0' * 64} is not known"},
    )


def test_ok__the_replica_carries_the_apk_after_an_upload(fleet: Fleet) -> None:
    assert work_type_apps(fleet, "picking")[0] == {"package": HOME, "version": "2.4.0"}
    with fleet.storage.reading() as conn:
        head = feed.head(conn)
    data = build_apk(HOME, 240, "2.4.0")
    upload(fleet, data)
    expected = {
        "package": HOME,
        "version": "2.4.0",
        "version_code": 240,
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "signer_sha256": signer(STORE).sha256,
    }
    assert work_type_apps(fleet, "picking")[0] == expected
    # What a cabinet long-polling from before the upload is answered: each work type with the app.
    page = fleet.client.get(
        "/v1/cabinets/sim-1/changes", params={"cursor": str(head), "wait": 0}, headers=cabinet(fleet)
    ).json()
    assert sorted(op["id"] for op in page["ops"]) == ["picking", "price-tags", "stock-taking"]
    for op in page["ops"]:
        assert WorkType.model_validate(op["data"]).apps[0].model_dump(exclude_none=True) == expected


def test_ok__a_version_code_names_the_version_and_the_highest_wins(fleet: Fleet) -> None:
    for code in (240, 241):
        upload(fleet, build_apk(HOME, code, "2.4.0"))
    assert work_type_apps(fleet, "picking")[0]["version_code"] == 241
    reply = fleet.client.patch(
        "/v1/admin/work-types/picking",
        json={"apps": [{"package": HOME, "version": "240"}]},
        headers=fleet.as_role(Role.OPERATOR),
    )
    assert reply.status_code == 200, reply.text
    assert work_type_apps(fleet, "picking")[0]["version_code"] == 240


def test_ok__an_apk_no_work_type_has_changes_no_replica(fleet: Fleet) -> None:
    with fleet.storage.reading() as conn:
        head = feed.head(conn)
    assert upload(fleet, build_apk(HOME, 250, "2.5.0")).status_code == 201
    with fleet.storage.reading() as conn:
        assert feed.head(conn) == head


def test_ok__delete_refused_while_a_work_type_has_it(fleet: Fleet) -> None:
    sha256 = upload(fleet, build_apk(HOME, 240, "2.4.0")).json()["sha256"]
    path = f"/v1/admin/app-packages/{sha256}"
    refused = fleet.client.delete(path, headers=fleet.as_role(Role.OPERATOR))
    assert (refused.status_code, refused.json()) == (
        409,
        {
            "code": "in_use",
            "detail": f"app package {sha256} ({HOME} versionCode 240) is an app of the work types picking, "
            "price-tags, stock-taking: change their apps or upload a newer build first",
        },
    )
    unused = upload(fleet, build_apk(HOME, 239, "2.3.9")).json()["sha256"]
    assert (
        fleet.client.delete(f"/v1/admin/app-packages/{unused}", headers=fleet.as_role(Role.OPERATOR)).status_code == 204
    )
    gone = fleet.client.get(f"/v1/packages/{unused}", headers=cabinet(fleet))
    assert (gone.status_code, gone.json()["detail"]) == (404, f"app package {unused} is not known")
    assert fleet.client.get(f"/v1/packages/{sha256}", headers=cabinet(fleet)).status_code == 200


def test_fail__an_upload_a_viewer_sends_or_not_sent_as_an_apk(sqlite_fleet: Fleet) -> None:
    data = build_apk(HOME, 240, "2.4.0")
    viewer = upload(sqlite_fleet, data, role=Role.VIEWER)
    assert (viewer.status_code, viewer.json()) == (
        403,
        {"code": "forbidden", "detail": "role viewer may not change the fleet"},
    )
    path, operator = "/v1/admin/app-packages", sqlite_fleet.as_role(Role.OPERATOR)
    as_zip = sqlite_fleet.client.post(path, content=data, headers={**operator, "Content-Type": "application/zip"})
    assert (as_zip.status_code, as_zip.json()) == (
        415,
        {"code": "bad_content_type", "detail": f"send the APK itself as the body, Content-Type {APK}"},
    )
    gzipped = sqlite_fleet.client.post(
        path, content=data, headers={**operator, "Content-Type": APK, "Content-Encoding": "gzip"}
    )
    assert (gzipped.status_code, gzipped.json()["detail"]) == (
        415,
        "send the APK as it is: an APK is compressed already",
    )
    empty = sqlite_fleet.client.post(path, content=b"", headers={**operator, "Content-Type": APK})
    assert (empty.status_code, empty.json()) == (
        422,
        {"code": "not_an_apk", "detail": "the uploaded APK: the upload is empty"},
    )


def test_fail__an_apk_over_the_cap(sqlite_fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    from cabinetcloud.admin import app_packages

    monkeypatch.setattr(app_packages, "MAX_APK_BYTES", 1000)
    reply = upload(sqlite_fleet, build_apk(HOME, 240, "2.4.0", padding_bytes=2000))
    assert (reply.status_code, reply.json()) == (413, {"code": "too_large", "detail": "an APK is at most 1000 bytes"})
    assert uploads.MAX_APK_BYTES == 256 * 1024 * 1024


def test_ok__two_signers_uploading_at_once_one_gets_in(fleet: Fleet) -> None:
    """As two `cabinet-cloud serve` workers would take them: both at once, one kept, the other refused."""
    ours, theirs = build_apk(HOME, 240, "2.4.0"), build_apk(HOME, 241, "2.4.1", signed_by="someone-else")
    actor, start = audit.Actor(name="otto", via="token"), threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def send(name: str, data: bytes) -> None:
        start.wait()
        try:
            uploads.accept(fleet.storage, data, name, actor, datetime.now(UTC))
            outcomes[name] = "kept"
        except uploads.PackageError as error:
            outcomes[name] = error.code

    threads = [threading.Thread(target=send, args=item) for item in (("ours", ours), ("theirs", theirs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes.values()) == ["kept", "signer_differs"]
    listed = fleet.client.get("/v1/admin/app-packages", headers=fleet.as_role(Role.VIEWER)).json()
    assert len(listed) == 1


def test_ok__a_download_of_several_chunks(sqlite_fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> None:
    from cabinetcloud.apppackages import download

    monkeypatch.setattr(uploads, "CHUNK_BYTES", 1000)
    monkeypatch.setattr(download, "CHUNK_BYTES", 1000)
    data = build_apk(HOME, 240, "2.4.0", padding_bytes=5000)
    sha256 = upload(sqlite_fleet, data).json()["sha256"]
    path = f"/v1/packages/{sha256}"
    assert sqlite_fleet.client.get(path, headers=cabinet(sqlite_fleet)).content == data
    for header, expected in (("bytes=999-2500", data[999:2501]), ("bytes=-10", data[-10:])):
        reply = sqlite_fleet.client.get(path, headers={**cabinet(sqlite_fleet), "Range": header})
        assert (reply.status_code, reply.content) == (206, expected), header

"""The package cache against the package server on loopback: what it downloads and keeps, what it
refuses and records, when it asks again, and what it removes."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from testbed.apkbuild import build_apk, signer, tamper
from tests.packages.rig import HOME, LABELS, OTHER, STORE, TOKEN, CacheRig, app_entry, work_type_op

HOME_APK = build_apk(HOME, 240, "2.4.0", signed_by=STORE)
LABELS_APK = build_apk(LABELS, 312, "3.1.2", signed_by=STORE)
HOME_SHA = hashlib.sha256(HOME_APK).hexdigest()
LABELS_SHA = hashlib.sha256(LABELS_APK).hexdigest()


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[CacheRig]:
    rig = CacheRig(tmp_path)
    rig.server.add(HOME_APK)
    rig.server.add(LABELS_APK)
    await rig.packages.prepare()
    yield rig
    await rig.packages.cleanup()
    rig.close()


def _price_tags(*apps: dict[str, object]) -> dict[str, object]:
    return work_type_op(
        "price-tags", list(apps) or [app_entry(HOME_APK, HOME, 240), app_entry(LABELS_APK, LABELS, 312)]
    )


async def test_ok__the_work_types_packages_are_downloaded_checked_and_cached(rig: CacheRig) -> None:
    rig.work_types(_price_tags(), work_type_op("picking", [app_entry(HOME_APK, HOME, 240)]))
    await rig.packages.step()
    assert rig.files() == sorted([f"{HOME_SHA}.apk", f"{LABELS_SHA}.apk"])
    assert (rig.directory / f"{HOME_SHA}.apk").read_bytes() == HOME_APK
    assert sorted(rig.server.asked) == sorted([f"/v1/packages/{HOME_SHA}", f"/v1/packages/{LABELS_SHA}"])
    cached = rig.events("app_package_cached")
    assert (
        "app_package_cached",
        {
            "package": HOME,
            "version_code": 240,
            "sha256": HOME_SHA,
            "size": len(HOME_APK),
            "signer_sha256": signer(STORE).sha256,
            "work_types": ["picking", "price-tags"],
        },
    ) in cached
    report = rig.packages.report()
    assert [(h.package, h.version_code, h.version_name, work) for h, work in report.held] == [
        (HOME, 240, "2.4.0", ("picking", "price-tags")),
        (LABELS, 312, "3.1.2", ("price-tags",)),
    ]
    assert report.lacking == []
    await rig.packages.step()
    assert len(rig.server.asked) == 2  # held: never asked for again


async def test_ok__what_the_cache_holds_is_read_again_at_start(rig: CacheRig) -> None:
    rig.work_types(_price_tags())
    await rig.packages.step()
    again = rig.build()
    await again.prepare()
    assert sorted(again.held) == sorted([HOME_SHA, LABELS_SHA])
    assert again.held[HOME_SHA].signer_sha256 == signer(STORE).sha256


async def test_fail__a_tampered_download_is_refused_deleted_and_recorded(rig: CacheRig) -> None:
    rig.server.served[HOME_SHA] = HOME_APK[:-1] + bytes([HOME_APK[-1] ^ 1])  # one bit flipped on the way
    rig.work_types(_price_tags(app_entry(HOME_APK, HOME, 240)))
    await rig.packages.step()
    assert rig.files() == []
    part = rig.directory / f"{HOME_SHA}.part"
    digest = hashlib.sha256(rig.server.served[HOME_SHA]).hexdigest()
    detail = f"{part}: its sha256 is {digest}, not that of {HOME} version 2.40 (sha256 {HOME_SHA[:12]}…)"
    assert rig.events("app_package_refused") == [
        (
            "app_package_refused",
            {"package": HOME, "version_code": 240, "sha256": HOME_SHA, "reason": "sha256", "detail": detail},
        )
    ]
    [lacking] = rig.packages.report().lacking
    assert (lacking.need.package, lacking.reason, lacking.detail) == (HOME, "sha256", detail)


async def test_fail__an_apk_whose_signature_does_not_verify_is_refused(rig: CacheRig) -> None:
    # Listed under its own sha256: only the signature can tell.
    tampered = tamper(build_apk(HOME, 240, signed_by=STORE))
    rig.server.add(tampered)
    sha = hashlib.sha256(tampered).hexdigest()
    rig.work_types(_price_tags(app_entry(tampered, HOME, 240)))
    await rig.packages.step()
    assert rig.files() == []
    [(_, refused)] = rig.events("app_package_refused")
    assert (refused["sha256"], refused["reason"]) == (sha, "not_apk")
    part = rig.directory / f"{sha}.part"
    assert refused["detail"] == f"{part}: its v2 signature does not verify (its contents were changed after signing)"


async def test_fail__an_apk_signed_by_another_key_is_refused(rig: CacheRig) -> None:
    other = build_apk(HOME, 240, signed_by=OTHER)
    rig.server.add(other)
    sha = hashlib.sha256(other).hexdigest()
    rig.work_types(_price_tags(app_entry(other, HOME, 240)))
    await rig.packages.step()
    assert rig.files() == []
    [(_, refused)] = rig.events("app_package_refused")
    signers = f"{signer(OTHER).sha256[:12]}…, not by {signer(STORE).sha256[:12]}…"
    assert refused["reason"] == "signer"
    assert (
        refused["detail"]
        == f"{rig.directory / sha}.part: the APK is signed by {signers} as {HOME} version 2.40 (sha256 {sha[:12]}…)"
    )


async def test_fail__another_package_or_version_under_the_sha256_is_refused(rig: CacheRig) -> None:
    rig.work_types(_price_tags(app_entry(HOME_APK, LABELS, 240), app_entry(LABELS_APK, LABELS, 313)))
    await rig.packages.step()
    refused = {p["sha256"]: (p["reason"], p["detail"].split(": ", 1)[1]) for _, p in rig.events("app_package_refused")}
    assert refused == {
        HOME_SHA: ("package", f"the APK is {HOME}, not {LABELS} version 2.40 (sha256 {HOME_SHA[:12]}…)"),
        LABELS_SHA: (
            "version_code",
            f"the APK has version code 312, not 313 of {LABELS} version 3.13 (sha256 {LABELS_SHA[:12]}…)",
        ),
    }


async def test_fail__a_download_cut_short_is_refused_then_taken_after_its_wait(rig: CacheRig) -> None:
    rig.server.cut_after, rig.server.cuts = 1000, 1
    rig.work_types(_price_tags(app_entry(HOME_APK, HOME, 240)))
    await rig.packages.step()
    assert rig.files() == []
    [(_, refused)] = rig.events("app_package_refused")
    assert refused["reason"] == "truncated"
    assert refused["detail"] == (
        f"GET /v1/packages/{HOME_SHA} ({HOME}): the body ended early: RemoteProtocolError: peer closed connection"
        f" without sending complete message body (received 1000 bytes, expected {len(HOME_APK)})"
    )
    [lacking] = rig.packages.report().lacking
    assert lacking.retry_in_s is not None
    assert 900 <= lacking.retry_in_s <= 1800  # a refusal waits half an hour or so
    await rig.packages.step()
    assert len(rig.server.asked) == 1  # not asked again before its time
    rig.now.t += 1800
    await rig.packages.step()
    assert rig.files() == [f"{HOME_SHA}.apk"]
    assert rig.packages.report().lacking == []


async def test_fail__a_cloud_that_is_down_is_no_refusal_and_is_asked_again_later(rig: CacheRig) -> None:
    rig.server.status = 503
    rig.work_types(_price_tags())
    await rig.packages.step()
    assert len(rig.server.asked) == 1  # the first failure says the cloud is down: the rest wait too
    assert rig.events("app_package_refused") == []
    lacking = rig.packages.report().lacking
    assert [(x.need.package, x.reason) for x in lacking] == [(HOME, None), (LABELS, None)]
    down = f"GET /v1/packages/{HOME_SHA} ({HOME}): 503 Service Unavailable"
    assert [x.detail for x in lacking] == [down, down]  # the second was not asked: it waits as well
    assert all(x.retry_in_s is not None and 15 <= x.retry_in_s <= 30 for x in lacking)
    await rig.packages.step()
    assert len(rig.server.asked) == 1
    rig.server.status = None
    rig.packages.wake()  # a technician's `sync now`
    await rig.packages.step()
    assert len(rig.files()) == 2


async def test_fail__a_token_the_cloud_does_not_know_is_not_served(rig: CacheRig) -> None:
    rig.server.token = TOKEN + "-rotated"
    rig.work_types(_price_tags(app_entry(HOME_APK, HOME, 240)))
    await rig.packages.step()
    [(_, refused)] = rig.events("app_package_refused")
    assert (refused["reason"], refused["detail"]) == (
        "not_served",
        f"GET /v1/packages/{HOME_SHA} ({HOME}): 401 Unauthorized",
    )


async def test_ok__a_package_no_work_type_needs_is_removed_with_stray_part_files(rig: CacheRig) -> None:
    rig.work_types(_price_tags())
    await rig.packages.step()
    stray = rig.directory / f"{'0' * 64}.part"
    stray.write_bytes(b"left by a download cut by a power cut")
    mine = rig.directory / "README"
    mine.write_text("not the cache's")
    rig.change(work_type_op("price-tags", [app_entry(HOME_APK, HOME, 240)], version=2))
    await rig.packages.step()
    assert rig.files() == sorted([f"{HOME_SHA}.apk", "README"])
    assert rig.events("app_package_removed") == [
        (
            "app_package_removed",
            {"sha256": LABELS_SHA, "package": LABELS, "size": len(LABELS_APK), "reason": "unneeded"},
        )
    ]


async def test_ok__nothing_is_removed_while_the_cabinet_holds_no_work_types(rig: CacheRig) -> None:
    rig.directory.mkdir(exist_ok=True)
    (rig.directory / f"{HOME_SHA}.apk").write_bytes(HOME_APK)  # put there by a technician
    again = rig.build()
    await again.prepare()
    await again.step()
    assert rig.files() == [f"{HOME_SHA}.apk"]


async def test_fail__a_file_that_is_not_what_its_name_says_is_removed_at_start(rig: CacheRig) -> None:
    rig.directory.mkdir(exist_ok=True)
    (rig.directory / f"{HOME_SHA}.apk").write_bytes(LABELS_APK)
    again = rig.build()
    await again.prepare()
    assert rig.files() == []
    assert rig.events("app_package_removed") == [
        ("app_package_removed", {"sha256": HOME_SHA, "package": None, "size": len(LABELS_APK), "reason": "corrupt"})
    ]


async def test_fail__a_cache_directory_that_cannot_be_made_is_reported_and_fetches_nothing(tmp_path: Path) -> None:
    rig = CacheRig(tmp_path)
    try:
        rig.directory.write_text("a file where the directory should be")
        rig.work_types(_price_tags())
        await rig.packages.prepare()  # never fails the daemon: the cabinet still rents
        await rig.packages.step()
        report = rig.packages.report()
        assert report.last_error == f"package cache {rig.directory}: File exists"
        assert (report.held, len(report.lacking), rig.server.asked) == ([], 2, [])
    finally:
        rig.close()


async def test_fail__a_package_the_cloud_offers_at_another_size_is_refused_before_its_body(rig: CacheRig) -> None:
    rig.work_types(_price_tags(app_entry(HOME_APK, HOME, 240, size=len(HOME_APK) + 1)))
    await rig.packages.step()
    assert rig.files() == []
    [(_, refused)] = rig.events("app_package_refused")
    assert (refused["reason"], refused["detail"]) == (
        "size",
        f"GET /v1/packages/{HOME_SHA} ({HOME}): the cloud offers {len(HOME_APK)} bytes;"
        f" {HOME} version 2.40 (sha256 {HOME_SHA[:12]}…) has {len(HOME_APK) + 1}",
    )

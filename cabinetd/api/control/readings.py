"""The control API's readings of the cabinet: GETs that render the cabinet's view in the documented
shapes; nothing here changes anything."""

from __future__ import annotations

from typing import Final

from pydantic import BaseModel
from starlette.requests import Request
from starlette.routing import Route

from cabinetd import logbuffer
from cabinetd.api.control import shapes
from cabinetd.api.control.answers import Denied, Desk, answer, query_float, query_int, slot_of
from cabinetd.api.control.badges import BadgeWatch
from cabinetd.api.control.redact import redact
from cabinetd.packages.service import CacheReport

BADGE_WAIT_MAX_S: Final = 30.0


class Readings:
    def __init__(self, desk: Desk, badges: BadgeWatch) -> None:
        self.desk = desk
        self.view = desk.view
        self.badges = badges

    async def status(self, request: Request) -> BaseModel:
        return shapes.Status.model_validate(self.view.status(), from_attributes=True)

    async def slots(self, request: Request) -> BaseModel:
        listed = [shapes.SlotSummary.model_validate(s, from_attributes=True) for s in self.view.slots()]
        return shapes.SlotList(slots=listed)

    async def slot(self, request: Request) -> BaseModel:
        number = self.desk.maintenance.slot(slot_of(request)).number  # 404 for a slot that does not exist
        return shapes.SlotDetail.model_validate(self.view.slot(number), from_attributes=True)

    async def badge_reads(self, request: Request) -> BaseModel:
        badges = self.badges
        after = query_int(request, "after", -1, -1, 2**62)
        wait_s = query_float(request, "wait_s", 0.0, 0.0, BADGE_WAIT_MAX_S)
        if after < 0:  # a new watcher: only reads from now on
            return shapes.BadgeReads(last=badges.last, reads=[])
        found = await badges.wait_after(after, wait_s)
        reads = [
            shapes.BadgeRead(
                seq=r.seq, at=r.at.isoformat(timespec="seconds"), badge=r.masked, reader=r.reader,
                staff=r.staff, name=r.name, role=r.role,
            )
            for r in found
        ]
        return shapes.BadgeReads(last=badges.last, reads=reads)

    async def usb_list(self, request: Request) -> BaseModel:
        ports = [shapes.UsbPort.model_validate(p, from_attributes=True) for p in self.view.usb_ports()]
        hubs = [shapes.Part.model_validate(h, from_attributes=True) for h in self.view.hubs()]
        return shapes.UsbList(ports=ports, hubs=hubs)

    async def sync_status(self, request: Request) -> BaseModel:
        return shapes.SyncReport.model_validate(self.view.sync(), from_attributes=True)

    async def config(self, request: Request) -> BaseModel:
        return shapes.ConfigShow(config=redact(self.desk.config.model_dump(mode="json", exclude_none=True)))

    async def logs(self, request: Request) -> BaseModel:
        ring = logbuffer.recent()
        last = query_int(request, "last", ring.capacity, 0, ring.capacity)
        records = [shapes.LogRecord(**vars(kept)) for kept in ring.records(last)]
        return shapes.LogList(capacity=ring.capacity, records=records)

    async def versions(self, request: Request) -> BaseModel:
        return shapes.Versions.model_validate(self.view.versions(), from_attributes=True)

    async def update(self, request: Request) -> BaseModel:
        return shapes.Software.model_validate(self.view.software(), from_attributes=True)

    async def packages(self, request: Request) -> BaseModel:
        if self.desk.packages is None:
            raise Denied(409, "this daemon keeps no app package cache")
        return package_report(self.desk.packages())

    def routes(self) -> list[Route]:
        return [
            Route("/status", answer(self.status)),
            Route("/slots", answer(self.slots)),
            Route("/slots/{slot:int}", answer(self.slot)),
            Route("/badges", answer(self.badge_reads)),
            Route("/usb", answer(self.usb_list)),
            Route("/sync", answer(self.sync_status)),
            Route("/config", answer(self.config)),
            Route("/logs", answer(self.logs)),
            Route("/versions", answer(self.versions)),
            Route("/update", answer(self.update)),
            Route("/packages", answer(self.packages)),
        ]


def package_report(report: CacheReport) -> shapes.PackageReport:
    held = [
        shapes.PackageHeld(
            package=h.package,
            version_code=h.version_code,
            version_name=h.version_name,
            size=h.size,
            sha256=h.sha256,
            signer_sha256=h.signer_sha256,
            work_types=list(work_types),
        )
        for h, work_types in report.held
    ]
    lacking = [
        shapes.PackageLacking(
            package=lack.need.package,
            version=lack.need.version,
            version_code=lack.need.version_code,
            sha256=lack.need.sha256,
            work_types=list(lack.need.work_types),
            refused=lack.reason,
            detail=lack.detail,
            failed_at=None if lack.failed_at is None else lack.failed_at.isoformat(timespec="seconds"),
            retry_in_s=None if lack.retry_in_s is None else round(lack.retry_in_s, 1),
        )
        for lack in report.lacking
    ]
    return shapes.PackageReport(
        directory=report.directory,
        downloads=report.downloads,
        held=held,
        lacking=lacking,
        downloading=report.downloading,
        last_error=report.last_error,
    )

"""`/v1/admin/stores/{id}/notices`: how a store's reminders go (docs/notifications.md): its time zone and
languages, quiet hours, the overdue repeat and the escalation to the store manager. Every role reads its
stores' settings; admins and operators change them, audited."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, Field

from cabinetcloud import audit
from cabinetcloud.admin.access import Reader, Writer, storage_of
from cabinetcloud.admin.models import ID_PATTERN, Body
from cabinetcloud.admin.stores import visible_store
from cabinetcloud.bodies import BodyLimitedRoute
from cabinetcloud.outbox import notices
from cabinetcloud.replies import Refusal, refusals

router = APIRouter(prefix="/stores", tags=["stores"], route_class=BodyLimitedRoute)
StoreId = Annotated[str, Path(pattern=ID_PATTERN)]
ClockTime = Annotated[str, Field(pattern=r"^[0-2][0-9]:[0-5][0-9]$", description="local time HH:MM")]


class NoticesBody(Body):
    timezone: Annotated[str, Field(min_length=1, max_length=64, description="IANA, e.g. Asia/Shanghai")] = "UTC"
    languages: Annotated[list[Literal["en", "zh-CN"]], Field(min_length=1, max_length=2)] = ["en"]  # noqa: RUF012
    quiet_start: ClockTime | None = None
    quiet_end: ClockTime | None = None
    overdue_every_min: Annotated[int, Field(ge=5, le=24 * 60)] = 60
    escalate_after_min: Annotated[int, Field(ge=1, le=7 * 24 * 60)] | None = 120


class NoticesOut(BaseModel):
    timezone: str
    languages: list[str]
    quiet_start: str | None
    quiet_end: str | None
    overdue_every_min: int
    escalate_after_min: int | None


@router.get("/{store_id}/notices", responses=refusals(401, 403, 404))
def get_notices(request: Request, store_id: StoreId, who: Reader) -> NoticesOut:
    with storage_of(request).reading() as conn:
        visible_store(conn, who, store_id)
        return NoticesOut.model_validate(notices.of(conn, store_id).view())


@router.put("/{store_id}/notices", responses=refusals(400, 401, 403, 404, 413, 415))
def put_notices(request: Request, store_id: StoreId, body: NoticesBody, who: Writer) -> NoticesOut:
    try:
        settings = notices.check(body.model_dump())
    except notices.NoticeError as exc:
        raise Refusal(422, "invalid", str(exc)) from None
    with storage_of(request).writing() as conn:
        visible_store(conn, who, store_id)
        before = notices.of(conn, store_id).view()
        notices.put(conn, store_id, settings)
        audit.record(conn, who.actor, "update", "store_notices", store_id, before=before, after=settings.view())
    return NoticesOut.model_validate(settings.view())

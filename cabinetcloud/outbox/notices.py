"""A store's notice settings: its time zone and languages, quiet hours, the overdue repeat and the
escalation to the store manager (docs/notifications.md). A store nobody set up gets the defaults."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from cabinetcloud import schema

LANGUAGES: Final = ("en", "zh-CN")
N = schema.store_notices


class NoticeError(ValueError):
    """A setting that cannot be used; the message names it."""


@dataclass(frozen=True)
class Notices:
    timezone: str = "UTC"
    languages: tuple[str, ...] = ("en",)
    quiet_start: str | None = None
    quiet_end: str | None = None
    overdue_every_min: int = 60
    escalate_after_min: int | None = 120

    def view(self) -> dict[str, Any]:
        return {**asdict(self), "languages": list(self.languages)}

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def release(self, at: datetime) -> datetime:
        """`at`, or the end of the quiet hours when `at` falls within them (people are not woken)."""
        if self.quiet_start is None or self.quiet_end is None:
            return at
        local = at.astimezone(self.zone)
        start, end = _clock(self.quiet_start), _clock(self.quiet_end)
        now = local.time()
        quiet = start <= now < end if start < end else (now >= start or now < end)
        if not quiet:
            return at
        day = local.date() if (start < end or now < end) else local.date() + timedelta(days=1)
        return datetime.combine(day, end, tzinfo=self.zone).astimezone(at.tzinfo)


def _clock(text: str) -> time:
    return time.fromisoformat(text)


def check(values: dict[str, Any]) -> Notices:
    try:
        ZoneInfo(values.get("timezone", "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        raise NoticeError(
            f"timezone {values.get('timezone')!r} is not an IANA time zone (e.g. Asia/Shanghai)"
        ) from None
    languages = tuple(values.get("languages") or ("en",))
    unknown = [tag for tag in languages if tag not in LANGUAGES]
    if unknown:
        raise NoticeError(f"language {unknown[0]!r} is not one of {', '.join(LANGUAGES)}")
    quiet = (values.get("quiet_start"), values.get("quiet_end"))
    if (quiet[0] is None) != (quiet[1] is None):
        raise NoticeError("quiet_start and quiet_end come together (or neither)")
    for name, text in zip(("quiet_start", "quiet_end"), quiet, strict=True):
        if text is not None:
            try:
                _clock(text)
            except ValueError:
                raise NoticeError(f"{name} {text!r} is not a time of day HH:MM") from None
    return Notices(
        timezone=values.get("timezone", "UTC"),
        languages=languages,
        quiet_start=quiet[0],
        quiet_end=quiet[1],
        overdue_every_min=int(values.get("overdue_every_min", 60)),
        escalate_after_min=values.get("escalate_after_min", 120),
    )


def of(conn: Connection, store: str) -> Notices:
    row = conn.execute(sa.select(N).where(N.c.store == store)).first()
    if row is None:
        return Notices()
    return Notices(
        timezone=row.timezone,
        languages=tuple(json.loads(row.languages)),
        quiet_start=row.quiet_start,
        quiet_end=row.quiet_end,
        overdue_every_min=row.overdue_every_min,
        escalate_after_min=row.escalate_after_min,
    )


def put(conn: Connection, store: str, notices: Notices) -> None:
    values = {**notices.view(), "languages": json.dumps(list(notices.languages))}
    if conn.execute(sa.update(N).where(N.c.store == store).values(**values)).rowcount == 0:
        conn.execute(sa.insert(N).values(store=store, **values))

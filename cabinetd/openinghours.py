"""A store's opening hours as `[updates] opening_hours` writes them: "08:00-22:00", or several ranges
separated by commas ("08:00-12:30, 14:00-21:00"), in the cabinet's local time. A range whose end is
before its start runs past midnight ("18:00-02:00"); "24:00" ends a range at midnight. Pure: the time
of day is the caller's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time
from typing import Final

_RANGE: Final = re.compile(r"^([0-2][0-9]):([0-5][0-9])-([0-2][0-9]):([0-5][0-9])$")


class HoursError(ValueError):
    """Opening hours that do not parse; the message quotes the range."""


@dataclass(frozen=True)
class OpeningHours:
    ranges: tuple[tuple[int, int], ...]  # (start, end) in minutes after midnight; end may be < start

    @classmethod
    def parse(cls, text: str) -> OpeningHours:
        ranges = []
        for part in (piece.strip() for piece in text.split(",")):
            found = _RANGE.match(part)
            if found is None:
                raise HoursError(f"{part!r} is not a range of opening hours like '08:00-22:00'")
            h1, m1, h2, m2 = (int(group) for group in found.groups())
            if h1 > 23 or h2 > 24 or (h2 == 24 and m2 != 0):
                raise HoursError(f"{part!r}: hours run from 00:00 to 24:00")
            start, end = h1 * 60 + m1, h2 * 60 + m2
            if start == end:
                raise HoursError(f"{part!r} starts where it ends; write 00:00-24:00 for a store open all day")
            ranges.append((start, end))
        return cls(tuple(ranges))

    def open_at(self, moment: time) -> bool:
        minute = moment.hour * 60 + moment.minute
        for start, end in self.ranges:
            if start < end and start <= minute < end:
                return True
            if end < start and (minute >= start or minute < end):
                return True
        return False

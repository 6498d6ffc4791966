"""When people can take a conversation: agent hours and French public holidays."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


def easter(year: int) -> date:
    """Gregorian Easter Sunday (Meeus/Jones/Butcher)."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month = (h + ell - 7 * m + 114) // 31
    day = (h + ell - 7 * m + 114) % 31 + 1
    return date(year, month, day)


def french_public_holidays(year: int) -> set[date]:
    """The eleven national public holidays (metropolitan France)."""
    sunday = easter(year)
    return {
        date(year, 1, 1),
        sunday + timedelta(days=1),
        date(year, 5, 1),
        date(year, 5, 8),
        sunday + timedelta(days=39),
        sunday + timedelta(days=50),
        date(year, 7, 14),
        date(year, 8, 15),
        date(year, 11, 1),
        date(year, 11, 11),
        date(year, 12, 25),
    }


def parse_ranges(value: list[str], where: str) -> tuple[tuple[time, time], ...]:
    ranges = []
    for item in value:
        match = _RANGE.match(str(item).strip())
        if not match:
            raise ValueError(f"{where}: {item!r} is not a range like 08:30-12:00")
        h1, m1, h2, m2 = map(int, match.groups())
        start, end = time(h1, m1), time(h2, m2)
        if not start < end:
            raise ValueError(f"{where}: {item!r} ends before it starts")
        ranges.append((start, end))
    return tuple(ranges)


@dataclass(frozen=True)
class AgentHours:
    timezone: str = "Europe/Paris"
    weekly: dict[str, tuple[tuple[time, time], ...]] = field(default_factory=dict)
    extra_closed_days: frozenset[date] = frozenset()

    def is_open(self, moment: datetime) -> bool:
        local = moment.astimezone(ZoneInfo(self.timezone))
        day = local.date()
        if day in self.extra_closed_days or day in french_public_holidays(day.year):
            return False
        now = local.time()
        return any(
            start <= now < end for start, end in self.weekly.get(WEEKDAYS[day.weekday()], ())
        )

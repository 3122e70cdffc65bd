"""Opening hours: weekly periods in China time (UTC+8), and whether a place is open at a moment.

A period whose closing time is not after its opening time runs past midnight into the next day.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from contracts.vocabulary import Weekday
from pls.deadlines import CHINA

DAYS = [d.value for d in Weekday]
MINUTES_A_WEEK = 7 * 24 * 60

Period = tuple[int, int, int]  # day index (Monday 0), opening minute, closing minute


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def periods(hours: Iterable[Mapping[str, Any]]) -> list[Period]:
    """Sorted, de-duplicated periods from the contract's `opening_hours`."""
    found = {
        (DAYS.index(str(h["day"])), _minutes(str(h["opens"])), _minutes(str(h["closes"])))
        for h in hours
    }
    return sorted(found)


def canonical(hours: Iterable[Mapping[str, Any]]) -> str:
    """One text per distinct weekly schedule, so agencies sharing hours share a schedule row."""
    return ";".join(f"{DAYS[d]} {o:04d}-{c:04d}" for d, o, c in periods(hours))


def parse_canonical(text: str) -> list[Period]:
    result = []
    for part in filter(None, text.split(";")):
        day, span = part.split(" ")
        opens, closes = span.split("-")
        result.append((DAYS.index(day), int(opens), int(closes)))
    return result


def week_minute(moment: datetime) -> int:
    local = moment.astimezone(CHINA)
    return local.weekday() * 1440 + local.hour * 60 + local.minute


def is_open(schedule: Iterable[Period], moment: datetime) -> bool:
    now = week_minute(moment)
    for day, opens, closes in schedule:
        start = day * 1440 + opens
        end = day * 1440 + closes if closes > opens else day * 1440 + 1440 + closes
        for shift in (0, -MINUTES_A_WEEK):  # a Sunday-night period runs into Monday morning
            if start + shift <= now < end + shift:
                return True
    return False


def as_hsds(hours: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """HSDS `schedule` objects: weekly recurrences with opening and closing times."""
    return [
        {
            "freq": "WEEKLY",
            "wkst": "MO",
            "byday": DAYS[d][:2].upper(),
            "opens_at": f"{o // 60:02d}:{o % 60:02d}",
            "closes_at": f"{c // 60:02d}:{c % 60:02d}",
            "timezone": 8,
            "description": f"{Weekday(DAYS[d]).label} {o // 60:02d}:{o % 60:02d}-{c // 60:02d}:{c % 60:02d}",
        }
        for d, o, c in periods(hours)
    ]

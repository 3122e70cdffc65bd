"""Deadline rules and the calendar they count in: calendar days or China's working days.

Rules live in a YAML file (`PLS_DEADLINE_RULES`, default `pls/data/deadline_rules.yaml`), each
naming the article it comes from; whether a rule counts calendar or working days is its setting.
Working days follow the State Council's holiday arrangements, adjusted working weekends included,
from the `chinese-calendar` package; for years it does not yet cover, Monday to Friday apply and
`extra_holidays` / `extra_workdays` can be configured.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any, Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field

CHINA = timezone(timedelta(hours=8), "CST")
DEFAULT_RULES = Path(__file__).parent / "data" / "deadline_rules.yaml"


class DayCount(StrEnum):
    CALENDAR = "calendar"
    WORKING = "working"


class Milestone(StrEnum):
    OPENED = "opened"
    DECIDED = "decided"
    ACCEPTED = "accepted"
    ASSIGNED = "assigned"
    CONCLUDED = "concluded"


class Period(Protocol):
    """What `due_at` needs of a rule: how many days, counted how."""

    @property
    def days(self) -> int: ...

    @property
    def count(self) -> DayCount: ...

    @property
    def extends_past_holidays(self) -> bool: ...


class RuleOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")
    days: int | None = Field(default=None, ge=1)
    count: DayCount | None = None
    basis: str | None = None


class DeadlineRule(BaseModel):
    """One supervised period, e.g. a legal aid decision within 7 days of the application."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    service_type: str
    starts: Milestone
    ends: Milestone
    days: int = Field(ge=1)
    count: DayCount
    basis: str
    certainty: str = "statute"
    extends_past_holidays: bool = True
    provinces: dict[str, RuleOverride] = Field(default_factory=dict)

    def for_province(self, province: str) -> DeadlineRule:
        override = self.provinces.get(province)
        if override is None:
            return self
        changes = {k: v for k, v in override.model_dump().items() if v is not None}
        return self.model_copy(update=changes)


class WorkingCalendar:
    """China's working days: weekends and public holidays off, adjusted working weekends on."""

    def __init__(
        self, extra_holidays: Iterable[date] = (), extra_workdays: Iterable[date] = ()
    ) -> None:
        self.extra_holidays = set(extra_holidays)
        self.extra_workdays = set(extra_workdays)

    @cache  # noqa: B019 - one calendar per process, days are few
    def is_working_day(self, day: date) -> bool:
        if day in self.extra_workdays:
            return True
        if day in self.extra_holidays:
            return False
        import chinese_calendar

        try:
            return bool(chinese_calendar.is_workday(day))
        except NotImplementedError:
            return day.weekday() < 5

    def add_working_days(self, start: date, days: int) -> date:
        """The date `days` working days after `start` (the day of the event itself does not count)."""
        current = start
        remaining = days
        while remaining > 0:
            current += timedelta(days=1)
            if self.is_working_day(current):
                remaining -= 1
        return current

    def working_days_between(self, first: date, last: date) -> int:
        """Working days after `first` up to and including `last` (0 when `last` <= `first`)."""
        count, day = 0, first
        while day < last:
            day += timedelta(days=1)
            if self.is_working_day(day):
                count += 1
        return count

    def next_working_day(self, day: date) -> date:
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day


def local_date(moment: datetime) -> date:
    return moment.astimezone(CHINA).date()


def end_of_day(day: date) -> datetime:
    """24:00 China time at the end of `day`, in UTC."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=CHINA).astimezone(UTC)


def due_at(rule: Period, start: datetime, calendar: WorkingCalendar) -> datetime:
    """When a period that started at `start` runs out (the end of its last day, China time)."""
    first = local_date(start)
    if rule.count is DayCount.WORKING:
        last = calendar.add_working_days(first, rule.days)
    else:
        last = first + timedelta(days=rule.days)
        if rule.extends_past_holidays:
            last = calendar.next_working_day(last)
    return end_of_day(last)


@dataclass(frozen=True)
class RuleBook:
    """The rules, looked up by service and milestone for every case event: each answer is
    worked out once (a rule book does not change once loaded)."""

    rules: tuple[DeadlineRule, ...]
    _found: dict[tuple[Any, ...], tuple[DeadlineRule, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def _chosen(
        self, key: tuple[Any, ...], province: str | None, chosen: Callable[[DeadlineRule], bool]
    ) -> tuple[DeadlineRule, ...]:
        """The rules `chosen` picks, with `province`'s overrides where one is named, worked out
        once per `key`."""
        found = self._found.get(key)
        if found is None:
            found = self._found[key] = tuple(
                rule if province is None else rule.for_province(province)
                for rule in self.rules
                if chosen(rule)
            )
        return found

    def starting_at(
        self, service_type: str, milestone: Milestone, province: str
    ) -> tuple[DeadlineRule, ...]:
        return self._chosen(
            ("starts", service_type, milestone, province),
            province,
            lambda rule: rule.service_type == service_type and rule.starts is milestone,
        )

    def ending_at(self, service_type: str, milestone: Milestone) -> tuple[DeadlineRule, ...]:
        return self._chosen(
            ("ends", service_type, milestone),
            None,
            lambda rule: rule.service_type == service_type and rule.ends is milestone,
        )

    def restarting(
        self, service_type: str, reached: frozenset[Milestone], province: str
    ) -> tuple[DeadlineRule, ...]:
        """The rules that run again for a case reopened with `reached` behind it: those that
        start at a milestone it has reached and end at one it must reach again."""
        return self._chosen(
            ("restarts", service_type, reached, province),
            province,
            lambda rule: (
                rule.service_type == service_type
                and rule.starts in reached
                and rule.ends not in reached
            ),
        )

    def by_id(self, rule_id: str) -> DeadlineRule | None:
        return next((r for r in self.rules if r.id == rule_id), None)


def load_rules(path: str | Path | None = None) -> RuleBook:
    source = Path(path or os.environ.get("PLS_DEADLINE_RULES") or DEFAULT_RULES)
    raw: Any = yaml.safe_load(source.read_text(encoding="utf-8"))
    return RuleBook(rules=tuple(DeadlineRule.model_validate(item) for item in raw))

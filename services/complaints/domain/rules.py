"""Supervision rules: how long each phase of handling a complaint, and a callback, may take.

Each rule names its phase, its length and whether it counts working or calendar days, where it
comes from and how certain that is; it can be narrowed to complaint categories and service types
and overridden per province. The most specific rule that matches a complaint applies.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from contracts.vocabulary import SupervisionPhase
from pls.clock import Timeline
from pls.deadlines import DayCount, WorkingCalendar, due_at, end_of_day, local_date

_INSTANT = timedelta(microseconds=1)  # due times are the end of a day: step back into it


class RuleOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")
    days: int | None = Field(default=None, ge=1)
    count: DayCount | None = None
    escalate_after: int | None = Field(default=None, ge=1)
    basis: str | None = None
    certainty: str | None = None


class SupervisionRule(BaseModel):
    """One supervised period, e.g. a decision on accepting a complaint within 5 working days."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    phase: SupervisionPhase
    days: int = Field(ge=1)
    count: DayCount
    basis: str
    certainty: str = Field(pattern=r"^(statute|rule|practice|default)$")
    categories: tuple[str, ...] = ()
    service_types: tuple[str, ...] = ()
    escalate_after: int = Field(
        default=5, ge=1, description="Working days after the due date before the ministry steps in."
    )
    extends_past_holidays: bool = True
    provinces: dict[str, RuleOverride] = Field(default_factory=dict)

    def matches(self, category: str | None, service_type: str | None) -> bool:
        if self.categories and category not in self.categories:
            return False
        return not (self.service_types and service_type not in self.service_types)

    @property
    def specificity(self) -> int:
        return (2 if self.service_types else 0) + (1 if self.categories else 0)

    def for_province(self, province: str) -> SupervisionRule:
        override = self.provinces.get(province)
        if override is None:
            return self
        changes = {k: v for k, v in override.model_dump().items() if v is not None}
        return self.model_copy(update=changes)


class SupervisionRules(BaseModel):
    rules: list[SupervisionRule]

    def for_phase(
        self,
        phase: SupervisionPhase,
        province: str,
        category: str | None = None,
        service_type: str | None = None,
    ) -> SupervisionRule | None:
        """The most specific rule for this phase of this complaint (or callback), if any."""
        candidates = [
            r for r in self.rules if r.phase == phase and r.matches(category, service_type)
        ]
        if not candidates:
            return None
        return max(candidates, key=lambda r: r.specificity).for_province(province)

    def by_id(self, rule_id: str) -> SupervisionRule | None:
        return next((r for r in self.rules if r.id == rule_id), None)


class DeadlineClock:
    """When periods run out, in China's working days, on the (possibly compressed) timeline."""

    def __init__(self, calendar: WorkingCalendar, timeline: Timeline) -> None:
        self.calendar = calendar
        self.timeline = timeline

    def due(self, rule: SupervisionRule, start: datetime) -> datetime:
        return self.timeline.real(due_at(rule, self.timeline.supervised(start), self.calendar))

    def escalation_due(self, rule: SupervisionRule, due: datetime) -> datetime:
        """The end of the `escalate_after`-th working day after the due date."""
        last_day = local_date(self.timeline.supervised(due) - _INSTANT)
        day = self.calendar.add_working_days(last_day, rule.escalate_after)
        return self.timeline.real(end_of_day(day))

    def days_overdue(self, due: datetime, now: datetime) -> float:
        return max(0.0, self.timeline.days_between(due, now))

    def working_days_overdue(self, due: datetime, now: datetime) -> int:
        """Whole working days that have passed since the due date."""
        if now <= due:
            return 0
        last_day = local_date(self.timeline.supervised(due) - _INSTANT)
        yesterday = local_date(self.timeline.supervised(now)) - timedelta(days=1)
        return self.calendar.working_days_between(last_day, yesterday)

"""National case rows and the figures each change moves.

A case is counted once in the current-state counts (by place, service, channel, status, outcome);
each lifecycle step also adds to the daily flows (opened, concluded, callbacks, ratings, deadlines).
Everything here is plain data and arithmetic, so it can be tested without a database or a bus.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from pls.deadlines import CHINA

FLOW_FIELDS = (
    "opened",
    "concluded",
    "rejected",
    "transferred_out",
    "callbacks",
    "callbacks_dissatisfied",
    "rated",
    "rating_sum",
    "attitude_sum",
    "efficiency_sum",
    "competence_sum",
    "satisfied",
    "deadlines_met",
    "deadlines_late",
    "complaints",
)
SATISFIED_FROM = 4  # ratings of 4 and 5 count as satisfied (满意)


def day_of(moment: datetime) -> str:
    """The calendar day in China on which something happened."""
    return moment.astimezone(CHINA).date().isoformat()


@dataclass
class CaseRow:
    key: str
    origin: str
    prefecture: str
    county: str
    service_type: str
    channel: str
    status: str
    outcome: str | None
    received_at: str
    agency_id: str | None = None
    categories: str = ""
    detained: bool = False

    def count_key(self) -> tuple[str, ...]:
        return (
            self.origin,
            self.prefecture,
            self.county,
            self.service_type,
            self.channel,
            self.status,
            self.outcome or "",
        )


@dataclass
class DeadlineRow:
    case_key: str
    rule_id: str
    origin: str
    prefecture: str
    county: str
    service_type: str
    started_at: str
    due_at: str
    done_at: str | None = None
    met: bool | None = None


@dataclass
class Changes:
    """Everything one batch changes, accumulated in memory and written in one transaction."""

    cases: dict[str, CaseRow] = field(default_factory=dict)
    new_cases: set[str] = field(default_factory=set)
    dirty_cases: set[str] = field(default_factory=set)
    counts: Counter[tuple[str, ...]] = field(default_factory=Counter)
    flows_province: dict[tuple[str, str, str], Counter[str]] = field(default_factory=dict)
    flows_county: dict[tuple[str, str, str, str], Counter[str]] = field(default_factory=dict)
    deadlines: dict[tuple[str, str], DeadlineRow] = field(default_factory=dict)
    dropped_deadlines: set[tuple[str, str]] = field(default_factory=set)
    open_deadlines: Counter[tuple[str, str, str, str, str]] = field(default_factory=Counter)
    agencies: dict[str, dict[str, object]] = field(default_factory=dict)
    dirty_agencies: set[str] = field(default_factory=set)
    agency_counts: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    complaints: dict[str, dict[str, object]] = field(default_factory=dict)
    dirty_complaints: set[str] = field(default_factory=set)
    complaint_counts: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    def move(self, row: CaseRow, **changes: object) -> None:
        """Change a case's counted state: out of its old bucket, into its new one."""
        self.counts[row.count_key()] -= 1
        for name, value in changes.items():
            setattr(row, name, value)
        self.counts[row.count_key()] += 1
        self.dirty_cases.add(row.key)

    def add(self, row: CaseRow) -> None:
        self.cases[row.key] = row
        self.new_cases.add(row.key)
        self.dirty_cases.add(row.key)
        self.counts[row.count_key()] += 1

    def open_deadline(self, deadline: DeadlineRow, n: int) -> None:
        """Count a deadline in (1) or out of (-1) the open ones, by place, service and due time."""
        self.open_deadlines[
            (
                deadline.origin,
                deadline.prefecture,
                deadline.county,
                deadline.service_type,
                deadline.due_at,
            )
        ] += n

    def flow(self, row: CaseRow | DeadlineRow, day: str, **amounts: int) -> None:
        province_key = (row.origin, day, row.service_type)
        province = self.flows_province.get(province_key)
        if province is None:
            province = self.flows_province[province_key] = Counter()
        county_key = (row.origin, row.prefecture, row.county, day)
        county = self.flows_county.get(county_key)
        if county is None:
            county = self.flows_county[county_key] = Counter()
        for name, amount in amounts.items():
            province[name] += amount
            county[name] += amount

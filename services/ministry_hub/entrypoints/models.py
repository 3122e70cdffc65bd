"""Response models of the national query API."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field


class ScopeRead(BaseModel):
    province: str | None = None
    prefecture: str | None = None
    county: str | None = None
    service_type: str | None = None
    channel: str | None = None
    day_from: date | None = Field(default=None, alias="from")
    day_to: date | None = Field(default=None, alias="to")

    model_config = {"populate_by_name": True}


class CaseTotals(BaseModel):
    """Cases by their current state."""

    total: int
    open: int
    by_status: dict[str, int]
    by_service_type: dict[str, int]
    by_channel: dict[str, int]
    by_outcome: dict[str, int]


class Flows(BaseModel):
    """What happened in the period (by the day it happened, China time)."""

    opened: int
    concluded: int
    rejected: int
    transferred_out: int
    callbacks: int
    callbacks_dissatisfied: int


class Satisfaction(BaseModel):
    """Ratings given in the period (满意度评价); 4 and 5 count as satisfied."""

    rated: int
    rating_sum: int
    average_overall: float | None
    average_attitude: float | None
    average_efficiency: float | None
    average_competence: float | None
    satisfied_share: float | None


class Deadlines(BaseModel):
    """Supervised deadlines: met and late by the day the step was done; open ones past due now."""

    met: int
    late: int
    open_overdue: int
    share_met: float | None


class NationalSummary(BaseModel):
    scope: ScopeRead
    cases: CaseTotals
    flows: Flows | None = Field(
        description="Null when the scope filters by channel (or by service below province level): flows are not kept at that grain."
    )
    satisfaction: Satisfaction | None
    deadlines: Deadlines
    as_of: datetime


class AreaRow(BaseModel):
    code: str
    name: str
    total: int = 0
    open: int = 0
    opened: int = 0
    concluded: int = 0
    rated: int = 0
    average_overall: float | None = None
    satisfied_share: float | None = None
    deadlines_met: int = 0
    deadlines_late: int = 0
    open_overdue: int = 0
    deadline_share_met: float | None = None


class ProvinceRow(AreaRow):
    complaints: int = 0
    complaints_per_10k: float | None = None
    agencies: int = 0
    freshness: str = "silent"


class Comparison(BaseModel):
    scope: ScopeRead
    rows: list[ProvinceRow]
    as_of: datetime


class DrillDown(BaseModel):
    scope: ScopeRead
    level: str
    rows: list[AreaRow]
    as_of: datetime


class SeriesPoint(BaseModel):
    day: str
    values: dict[str, int]


class TimeSeries(BaseModel):
    scope: ScopeRead
    metrics: list[str]
    points: list[SeriesPoint]


class NationalCaseRead(BaseModel):
    """One case as the national view counts it: place, service, state; no personal data."""

    province: str
    case_id: str
    prefecture: str
    county: str
    service_type: str
    channel: str
    status: str
    outcome: str | None
    received_at: datetime
    agency_id: str | None
    applicant_categories: list[str]
    detained: bool


class CheckpointRead(BaseModel):
    sequence: int | None
    status: str
    verified_at: str | None


class GapRead(BaseModel):
    expected: int
    first_held: int
    held: int
    seconds: float
    backfill_error: str | None


class JournalCheckRead(BaseModel):
    """What was applied, compared with the province node's journal (its system of record)."""

    status: str = Field(description="complete, behind, diverged, unreachable or unknown")
    reason: str
    head: int | None = Field(description="The last sequence in the province's journal.")
    behind_by: int | None
    verified_through: int | None = Field(
        description="Sequence through which the running hash matched the province's."
    )
    verified_at: str | None
    resyncs: int = Field(description="Times this province was re-applied from its journal.")


class DelayRead(BaseModel):
    """How long the events applied lately took to reach the national view: from each event's
    time at its province (its command stored) to the commit of its batch here."""

    window_seconds: float = Field(
        description="The window: the last minute, or less under a load heavier than it keeps."
    )
    events: int = Field(description="Events applied in the window.")
    p50_seconds: float | None = Field(description="Median delay; null with no events.")
    p90_seconds: float | None
    p99_seconds: float | None
    max_seconds: float | None


class FreshnessRow(BaseModel):
    province: str
    name: str
    status: str = Field(description="complete, behind, silent or diverged")
    reason: str
    sequence: int
    events_applied: int
    last_event_time: str | None
    last_applied_at: str | None
    seconds_since_last_event: float | None
    pending: int | None
    held: int
    gap: GapRead | None
    checkpoint: CheckpointRead
    journal: JournalCheckRead | None = Field(
        default=None, description="The last comparison with the province's own journal."
    )
    duplicates: int
    dead_letters: int
    delay: DelayRead


class Freshness(BaseModel):
    delay: DelayRead = Field(description="Every province's events together.")
    rows: list[FreshnessRow]
    complete: int
    behind: int
    silent: int
    diverged: int
    as_of: datetime


class DeadLetterRead(BaseModel):
    id: int
    received_at: str
    origin: str | None
    subject: str | None
    stream_sequence: int | None
    event_id: str | None
    sequence: int | None
    reason: str
    body: str

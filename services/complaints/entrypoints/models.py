"""Response models of the national supervision API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class OverdueRead(BaseModel):
    """A complaint phase or a callback past its deadline and still open."""

    kind: str = Field(description="complaint or callback")
    province: str
    subject_id: str = Field(description="The complaint id, or the case id of a callback.")
    phase: str
    rule_id: str
    round: int = Field(description="How many times the complaint or case was reopened before.")
    against: str | None
    agency_id: str | None
    category: str | None
    service_type: str | None
    started_at: datetime
    due_at: datetime
    days_overdue: float = Field(description="Calendar days past the due time.")
    working_days_overdue: int
    escalation: str = Field(description="none, province or ministry")
    basis: str | None


class RateRead(BaseModel):
    """How one province or agency handles complaints."""

    province: str
    agency_id: str | None = None
    services: int = Field(description="Cases opened (province) or assigned (agency).")
    complaints: int
    complaints_per_10k: float | None
    deadlines_met: int
    deadlines_late: int
    open_overdue: int
    share_in_time: float | None = Field(description="met / (met + late + open overdue)")
    resolved: int
    median_days_to_resolve: float | None
    upheld: int = Field(description="Resolved as upheld or partly upheld.")
    share_upheld: float | None


class Rates(BaseModel):
    by: str
    rows: list[RateRead]
    as_of: datetime


class CreditEntry(BaseModel):
    """One complaint in an agency's credit record (upheld or partly upheld)."""

    province: str
    complaint_id: str
    against: str
    person_id: str | None
    category: str
    outcome: str | None
    finding: str | None
    received_at: datetime
    resolved_at: datetime | None
    withdrawn: bool = Field(description="A later round of handling no longer upholds it.")


class AgencyCredit(BaseModel):
    agency_id: str
    upheld: int = Field(description="Entries in force (not withdrawn).")
    entries: list[CreditEntry]
    as_of: datetime


class CreditSummaryRead(BaseModel):
    province: str
    agency_id: str
    upheld: int
    last_resolved_at: datetime | None


class DeadlineRead(BaseModel):
    phase: str
    rule_id: str
    round: int
    started_at: str
    due_at: str
    done_at: str | None
    met: bool | None
    escalation: str


class ComplaintSupervisionRead(BaseModel):
    province: str
    complaint_id: str
    against: str
    agency_id: str | None
    category: str
    status: str
    round: int
    received_at: str
    resolved_at: str | None
    outcome: str | None
    finding: str | None
    credit: str
    deadlines: list[DeadlineRead]


class RuleRead(BaseModel):
    id: str
    phase: str
    days: int
    count: str
    escalate_after: int
    categories: list[str]
    service_types: list[str]
    certainty: str
    basis: str
    provinces: dict[str, dict[str, object]]

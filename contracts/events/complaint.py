"""Complaint events: service complaints (服务投诉) raised and handled at a province, and the
ministry's supervision of them (`pls.moj.complaint.*`).

A province publishes one event per step of the handling process, each with the time the step took
effect. `ComplaintStatusChanged` (v1) is the older, generic form: provinces keep publishing it
beside the step events for subscribers that have not moved yet.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field, model_validator

from contracts.events.base import AggregateId, EventData, ProvinceCode, PseudonymousId
from contracts.vocabulary import (
    Channel,
    ComplaintAction,
    ComplaintAgainst,
    ComplaintCategory,
    ComplaintFinding,
    ComplaintNotAcceptedReason,
    ComplaintOutcome,
    ComplaintReopenReason,
    ComplaintStatus,
    EscalationLevel,
    ServiceType,
    SupervisionPhase,
)


class ComplaintEvent(EventData):
    aggregate = "complaint"
    complaint_id: AggregateId


class ComplaintFiled(ComplaintEvent):
    """A citizen complained about an agency, a person or a platform service."""

    event = "filed"
    against: ComplaintAgainst
    agency_id: AggregateId | None = None
    person_id: AggregateId | None = None
    service_type: ServiceType | None = None
    case_id: AggregateId | None = None
    category: ComplaintCategory
    channel: Channel
    received_at: AwareDatetime
    complainant_id: PseudonymousId

    @model_validator(mode="after")
    def _names_its_target(self) -> ComplaintFiled:
        if self.against is ComplaintAgainst.AGENCY and self.agency_id is None:
            raise ValueError("a complaint against an agency names agency_id")
        if self.against is ComplaintAgainst.PERSON and self.person_id is None:
            raise ValueError("a complaint against a person names person_id")
        return self


class ComplaintStatusChanged(ComplaintEvent):
    """The complaint moved to a new status."""

    event = "status_changed"
    status: ComplaintStatus


class ComplaintAccepted(ComplaintEvent):
    """The province took the complaint on (受理)."""

    event = "accepted"
    accepted_at: AwareDatetime


class ComplaintNotAccepted(ComplaintEvent):
    """The province decided not to take the complaint on (不予受理), for a stated reason."""

    event = "not_accepted"
    reason: ComplaintNotAcceptedReason
    decided_at: AwareDatetime


class ComplaintInvestigationStarted(ComplaintEvent):
    """The complaint is being investigated (again, after a reopening)."""

    event = "investigation_started"
    started_at: AwareDatetime


class ComplaintActionTaken(ComplaintEvent):
    """Something was done about the complaint before it was resolved."""

    event = "action_taken"
    action: ComplaintAction
    taken_at: AwareDatetime


class ComplaintResolved(ComplaintEvent):
    """The investigation ended with an outcome and the category of its finding."""

    event = "resolved"
    outcome: ComplaintOutcome
    finding: ComplaintFinding
    resolved_at: AwareDatetime


class ComplaintClosed(ComplaintEvent):
    """The complaint's file was closed."""

    event = "closed"
    closed_at: AwareDatetime


class ComplaintReopened(ComplaintEvent):
    """A resolved, closed or not accepted complaint is handled again."""

    event = "reopened"
    reason: ComplaintReopenReason
    reopened_at: AwareDatetime


# -- published by the ministry's complaints service ---------------------------------------------


class ComplaintUpheld(ComplaintEvent):
    """Published by the ministry's complaints service (`pls.moj.complaint.upheld`): a province found
    a complaint upheld or partly upheld. It is the credit signal the national directory shows."""

    event = "upheld"
    province: ProvinceCode
    against: ComplaintAgainst
    agency_id: AggregateId | None = None
    person_id: AggregateId | None = None
    category: ComplaintCategory
    outcome: Literal["upheld", "partly_upheld"]
    resolved_at: AwareDatetime
    finding: ComplaintFinding | None = Field(
        default=None, description="The category of the finding (absent from older producers)."
    )
    service_type: ServiceType | None = None


class ComplaintUpholdingWithdrawn(ComplaintEvent):
    """Published by the ministry's complaints service: a complaint published as upheld was handled
    again and is no longer upheld, so it leaves the agency's credit record."""

    event = "upholding_withdrawn"
    province: ProvinceCode
    agency_id: AggregateId | None = None
    person_id: AggregateId | None = None
    withdrawn_at: AwareDatetime


class ComplaintDeadlineMissed(ComplaintEvent):
    """Published by the ministry's complaints service: a province let a supervised period of a
    complaint's handling run out (counted in working days or calendar days as its rule says)."""

    event = "deadline_missed"
    province: ProvinceCode
    rule_id: str
    phase: SupervisionPhase
    started_at: AwareDatetime
    due_at: AwareDatetime
    against: ComplaintAgainst
    agency_id: AggregateId | None = None
    category: ComplaintCategory


class ComplaintEscalated(ComplaintEvent):
    """Published by the ministry's complaints service: an overdue complaint was escalated for
    supervision (督办), first to the provincial justice department, then to the ministry."""

    event = "escalated"
    province: ProvinceCode
    rule_id: str
    phase: SupervisionPhase
    level: EscalationLevel
    due_at: AwareDatetime
    escalated_at: AwareDatetime
    agency_id: AggregateId | None = None
    category: ComplaintCategory


class CaseCallbackMissed(EventData):
    """Published by the ministry's complaints service (`pls.moj.case.callback_missed`): a
    dissatisfied rating (1 or 2) was not followed by a callback (回访) in time."""

    aggregate = "case"
    event = "callback_missed"
    case_id: AggregateId
    province: ProvinceCode
    rule_id: str
    rated_at: AwareDatetime
    due_at: AwareDatetime
    agency_id: AggregateId | None = None
    service_type: ServiceType | None = None
    applicant_id: PseudonymousId | None = None

"""Complaint events: service complaints (服务投诉) raised at a province."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, model_validator

from contracts.events.base import AggregateId, EventData, ProvinceCode, PseudonymousId
from contracts.vocabulary import (
    Channel,
    ComplaintAgainst,
    ComplaintCategory,
    ComplaintStatus,
    ServiceType,
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

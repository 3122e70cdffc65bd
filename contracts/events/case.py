"""Case events: every 3+X service request, from any channel, through its lifecycle."""

from __future__ import annotations

from pydantic import AwareDatetime, Field, model_validator

from contracts.events.base import (
    AggregateId,
    CountyCode,
    EventData,
    ProvinceCode,
    PseudonymousId,
    Score,
)
from contracts.vocabulary import (
    ApplicantCategory,
    CallbackResult,
    Channel,
    Outcome,
    PlatformLevel,
    RejectionReason,
    ReopenReason,
    ServiceType,
)


class CaseEvent(EventData):
    aggregate = "case"
    case_id: AggregateId


class TransferOrigin(EventData):
    """Where a case transferred from another province came from."""

    province: ProvinceCode
    case_id: AggregateId


class CaseOpened(CaseEvent):
    """A request for a public legal service was received."""

    event = "opened"
    service_type: ServiceType
    channel: Channel
    platform_level: PlatformLevel | None = Field(
        default=None, description="For walk-in requests: the level of the physical platform."
    )
    county: CountyCode
    received_at: AwareDatetime
    applicant_id: PseudonymousId = Field(
        description="Keyed hash of the applicant's identity, stable within one province only."
    )
    applicant_categories: list[ApplicantCategory] = Field(default_factory=list)
    detained: bool = Field(
        default=False, description="The applicant is detained (Legal Aid Law Art. 39)."
    )
    transferred_from: TransferOrigin | None = None

    @model_validator(mode="after")
    def _walk_in_has_level(self) -> CaseOpened:
        if self.channel is Channel.WALK_IN and self.platform_level is None:
            raise ValueError("platform_level is required for walk_in requests")
        return self


class CaseAccepted(CaseEvent):
    """The request was taken on (for legal aid: aid was granted)."""

    event = "accepted"


class CaseRejected(CaseEvent):
    """The request was not taken on."""

    event = "rejected"
    reason: RejectionReason


class CaseAssigned(CaseEvent):
    """The case was assigned to an agency, and to a person where there is one."""

    event = "assigned"
    agency_id: AggregateId
    person_id: AggregateId | None = None


class CaseStarted(CaseEvent):
    """The assigned agency started work on the case."""

    event = "started"


class CaseTransferred(CaseEvent):
    """The case moved to another agency, or out of this province."""

    event = "transferred"
    to_agency_id: AggregateId | None = None
    to_province: ProvinceCode | None = None

    @model_validator(mode="after")
    def _one_destination(self) -> CaseTransferred:
        if (self.to_agency_id is None) == (self.to_province is None):
            raise ValueError("exactly one of to_agency_id and to_province is required")
        return self


class CaseConcluded(CaseEvent):
    """Work on the case ended with an outcome."""

    event = "concluded"
    outcome: Outcome


class CaseCallbackDone(CaseEvent):
    """The platform called the applicant back (回访)."""

    event = "callback_done"
    result: CallbackResult


class CaseRated(CaseEvent):
    """The applicant rated the service (满意度评价)."""

    event = "rated"
    overall: Score
    attitude: Score
    efficiency: Score
    competence: Score


class CaseReopened(CaseEvent):
    """A concluded or rejected case was opened again."""

    event = "reopened"
    reason: ReopenReason

"""A case: one request for a public legal service, from any channel, through its whole lifecycle.

received → accepted (or rejected with a reason) → assigned → in progress → concluded (with an
outcome) → callback done / rated; transfers move it to another agency, or out of the province.
Consultations and legal publicity can be concluded on the spot, straight from received.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from contracts.vocabulary import CaseStatus, ServiceType
from services.province_node.domain.base import NodeAggregate
from services.province_node.domain.errors import (
    CallbackAlreadyDone,
    CaseAlreadyConcluded,
    CaseAlreadyRated,
    CaseAlreadyRejected,
    CaseNotConcluded,
    CaseTransferredOut,
    TransitionNotAllowed,
)

S = CaseStatus
ANSWERED_ON_THE_SPOT = {ServiceType.CONSULTATION.value, ServiceType.LEGAL_PUBLICITY.value}
OPEN_WORK = {S.ACCEPTED, S.ASSIGNED, S.IN_PROGRESS}
CLOSED = {S.CONCLUDED, S.CALLBACK_DONE, S.RATED}


@dataclass(frozen=True)
class Applicant:
    """Personal data of the applicant. It is kept in the province's event store and never published."""

    name: str | None = None
    phone: str | None = None
    id_number: str | None = None
    address: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {
            "name": self.name,
            "phone": self.phone,
            "id_number": self.id_number,
            "address": self.address,
        }


class Case(NodeAggregate):
    """A 3+X service request and everything done about it."""

    class Opened(NodeAggregate.Created):
        province: str
        service_type: str
        channel: str
        platform_level: str | None
        county: str
        received_at: datetime
        applicant: dict[str, Any]
        applicant_id: str
        applicant_categories: list[str]
        detained: bool
        transferred_from: dict[str, str] | None
        summary: str | None
        request_fingerprint: str | None

        def evolve(self, case: Case) -> None:
            case.province = self.province
            case.service_type = self.service_type
            case.channel = self.channel
            case.platform_level = self.platform_level
            case.county = self.county
            case.received_at = self.received_at
            case.applicant = Applicant(**self.applicant)
            case.applicant_id = self.applicant_id
            case.applicant_categories = list(self.applicant_categories)
            case.detained = self.detained
            case.transferred_from = self.transferred_from
            case.summary = self.summary
            case.request_fingerprint = self.request_fingerprint
            case.status = S.RECEIVED
            case.agency_id = None
            case.person_id = None
            case.outcome = None
            case.rejection_reason = None
            case.rating = None
            case.callback_result = None
            case.accepted_at = None
            case.decided_at = None
            case.concluded_at = None

    class Accepted(NodeAggregate.Event):
        def evolve(self, case: Case) -> None:
            case.status = S.ACCEPTED
            case.accepted_at = case.decided_at = self.timestamp

    class Rejected(NodeAggregate.Event):
        reason: str
        note: str | None

        def evolve(self, case: Case) -> None:
            case.status = S.REJECTED
            case.rejection_reason = self.reason
            case.decided_at = self.timestamp

    class Assigned(NodeAggregate.Event):
        agency_id: str
        person_id: str | None

        def evolve(self, case: Case) -> None:
            case.status = S.ASSIGNED
            case.agency_id = self.agency_id
            case.person_id = self.person_id

    class Started(NodeAggregate.Event):
        def evolve(self, case: Case) -> None:
            case.status = S.IN_PROGRESS

    class Transferred(NodeAggregate.Event):
        to_agency_id: str | None
        to_province: str | None
        note: str | None

        def evolve(self, case: Case) -> None:
            if self.to_province is not None:
                case.status = S.TRANSFERRED
            else:
                case.status = S.ASSIGNED
                case.agency_id = self.to_agency_id
                case.person_id = None

    class Concluded(NodeAggregate.Event):
        outcome: str
        note: str | None

        def evolve(self, case: Case) -> None:
            case.status = S.CONCLUDED
            case.outcome = self.outcome
            case.concluded_at = self.timestamp

    class CallbackDone(NodeAggregate.Event):
        result: str
        note: str | None

        def evolve(self, case: Case) -> None:
            case.status = S.CALLBACK_DONE
            case.callback_result = self.result

    class Rated(NodeAggregate.Event):
        overall: int
        attitude: int
        efficiency: int
        competence: int
        comment: str | None

        def evolve(self, case: Case) -> None:
            case.status = S.RATED
            case.rating = {
                "overall": self.overall,
                "attitude": self.attitude,
                "efficiency": self.efficiency,
                "competence": self.competence,
            }

    class Reopened(NodeAggregate.Event):
        reason: str
        note: str | None

        def evolve(self, case: Case) -> None:
            case.status = S.IN_PROGRESS if case.agency_id else S.RECEIVED
            case.outcome = None
            case.rating = None
            case.callback_result = None
            case.rejection_reason = None

    if (
        TYPE_CHECKING
    ):  # state, set by the events above (annotations here would become __init__ args)
        province: str
        service_type: str
        channel: str
        platform_level: str | None
        county: str
        received_at: datetime
        applicant: Applicant
        applicant_id: str
        applicant_categories: list[str]
        detained: bool
        transferred_from: dict[str, str] | None
        summary: str | None
        request_fingerprint: str | None
        status: CaseStatus
        agency_id: str | None
        person_id: str | None
        outcome: str | None
        rejection_reason: str | None
        rating: dict[str, int] | None
        callback_result: str | None
        accepted_at: datetime | None
        decided_at: datetime | None
        concluded_at: datetime | None

    @classmethod
    def open(
        cls,
        *,
        id: UUID,
        province: str,
        service_type: str,
        channel: str,
        platform_level: str | None,
        county: str,
        received_at: datetime,
        applicant: Applicant,
        applicant_id: str,
        applicant_categories: list[str],
        detained: bool = False,
        transferred_from: dict[str, str] | None = None,
        summary: str | None = None,
        request_fingerprint: str | None = None,
    ) -> Case:
        return cls._create(
            cls.Opened,
            id=id,
            province=province,
            service_type=service_type,
            channel=channel,
            platform_level=platform_level,
            county=county,
            received_at=received_at,
            applicant=applicant.as_dict(),
            applicant_id=applicant_id,
            applicant_categories=applicant_categories,
            detained=detained,
            transferred_from=transferred_from,
            summary=summary,
            request_fingerprint=request_fingerprint,
        )

    def _refuse_unless_active(self) -> None:
        if self.status == S.REJECTED:
            raise CaseAlreadyRejected()
        if self.status == S.TRANSFERRED:
            raise CaseTransferredOut()
        if self.status in CLOSED:
            raise CaseAlreadyConcluded()

    def accept(self) -> None:
        self._refuse_unless_active()
        if self.status != S.RECEIVED:
            raise TransitionNotAllowed(
                "only a received request can be accepted; it is already accepted"
            )
        self.trigger_event(self.Accepted)

    def reject(self, reason: str, note: str | None = None) -> None:
        self._refuse_unless_active()
        if self.status != S.RECEIVED:
            raise TransitionNotAllowed(
                "only a received request can be rejected; it was already accepted"
            )
        self.trigger_event(self.Rejected, reason=reason, note=note)

    def assign(self, agency_id: str, person_id: str | None = None) -> None:
        self._refuse_unless_active()
        if self.status == S.RECEIVED:
            raise TransitionNotAllowed("a request must be accepted before it is assigned")
        if self.status != S.ACCEPTED:
            raise TransitionNotAllowed(
                "the case is already assigned; transfer it to change the agency"
            )
        self.trigger_event(self.Assigned, agency_id=agency_id, person_id=person_id)

    def start(self) -> None:
        self._refuse_unless_active()
        if self.status != S.ASSIGNED:
            raise TransitionNotAllowed(
                "work starts on an assigned case that is not yet in progress"
            )
        self.trigger_event(self.Started)

    def transfer_to_agency(self, agency_id: str, note: str | None = None) -> None:
        self._refuse_unless_active()
        if self.status not in OPEN_WORK:
            raise TransitionNotAllowed(
                "a case is accepted before it can be transferred to an agency"
            )
        if agency_id == self.agency_id:
            raise TransitionNotAllowed("the case is already with that agency")
        self.trigger_event(self.Transferred, to_agency_id=agency_id, to_province=None, note=note)

    def transfer_to_province(self, province: str, note: str | None = None) -> None:
        self._refuse_unless_active()
        if province == self.province:
            raise TransitionNotAllowed("a case cannot be transferred to its own province")
        self.trigger_event(self.Transferred, to_agency_id=None, to_province=province, note=note)

    def conclude(self, outcome: str, note: str | None = None) -> None:
        self._refuse_unless_active()
        on_the_spot = self.service_type in ANSWERED_ON_THE_SPOT
        if self.status in (S.RECEIVED, S.ACCEPTED) and not on_the_spot:
            raise TransitionNotAllowed(
                "a case is assigned to an agency before it can be concluded "
                "(only consultations and legal publicity are concluded on the spot)"
            )
        self.trigger_event(self.Concluded, outcome=outcome, note=note)

    def record_callback(self, result: str, note: str | None = None) -> None:
        if self.status not in CLOSED:
            raise CaseNotConcluded()
        if self.callback_result is not None:
            raise CallbackAlreadyDone()
        self.trigger_event(self.CallbackDone, result=result, note=note)

    def rate(
        self,
        overall: int,
        attitude: int,
        efficiency: int,
        competence: int,
        comment: str | None = None,
    ) -> None:
        if self.status not in CLOSED:
            raise CaseNotConcluded()
        if self.rating is not None:
            raise CaseAlreadyRated()
        self.trigger_event(
            self.Rated,
            overall=overall,
            attitude=attitude,
            efficiency=efficiency,
            competence=competence,
            comment=comment,
        )

    def reopen(self, reason: str, note: str | None = None) -> None:
        if self.status == S.TRANSFERRED:
            raise CaseTransferredOut()
        if self.status not in CLOSED and self.status != S.REJECTED:
            raise TransitionNotAllowed("only a concluded or rejected case can be reopened")
        self.trigger_event(self.Reopened, reason=reason, note=note)

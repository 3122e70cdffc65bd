"""Domain events in, contract events out: what leaves the province, with personal data removed.

Free-text notes, the applicant's and complainant's personal data, and request fingerprints stay in
the node; only ids, codes and categories are published.
"""

from __future__ import annotations

from functools import singledispatch
from typing import Any

from contracts.events import agency as ae
from contracts.events import case as ce
from contracts.events import complaint as cpe
from contracts.events.base import EventData
from services.province_node.domain.agency import Agency
from services.province_node.domain.case import Case
from services.province_node.domain.complaint import Complaint


@singledispatch
def to_contract(event: Any) -> EventData | None:
    """The integration event for a domain event, or None when nothing is published for it."""
    return None


@singledispatch
def kept_for_older_subscribers(event: Any) -> list[EventData]:
    """Events of an older contract still published beside the current one, for a while."""
    return []


def published_events(event: Any) -> list[EventData]:
    """Everything a domain event publishes, in journal order: its contract event first."""
    primary = to_contract(event)
    if primary is None:
        return []
    return [primary, *kept_for_older_subscribers(event)]


def _id(event: Any) -> str:
    return str(event.originator_id)


@to_contract.register
def _(event: Case.Opened) -> EventData:
    return ce.CaseOpened(
        case_id=_id(event),
        service_type=event.service_type,
        channel=event.channel,
        platform_level=event.platform_level,
        county=event.county,
        received_at=event.received_at,
        applicant_id=event.applicant_id,
        applicant_categories=event.applicant_categories,
        detained=event.detained,
        transferred_from=event.transferred_from,
    )


@to_contract.register
def _(event: Case.Accepted) -> EventData:
    return ce.CaseAccepted(case_id=_id(event))


@to_contract.register
def _(event: Case.Rejected) -> EventData:
    return ce.CaseRejected(case_id=_id(event), reason=event.reason)


@to_contract.register
def _(event: Case.Assigned) -> EventData:
    return ce.CaseAssigned(case_id=_id(event), agency_id=event.agency_id, person_id=event.person_id)


@to_contract.register
def _(event: Case.Started) -> EventData:
    return ce.CaseStarted(case_id=_id(event))


@to_contract.register
def _(event: Case.Transferred) -> EventData:
    return ce.CaseTransferred(
        case_id=_id(event), to_agency_id=event.to_agency_id, to_province=event.to_province
    )


@to_contract.register
def _(event: Case.Concluded) -> EventData:
    return ce.CaseConcluded(case_id=_id(event), outcome=event.outcome)


@to_contract.register
def _(event: Case.CallbackDone) -> EventData:
    return ce.CaseCallbackDone(case_id=_id(event), result=event.result)


@to_contract.register
def _(event: Case.Rated) -> EventData:
    return ce.CaseRated(
        case_id=_id(event),
        overall=event.overall,
        attitude=event.attitude,
        efficiency=event.efficiency,
        competence=event.competence,
    )


@to_contract.register
def _(event: Case.Reopened) -> EventData:
    return ce.CaseReopened(case_id=_id(event), reason=event.reason)


@to_contract.register
def _(event: Agency.Registered) -> EventData:
    return ae.AgencyRegistered(
        agency_id=_id(event), registered_at=event.registered_at, **event.profile
    )


@to_contract.register
def _(event: Agency.Updated) -> EventData:
    return ae.AgencyUpdated(agency_id=_id(event), **event.profile)


@to_contract.register
def _(event: Agency.LicenceSuspended) -> EventData:
    return ae.AgencyLicenceSuspended(
        agency_id=_id(event),
        action=event.action,
        effective_at=event.effective_at,
        until=event.until,
    )


@to_contract.register
def _(event: Agency.LicenceRevoked) -> EventData:
    return ae.AgencyLicenceRevoked(
        agency_id=_id(event), action=event.action, effective_at=event.effective_at
    )


@to_contract.register
def _(event: Agency.LicenceRestored) -> EventData:
    return ae.AgencyLicenceRestored(
        agency_id=_id(event), action=event.action, effective_at=event.effective_at
    )


@to_contract.register
def _(event: Agency.Closed) -> EventData:
    return ae.AgencyClosed(agency_id=_id(event), closed_at=event.closed_at)


@to_contract.register
def _(event: Agency.PersonnelJoined) -> EventData:
    return ae.AgencyPersonnelJoined(
        agency_id=_id(event),
        person_id=event.person_id,
        name=event.name,
        role=event.role,
        licence_number=event.licence_number,
    )


@to_contract.register
def _(event: Agency.PersonnelLeft) -> EventData:
    return ae.AgencyPersonnelLeft(agency_id=_id(event), person_id=event.person_id)


@to_contract.register
def _(event: Complaint.Filed) -> EventData:
    return cpe.ComplaintFiled(
        complaint_id=_id(event),
        against=event.against,
        agency_id=event.agency_id,
        person_id=event.person_id,
        service_type=event.service_type,
        case_id=event.case_id,
        category=event.category,
        channel=event.channel,
        received_at=event.received_at,
        complainant_id=event.complainant_id,
    )


@to_contract.register
def _(event: Complaint.StatusChanged) -> EventData:
    return cpe.ComplaintStatusChanged(complaint_id=_id(event), status=event.status)


@to_contract.register
def _(event: Complaint.Accepted) -> EventData:
    return cpe.ComplaintAccepted(complaint_id=_id(event), accepted_at=event.at)


@to_contract.register
def _(event: Complaint.NotAccepted) -> EventData:
    return cpe.ComplaintNotAccepted(
        complaint_id=_id(event), reason=event.reason, decided_at=event.at
    )


@to_contract.register
def _(event: Complaint.InvestigationStarted) -> EventData:
    return cpe.ComplaintInvestigationStarted(complaint_id=_id(event), started_at=event.at)


@to_contract.register
def _(event: Complaint.ActionTaken) -> EventData:
    return cpe.ComplaintActionTaken(complaint_id=_id(event), action=event.action, taken_at=event.at)


@to_contract.register
def _(event: Complaint.Resolved) -> EventData:
    # The finding's text stays here: only its category leaves the province.
    return cpe.ComplaintResolved(
        complaint_id=_id(event), outcome=event.outcome, finding=event.finding, resolved_at=event.at
    )


@to_contract.register
def _(event: Complaint.Closed) -> EventData:
    return cpe.ComplaintClosed(complaint_id=_id(event), closed_at=event.at)


@to_contract.register
def _(event: Complaint.Reopened) -> EventData:
    return cpe.ComplaintReopened(complaint_id=_id(event), reason=event.reason, reopened_at=event.at)


@kept_for_older_subscribers.register
def _(event: Complaint.Step) -> list[EventData]:
    # complaint.status_changed v1 subscribers keep receiving every step while they move over.
    return [cpe.ComplaintStatusChanged(complaint_id=_id(event), status=event.status)]

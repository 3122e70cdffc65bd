"""Sample data for the unit suite: a province node on in-memory persistence, citizens, agencies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from contracts.envelope import ZERO_HASH, build_event, canonical_bytes, chain_hash
from contracts.events import agency as ae
from contracts.events import case as ce
from contracts.events import complaint as cpe
from contracts.events.base import EventData
from contracts.events.checkpoint import CheckpointPublished
from services.province_node.application.node import ProvinceNode
from services.province_node.domain.case import Applicant, Case

PROVINCE = "440000"
COUNTY = "440106"  # 天河区, 广州市
RECEIVED = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # Monday 10:00 China time, no holiday near

LAW_FIRM: dict[str, Any] = {
    "agency_type": "law_firm",
    "name": "广东天河律师事务所",
    "licence_number": "14401200010000001",
    "county": COUNTY,
    "address": "广州市天河区天河路 1 号",
    "services": ["lawyer", "legal_aid"],
}


def make_node(province: str = PROVINCE, secret: bytes = b"guangdong-secret") -> ProvinceNode:
    return ProvinceNode(province, secret, env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


# A citizen whose personal data must never leave the province.
CITIZEN = Applicant(
    name="张三丰",
    phone="13912345678",
    id_number="44010619900101123X",
    address="广州市天河区体育西路 100 号",
)


def case_fields(service_type: str = "legal_aid", **fields: Any) -> dict[str, Any]:
    """The arguments of `ProvinceNode.open_case` for a sample case, with `fields` changed."""
    values: dict[str, Any] = {
        "service_type": service_type,
        "channel": "hotline_12348",
        "platform_level": None,
        "county": COUNTY,
        "applicant": Applicant(name="李四", phone="13800138000"),
        "applicant_categories": ["low_income"],
        "received_at": RECEIVED,
    }
    return values | fields


def open_case(node: ProvinceNode, service_type: str = "legal_aid", **fields: Any) -> Case:
    case, created = node.open_case(**case_fields(service_type, **fields))
    assert created
    return case


def register_agency(node: ProvinceNode, **profile: Any) -> UUID:
    agency, _ = node.register_agency(profile={**LAW_FIRM, **profile})
    return agency.id


# -- contract events -------------------------------------------------------------------------

CASE_ID = "0d9f3c1e-6a4b-4a57-9a0e-3b9c7f1d2e01"
AGENCY_ID = "6b1f0c9a-2e3d-4c5b-8a7f-9e0d1c2b3a40"
PSEUDONYM = "5f2b9c0d1e3a4b6c7d8e9f0a1b2c3d4e"
AT = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def contract_samples() -> list[EventData]:
    """One valid payload of every integration event type."""
    return [
        ce.CaseOpened(
            case_id=CASE_ID,
            service_type="legal_aid",
            channel="walk_in",
            platform_level="township_station",
            county=COUNTY,
            received_at=AT,
            applicant_id=PSEUDONYM,
            applicant_categories=["elderly", "disabled"],
            detained=True,
            transferred_from={"province": "110000", "case_id": "bj-1"},
        ),
        ce.CaseAccepted(case_id=CASE_ID),
        ce.CaseRejected(case_id=CASE_ID, reason="not_eligible_financial"),
        ce.CaseAssigned(case_id=CASE_ID, agency_id=AGENCY_ID, person_id="lawyer-1"),
        ce.CaseStarted(case_id=CASE_ID),
        ce.CaseTransferred(case_id=CASE_ID, to_province="110000"),
        ce.CaseConcluded(case_id=CASE_ID, outcome="agreement_reached"),
        ce.CaseCallbackDone(case_id=CASE_ID, result="satisfied"),
        ce.CaseRated(case_id=CASE_ID, overall=5, attitude=4, efficiency=3, competence=5),
        ce.CaseReopened(case_id=CASE_ID, reason="new_facts"),
        ae.AgencyRegistered(
            agency_id=AGENCY_ID,
            registered_at=AT,
            agency_type="notary_office",
            name="天河公证处",
            licence_number="N-1",
            county=COUNTY,
            address="天河路 2 号",
            coordinates={"lat": 23.12, "lon": 113.36},
            services=["notarization"],
            opening_hours=[{"day": "mon", "opens": "09:00", "closes": "17:30"}],
        ),
        ae.AgencyUpdated(
            agency_id=AGENCY_ID,
            agency_type="notary_office",
            name="天河公证处",
            county=COUNTY,
            address="天河路 3 号",
            accessible=True,
        ),
        ae.AgencyLicenceSuspended(
            agency_id=AGENCY_ID,
            action="sanction",
            effective_at=AT,
            until=datetime(2026, 6, 1, tzinfo=UTC),
        ),
        ae.AgencyLicenceRevoked(agency_id=AGENCY_ID, action="court_order", effective_at=AT),
        ae.AgencyLicenceRestored(agency_id=AGENCY_ID, action="review_passed", effective_at=AT),
        ae.AgencyClosed(agency_id=AGENCY_ID, closed_at=AT),
        ae.AgencyPersonnelJoined(
            agency_id=AGENCY_ID,
            person_id="notary-1",
            name="陈公证员",
            role="notary",
            licence_number="GZ-1",
        ),
        ae.AgencyPersonnelLeft(agency_id=AGENCY_ID, person_id="notary-1"),
        cpe.ComplaintFiled(
            complaint_id="cmp-1",
            against="agency",
            agency_id=AGENCY_ID,
            category="fees",
            channel="web",
            received_at=AT,
            complainant_id=PSEUDONYM,
        ),
        cpe.ComplaintStatusChanged(complaint_id="cmp-1", status="investigating"),
        cpe.ComplaintAccepted(complaint_id="cmp-1", accepted_at=AT),
        cpe.ComplaintNotAccepted(complaint_id="cmp-1", reason="duplicate", decided_at=AT),
        cpe.ComplaintInvestigationStarted(complaint_id="cmp-1", started_at=AT),
        cpe.ComplaintActionTaken(complaint_id="cmp-1", action="fee_refunded", taken_at=AT),
        cpe.ComplaintResolved(
            complaint_id="cmp-1", outcome="partly_upheld", finding="improper_fees", resolved_at=AT
        ),
        cpe.ComplaintClosed(complaint_id="cmp-1", closed_at=AT),
        cpe.ComplaintReopened(complaint_id="cmp-1", reason="new_evidence", reopened_at=AT),
        cpe.ComplaintUpheld(
            complaint_id="cmp-1",
            province="440000",
            against="agency",
            agency_id="agency-1",
            category="fees",
            outcome="upheld",
            resolved_at=AT,
        ),
        cpe.ComplaintUpholdingWithdrawn(
            complaint_id="cmp-1", province="440000", agency_id="agency-1", withdrawn_at=AT
        ),
        cpe.ComplaintDeadlineMissed(
            complaint_id="cmp-1",
            province="440000",
            rule_id="complaint_acceptance",
            phase="acceptance",
            started_at=AT,
            due_at=AT,
            against="agency",
            agency_id="agency-1",
            category="fees",
        ),
        cpe.ComplaintEscalated(
            complaint_id="cmp-1",
            province="440000",
            rule_id="complaint_acceptance",
            phase="acceptance",
            level="province",
            due_at=AT,
            escalated_at=AT,
            category="fees",
        ),
        cpe.CaseCallbackMissed(
            case_id=CASE_ID,
            province="440000",
            rule_id="callback_after_dissatisfied_rating",
            rated_at=AT,
            due_at=AT,
            agency_id="agency-1",
            service_type="lawyer",
        ),
        CheckpointPublished(through_sequence=20, running_hash="ab" * 32),
    ]


def subject_of(data: EventData) -> str:
    """The CloudEvents `subject`: the aggregate id the payload is about."""
    for name in ("case_id", "agency_id", "complaint_id"):
        if hasattr(data, name):
            return str(getattr(data, name))
    return PROVINCE


def event_body(
    data: EventData,
    sequence: int,
    *,
    origin: str = PROVINCE,
    time: datetime = AT,
    event_id: str | None = None,
) -> bytes:
    """The canonical bytes a province publishes for `data` at `sequence`."""
    return canonical_bytes(
        build_event(
            data,
            origin=origin,
            service="province-node",
            subject=subject_of(data),
            event_id=event_id or f"{origin}-{sequence}",
            sequence=sequence,
            time=time,
        )
    )


def running_hash(bodies: list[bytes]) -> str:
    """The checkpoint hash chain over `bodies`, from the zero hash."""
    value = ZERO_HASH
    for body in bodies:
        value = chain_hash(value, body)
    return value

"""Domain events out as contract events: the right event, the right codes, no personal data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from contracts.envelope import build_event, canonical_bytes, parse_event
from contracts.events import agency as ae
from contracts.events import case as ce
from contracts.events import complaint as cpe
from contracts.events.base import EventData
from contracts.registry import REGISTRY
from services.province_node.adapters.translation import published_events, to_contract
from services.province_node.application.node import ProvinceNode
from services.province_node.domain.agency import Agency
from services.province_node.domain.base import NodeAggregate
from services.province_node.domain.case import Applicant, Case
from services.province_node.domain.complaint import Complaint
from tests.unit.samples import CITIZEN, COUNTY, LAW_FIRM, PROVINCE, RECEIVED, make_node

EXPECTED: dict[type[Any], type[EventData]] = {
    Case.Opened: ce.CaseOpened,
    Case.Accepted: ce.CaseAccepted,
    Case.Rejected: ce.CaseRejected,
    Case.Assigned: ce.CaseAssigned,
    Case.Started: ce.CaseStarted,
    Case.Transferred: ce.CaseTransferred,
    Case.Concluded: ce.CaseConcluded,
    Case.CallbackDone: ce.CaseCallbackDone,
    Case.Rated: ce.CaseRated,
    Case.Reopened: ce.CaseReopened,
    Agency.Registered: ae.AgencyRegistered,
    Agency.Updated: ae.AgencyUpdated,
    Agency.LicenceSuspended: ae.AgencyLicenceSuspended,
    Agency.LicenceRevoked: ae.AgencyLicenceRevoked,
    Agency.LicenceRestored: ae.AgencyLicenceRestored,
    Agency.Closed: ae.AgencyClosed,
    Agency.PersonnelJoined: ae.AgencyPersonnelJoined,
    Agency.PersonnelLeft: ae.AgencyPersonnelLeft,
    Complaint.Filed: cpe.ComplaintFiled,
    Complaint.StatusChanged: cpe.ComplaintStatusChanged,
    Complaint.Accepted: cpe.ComplaintAccepted,
    Complaint.NotAccepted: cpe.ComplaintNotAccepted,
    Complaint.InvestigationStarted: cpe.ComplaintInvestigationStarted,
    Complaint.ActionTaken: cpe.ComplaintActionTaken,
    Complaint.Resolved: cpe.ComplaintResolved,
    Complaint.Closed: cpe.ComplaintClosed,
    Complaint.Reopened: cpe.ComplaintReopened,
}

COMPLAINANT = Applicant(
    name="赵六",
    phone="13700001111",
    id_number="110101198001010011",
    address="北京市东城区东华门街道 8 号",
)
NOTE = "备注机密内容"
SUMMARY = "案情摘要：房东拖欠押金两万元"
COMMENT = "评价留言：律师很负责"
DESCRIPTION = "投诉内容：收费不透明"
FINDING_TEXT = "调查认定：多收代理费三千元"
FINGERPRINT = "fingerprint-of-the-request-0123456789"
PERSONAL = [
    CITIZEN.name,
    CITIZEN.phone,
    CITIZEN.id_number,
    CITIZEN.address,
    COMPLAINANT.name,
    COMPLAINANT.phone,
    COMPLAINANT.id_number,
    COMPLAINANT.address,
    NOTE,
    SUMMARY,
    COMMENT,
    DESCRIPTION,
    FINDING_TEXT,
    FINGERPRINT,
]
PRIVATE_FIELDS = {
    "applicant",
    "complainant",
    "id_number",
    "note",
    "summary",
    "comment",
    "description",
    "request_fingerprint",
    "finding_text",
}


def events_of(node: ProvinceNode, aggregate_id: Any) -> list[Any]:
    return list(node.repository.event_store.get(aggregate_id))


def a_busy_province() -> tuple[ProvinceNode, list[Any]]:
    """Every kind of domain event, each with personal data and notes where it can carry them."""
    node = make_node()
    agency, _ = node.register_agency(profile=LAW_FIRM)
    other, _ = node.register_agency(profile={**LAW_FIRM, "name": "第二律师事务所"})
    node.update_agency(agency.id, {**LAW_FIRM, "phone": "020-88886666"})
    node.add_person(
        agency.id, person_id="lawyer-1", name="王律师", role="lawyer", licence_number="L-1"
    )

    case, _ = node.open_case(
        idempotency_key="k-1",
        fingerprint=FINGERPRINT,
        applicant=CITIZEN,
        received_at=RECEIVED,
        service_type="legal_aid",
        channel="walk_in",
        platform_level="county_centre",
        county=COUNTY,
        applicant_categories=["migrant_worker"],
        detained=True,
        transferred_from={"province": "110000", "case_id": "bj-42"},
        summary=SUMMARY,
    )
    node.accept_case(case.id)
    node.assign_case(case.id, agency.id, "lawyer-1")
    node.start_case(case.id)
    node.transfer_case_to_agency(case.id, other.id, note=NOTE)
    node.conclude_case(case.id, "representation_completed", note=NOTE)
    node.record_callback(case.id, "dissatisfied", note=NOTE)
    node.rate_case(case.id, overall=2, attitude=3, efficiency=1, competence=4, comment=COMMENT)
    node.reopen_case(case.id, "objection_upheld", note=NOTE)

    rejected, _ = node.open_case(
        applicant=CITIZEN,
        service_type="mediation",
        channel="web",
        platform_level=None,
        county=COUNTY,
        applicant_categories=[],
        summary=SUMMARY,
    )
    node.reject_case(rejected.id, "outside_scope", note=NOTE)
    moved, _ = node.open_case(
        applicant=CITIZEN,
        service_type="lawyer",
        channel="wechat",
        platform_level=None,
        county=COUNTY,
        applicant_categories=[],
    )
    node.transfer_case_to_province(moved.id, "110000", note=NOTE)

    node.suspend_licence(agency.id, "sanction", datetime(2026, 12, 31, tzinfo=UTC), note=NOTE)
    node.restore_licence(agency.id, "sanction_ended", note=NOTE)
    node.revoke_licence(agency.id, "court_order", note=NOTE)
    node.remove_person(agency.id, "lawyer-1")
    node.close_agency(other.id)

    complaint, _ = node.file_complaint(
        complainant=COMPLAINANT,
        agency_id=agency.id,
        person_id=None,
        against="agency",
        category="fees",
        channel="hotline_12348",
        service_type="lawyer",
        case_id=str(case.id),
        description=DESCRIPTION,
    )
    node.change_complaint_status(complaint.id, "accepted", note=NOTE)
    node.change_complaint_status(complaint.id, "investigating", note=NOTE)
    node.change_complaint_status(complaint.id, "action_taken", action="fee_refunded", note=NOTE)
    node.change_complaint_status(
        complaint.id,
        "resolved",
        outcome="partly_upheld",
        finding="improper_fees",
        finding_text=FINDING_TEXT,
        note=NOTE,
    )
    node.change_complaint_status(complaint.id, "closed", note=NOTE)
    node.change_complaint_status(complaint.id, "reopened", reason="new_evidence", note=NOTE)
    # A generic status change as earlier versions recorded it; replays still read it.
    legacy = node.get_complaint(complaint.id)
    legacy.trigger_event(Complaint.StatusChanged, status="investigating", note=NOTE)
    node.save(legacy)
    declined, _ = node.file_complaint(
        complainant=COMPLAINANT,
        against="platform_service",
        category="delay",
        channel="web",
        service_type=None,
        case_id=None,
        description=DESCRIPTION,
    )
    node.change_complaint_status(declined.id, "not_accepted", reason="duplicate", note=NOTE)

    events = []
    for aggregate_id in (
        agency.id,
        other.id,
        case.id,
        rejected.id,
        moved.id,
        complaint.id,
        declined.id,
    ):
        events += events_of(node, aggregate_id)
    return node, events


@pytest.fixture(scope="module")
def province() -> tuple[ProvinceNode, list[Any]]:
    return a_busy_province()


def published(events: list[Any]) -> Iterator[tuple[Any, EventData, bytes]]:
    for sequence, event in enumerate(events, start=1):
        data = to_contract(event)
        assert data is not None, f"{type(event).__qualname__} publishes nothing"
        body = canonical_bytes(
            build_event(
                data,
                origin=PROVINCE,
                service="province-node",
                subject=str(event.originator_id),
                event_id=f"e-{sequence}",
                sequence=sequence,
                time=event.timestamp,
            )
        )
        yield event, data, body


def _domain_event_classes() -> set[type[Any]]:
    found = set()
    for aggregate in (Case, Agency, Complaint):
        for name, value in vars(aggregate).items():
            # eventsourcing gives each aggregate its own `Event` and `Created` base classes;
            # `Step` is the abstract base of the complaint's handling steps.
            if name in ("Event", "Created", "Step"):
                continue
            if isinstance(value, type) and issubclass(value, NodeAggregate.Event):
                found.add(value)
    return found


def test_every_domain_event_has_a_contract_event() -> None:
    assert _domain_event_classes() == set(EXPECTED)


def test_the_scenario_covers_every_domain_event(province: tuple[ProvinceNode, list[Any]]) -> None:
    assert {type(event) for event in province[1]} == set(EXPECTED)


def test_each_domain_event_maps_to_its_contract_event(
    province: tuple[ProvinceNode, list[Any]],
) -> None:
    for event, data, _ in published(province[1]):
        assert type(data) is EXPECTED[type(event)], type(event).__qualname__


def test_every_published_event_is_a_valid_contract_event(
    province: tuple[ProvinceNode, list[Any]],
) -> None:
    for event, data, body in published(province[1]):
        envelope, parsed = parse_event(body)
        assert parsed == data
        assert envelope.subject == str(event.originator_id)
        assert REGISTRY.of(data).name == envelope.type


def test_no_personal_data_leaves_the_province(province: tuple[ProvinceNode, list[Any]]) -> None:
    for event, _, body in published(province[1]):
        text = body.decode("utf-8")
        unescaped = json.dumps(json.loads(body), ensure_ascii=False)
        for secret in PERSONAL:
            assert secret is not None
            assert secret not in text, f"{secret!r} published by {type(event).__qualname__}"
            assert secret not in unescaped


def test_no_citizen_data_fields_are_published(province: tuple[ProvinceNode, list[Any]]) -> None:
    # Agencies' public profiles and practitioners' names are public by law; citizens' are not.
    for event, _, body in published(province[1]):
        data = json.loads(body)["data"]
        assert not PRIVATE_FIELDS & set(data), type(event).__qualname__
        if type(event) not in (Agency.Registered, Agency.Updated, Agency.PersonnelJoined):
            assert not {"name", "phone", "address"} & set(data), type(event).__qualname__


def _by_type(events: list[Any], kind: type[Any]) -> list[EventData]:
    return [to_contract(e) for e in events if type(e) is kind]  # type: ignore[misc]


def test_a_case_opened_event_carries_codes_and_the_pseudonym(
    province: tuple[ProvinceNode, list[Any]],
) -> None:
    node, events = province
    opened = _by_type(events, Case.Opened)[0]
    assert isinstance(opened, ce.CaseOpened)
    assert opened.service_type == "legal_aid"
    assert opened.channel == "walk_in"
    assert opened.platform_level == "county_centre"
    assert opened.county == COUNTY
    assert opened.received_at == RECEIVED
    assert opened.applicant_id == node.pseudonym_for(CITIZEN)
    assert opened.applicant_categories == ["migrant_worker"]
    assert opened.detained is True
    assert opened.transferred_from == ce.TransferOrigin(province="110000", case_id="bj-42")


def test_lifecycle_events_carry_their_outcome_codes(
    province: tuple[ProvinceNode, list[Any]],
) -> None:
    _, events = province
    rejected = _by_type(events, Case.Rejected)[0]
    assert isinstance(rejected, ce.CaseRejected)
    assert rejected.reason == "outside_scope"
    concluded = _by_type(events, Case.Concluded)[0]
    assert isinstance(concluded, ce.CaseConcluded)
    assert concluded.outcome == "representation_completed"
    callback = _by_type(events, Case.CallbackDone)[0]
    assert isinstance(callback, ce.CaseCallbackDone)
    assert callback.result == "dissatisfied"
    rated = _by_type(events, Case.Rated)[0]
    assert isinstance(rated, ce.CaseRated)
    assert (rated.overall, rated.attitude, rated.efficiency, rated.competence) == (2, 3, 1, 4)
    reopened = _by_type(events, Case.Reopened)[0]
    assert isinstance(reopened, ce.CaseReopened)
    assert reopened.reason == "objection_upheld"
    assigned = _by_type(events, Case.Assigned)[0]
    assert isinstance(assigned, ce.CaseAssigned)
    assert assigned.person_id == "lawyer-1"


def test_transfers_name_exactly_one_destination(province: tuple[ProvinceNode, list[Any]]) -> None:
    _, events = province
    to_agency, to_province = _by_type(events, Case.Transferred)
    assert isinstance(to_agency, ce.CaseTransferred)
    assert isinstance(to_province, ce.CaseTransferred)
    assert to_agency.to_agency_id is not None
    assert to_agency.to_province is None
    assert to_province.to_province == "110000"
    assert to_province.to_agency_id is None


def test_agency_events_carry_the_public_profile(province: tuple[ProvinceNode, list[Any]]) -> None:
    _, events = province
    registered = _by_type(events, Agency.Registered)[0]
    assert isinstance(registered, ae.AgencyRegistered)
    assert registered.name == LAW_FIRM["name"]
    assert registered.agency_type == "law_firm"
    assert registered.licence_number == LAW_FIRM["licence_number"]
    updated = _by_type(events, Agency.Updated)[0]
    assert isinstance(updated, ae.AgencyUpdated)
    assert updated.phone == "020-88886666"
    suspended = _by_type(events, Agency.LicenceSuspended)[0]
    assert isinstance(suspended, ae.AgencyLicenceSuspended)
    assert suspended.action == "sanction"
    assert suspended.until == datetime(2026, 12, 31, tzinfo=UTC)
    joined = _by_type(events, Agency.PersonnelJoined)[0]
    assert isinstance(joined, ae.AgencyPersonnelJoined)
    assert (joined.person_id, joined.name, joined.role) == ("lawyer-1", "王律师", "lawyer")


def test_complaint_events_carry_codes_and_the_pseudonym(
    province: tuple[ProvinceNode, list[Any]],
) -> None:
    node, events = province
    filed = _by_type(events, Complaint.Filed)[0]
    assert isinstance(filed, cpe.ComplaintFiled)
    assert filed.complainant_id == node.pseudonym_for(COMPLAINANT)
    assert (filed.against, filed.category, filed.channel) == ("agency", "fees", "hotline_12348")
    assert filed.agency_id is not None
    accepted = _by_type(events, Complaint.Accepted)[0]
    assert isinstance(accepted, cpe.ComplaintAccepted)
    legacy = _by_type(events, Complaint.StatusChanged)[0]
    assert isinstance(legacy, cpe.ComplaintStatusChanged)
    assert legacy.status == "investigating"


def test_anything_else_publishes_nothing() -> None:
    assert to_contract(object()) is None


def test_each_complaint_step_also_publishes_the_older_status_change(
    province: tuple[ProvinceNode, list[Any]],
) -> None:
    _, events = province
    for event in events:
        if isinstance(event, Complaint.Step):
            first, beside = published_events(event)
            assert type(first) is EXPECTED[type(event)]
            assert isinstance(beside, cpe.ComplaintStatusChanged)
            assert beside.status == event.status
        elif not isinstance(event, Complaint.Filed):
            assert len(published_events(event)) == 1


def test_a_resolution_publishes_its_outcome_and_the_category_of_its_finding(
    province: tuple[ProvinceNode, list[Any]],
) -> None:
    resolved = _by_type(province[1], Complaint.Resolved)[0]
    assert isinstance(resolved, cpe.ComplaintResolved)
    assert (resolved.outcome, resolved.finding) == ("partly_upheld", "improper_fees")
    declined = _by_type(province[1], Complaint.NotAccepted)[0]
    assert isinstance(declined, cpe.ComplaintNotAccepted)
    assert declined.reason == "duplicate"

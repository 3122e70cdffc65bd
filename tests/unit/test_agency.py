"""Agencies: registration, profile, licence standing, closure and personnel."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from contracts.vocabulary import LicenceStatus
from services.province_node.application.node import NotFound, ProvinceNode
from services.province_node.domain.case import Applicant
from services.province_node.domain.context import CommandContext, acting
from services.province_node.domain.errors import (
    AgencyClosed,
    AgencyNotLicensed,
    LicenceAlreadyRevoked,
    LicenceNotActive,
    LicenceNotSuspended,
    PersonAlreadyAtAgency,
    PersonNotAtAgency,
    ReferenceNotFound,
)
from tests.unit.samples import LAW_FIRM, PROVINCE, open_case, register_agency

LICENSED = [
    "law_firm",
    "notary_office",
    "judicial_appraisal_institution",
    "basic_legal_service_office",
    "arbitration_commission",
]
NOT_LICENSED = [
    "legal_aid_centre",
    "mediation_committee",
    "pls_centre",
    "pls_station",
    "pls_room",
    "village_legal_adviser",
]
UNTIL = datetime(2026, 9, 1, tzinfo=UTC)


def test_a_registered_agency_is_active_with_no_staff(node: ProvinceNode) -> None:
    registered_at = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
    agency, created = node.register_agency(profile=LAW_FIRM, registered_at=registered_at)
    assert created
    loaded = node.get_agency(agency.id)
    assert loaded.province == PROVINCE
    assert loaded.profile == LAW_FIRM
    assert loaded.registered_at == registered_at
    assert loaded.licence_status == LicenceStatus.ACTIVE
    assert not loaded.is_closed
    assert loaded.personnel == {}


def test_a_retried_registration_returns_the_same_agency(node: ProvinceNode) -> None:
    first, created = node.register_agency(idempotency_key="reg-1", profile=LAW_FIRM)
    again, created_again = node.register_agency(idempotency_key="reg-1", profile=LAW_FIRM)
    assert (created, created_again) == (True, False)
    assert again.id == first.id
    assert node.get_agency(first.id).version == 1


def test_an_update_replaces_the_profile(node: ProvinceNode) -> None:
    agency_id = register_agency(node)
    profile = {**LAW_FIRM, "name": "广东天河新律师事务所", "phone": "020-12345678"}
    updated = node.update_agency(agency_id, profile)
    assert updated.profile == profile
    assert node.get_agency(agency_id).profile["name"] == "广东天河新律师事务所"
    assert node.get_agency(agency_id).version == 2


def test_an_update_that_changes_nothing_records_nothing(node: ProvinceNode) -> None:
    agency_id = register_agency(node)
    node.update_agency(agency_id, dict(LAW_FIRM))
    assert node.get_agency(agency_id).version == 1


def test_an_unknown_agency_is_not_found(node: ProvinceNode) -> None:
    with pytest.raises(NotFound):
        node.get_agency(uuid4())
    with pytest.raises(NotFound):
        node.update_agency(uuid4(), LAW_FIRM)


def test_a_case_id_is_not_an_agency(node: ProvinceNode) -> None:
    case = open_case(node)
    with pytest.raises(NotFound):
        node.get_agency(case.id)


# -- licence ---------------------------------------------------------------------------------


@pytest.mark.parametrize("agency_type", LICENSED)
def test_a_licence_is_suspended_and_restored(node: ProvinceNode, agency_type: str) -> None:
    agency_id = register_agency(node, agency_type=agency_type)
    suspended = node.suspend_licence(agency_id, "sanction", UNTIL, note="违规收费")
    assert suspended.licence_status == LicenceStatus.SUSPENDED
    restored = node.restore_licence(agency_id, "sanction_ended")
    assert restored.licence_status == LicenceStatus.ACTIVE
    assert node.get_agency(agency_id).licence_status == LicenceStatus.ACTIVE


def test_only_an_active_licence_is_suspended(node: ProvinceNode) -> None:
    agency_id = register_agency(node)
    node.suspend_licence(agency_id, "sanction", UNTIL)
    with pytest.raises(LicenceNotActive) as refusal:
        node.suspend_licence(agency_id, "sanction", UNTIL)
    assert refusal.value.rule
    assert node.get_agency(agency_id).version == 2


def test_only_a_suspended_licence_is_restored(node: ProvinceNode) -> None:
    agency_id = register_agency(node)
    with pytest.raises(LicenceNotSuspended) as refusal:
        node.restore_licence(agency_id, "review_passed")
    assert refusal.value.rule
    assert node.get_agency(agency_id).licence_status == LicenceStatus.ACTIVE


@pytest.mark.parametrize("suspended_first", [False, True])
def test_a_revocation_is_final(node: ProvinceNode, suspended_first: bool) -> None:
    agency_id = register_agency(node)
    if suspended_first:
        node.suspend_licence(agency_id, "sanction", None)
    revoked = node.revoke_licence(agency_id, "court_order")
    assert revoked.licence_status == LicenceStatus.REVOKED
    version = node.get_agency(agency_id).version

    for attempt in (
        lambda: node.restore_licence(agency_id, "review_passed"),
        lambda: node.suspend_licence(agency_id, "sanction", UNTIL),
        lambda: node.revoke_licence(agency_id, "sanction"),
    ):
        with pytest.raises(LicenceAlreadyRevoked) as refusal:
            attempt()
        assert "final" in refusal.value.rule
    assert node.get_agency(agency_id).licence_status == LicenceStatus.REVOKED
    assert node.get_agency(agency_id).version == version


@pytest.mark.parametrize("agency_type", NOT_LICENSED)
def test_agencies_without_a_licence_have_no_licence_to_change(
    node: ProvinceNode, agency_type: str
) -> None:
    agency_id = register_agency(node, agency_type=agency_type, licence_number=None)
    for attempt in (
        lambda: node.suspend_licence(agency_id, "sanction", UNTIL),
        lambda: node.revoke_licence(agency_id, "sanction"),
        lambda: node.restore_licence(agency_id, "review_passed"),
    ):
        with pytest.raises(AgencyNotLicensed) as refusal:
            attempt()
        assert refusal.value.rule
    assert node.get_agency(agency_id).version == 1


# -- closure ---------------------------------------------------------------------------------


def test_a_closed_agency_refuses_changes(node: ProvinceNode) -> None:
    agency_id = register_agency(node)
    closed = node.close_agency(agency_id)
    assert closed.is_closed
    assert closed.closed_at is not None
    for attempt in (
        lambda: node.close_agency(agency_id),
        lambda: node.update_agency(agency_id, {**LAW_FIRM, "name": "新名字"}),
        lambda: node.add_person(
            agency_id, person_id="p-1", name="王律师", role="lawyer", licence_number=None
        ),
        lambda: node.suspend_licence(agency_id, "sanction", UNTIL),
        lambda: node.revoke_licence(agency_id, "sanction"),
    ):
        with pytest.raises(AgencyClosed) as refusal:
            attempt()
        assert refusal.value.rule
    assert node.get_agency(agency_id).version == 2


# -- personnel -------------------------------------------------------------------------------


def test_a_person_joins_and_leaves(node: ProvinceNode) -> None:
    agency_id = register_agency(node)
    _agency, person_id = node.add_person(
        agency_id, person_id="lawyer-1", name="王律师", role="lawyer", licence_number="L-1"
    )
    assert person_id == "lawyer-1"
    staff = node.get_agency(agency_id).personnel
    assert staff["lawyer-1"]["name"] == "王律师"
    assert staff["lawyer-1"]["role"] == "lawyer"
    assert staff["lawyer-1"]["licence_number"] == "L-1"

    node.remove_person(agency_id, "lawyer-1")
    assert "lawyer-1" not in node.get_agency(agency_id).personnel


def test_a_person_without_an_id_is_given_one(node: ProvinceNode) -> None:
    agency_id = register_agency(node)
    _, first = node.add_person(
        agency_id, person_id=None, name="甲", role="mediator", licence_number=None
    )
    _, second = node.add_person(
        agency_id, person_id=None, name="乙", role="mediator", licence_number=None
    )
    assert first != second
    assert set(node.get_agency(agency_id).personnel) == {first, second}


def test_a_person_cannot_join_twice(node: ProvinceNode) -> None:
    agency_id = register_agency(node)
    node.add_person(agency_id, person_id="p-1", name="王律师", role="lawyer", licence_number=None)
    with pytest.raises(PersonAlreadyAtAgency) as refusal:
        node.add_person(
            agency_id, person_id="p-1", name="王律师", role="staff", licence_number=None
        )
    assert refusal.value.rule
    assert node.get_agency(agency_id).personnel["p-1"]["role"] == "lawyer"


def test_a_person_not_on_the_staff_cannot_leave(node: ProvinceNode) -> None:
    agency_id = register_agency(node)
    with pytest.raises(PersonNotAtAgency) as refusal:
        node.remove_person(agency_id, "nobody")
    assert refusal.value.rule
    node.add_person(agency_id, person_id="p-1", name="王律师", role="lawyer", licence_number=None)
    node.remove_person(agency_id, "p-1")
    with pytest.raises(PersonNotAtAgency):
        node.remove_person(agency_id, "p-1")


def test_a_person_rejoins_after_leaving(node: ProvinceNode) -> None:
    agency_id = register_agency(node)
    node.add_person(agency_id, person_id="p-1", name="王律师", role="lawyer", licence_number=None)
    node.remove_person(agency_id, "p-1")
    node.add_person(agency_id, person_id="p-1", name="王律师", role="notary", licence_number=None)
    assert node.get_agency(agency_id).personnel["p-1"]["role"] == "notary"


def test_an_agency_with_a_long_history_keeps_working(node: ProvinceNode) -> None:
    # The node snapshots agencies every 100 events; the snapshot must be storable and loadable.
    agency_id = register_agency(node)
    for number in range(60):
        with acting(CommandContext(command_id=f"join-{number}")):
            node.add_person(
                agency_id,
                person_id=f"p-{number}",
                name="调解员",
                role="mediator",
                licence_number=None,
            )
        if number % 2:
            with acting(CommandContext(command_id=f"leave-{number}")):
                node.remove_person(agency_id, f"p-{number}")
    agency = node.get_agency(agency_id)
    assert agency.version == 91
    for number in range(60, 80):
        with acting(CommandContext(command_id=f"join-{number}")):
            node.add_person(
                agency_id,
                person_id=f"p-{number}",
                name="调解员",
                role="mediator",
                licence_number=None,
            )
    agency = node.get_agency(agency_id)
    assert agency.version == 111
    assert len(agency.personnel) == 50
    # Retries of commands from before the snapshot are still recognised after it.
    with acting(CommandContext(command_id="join-3")):
        node.add_person(
            agency_id, person_id="p-3", name="调解员", role="mediator", licence_number=None
        )
    assert node.get_agency(agency_id).version == 111


# -- references from cases and complaints ----------------------------------------------------


def test_a_case_cannot_be_assigned_to_an_unknown_agency(node: ProvinceNode) -> None:
    case = open_case(node)
    node.accept_case(case.id)
    with pytest.raises(ReferenceNotFound) as refusal:
        node.assign_case(case.id, uuid4())
    assert refusal.value.field == "agency_id"
    assert refusal.value.rule
    assert node.get_case(case.id).status == "accepted"
    assert node.get_case(case.id).agency_id is None


def test_a_case_cannot_be_assigned_to_someone_not_on_the_staff(node: ProvinceNode) -> None:
    agency_id = register_agency(node)
    case = open_case(node)
    node.accept_case(case.id)
    with pytest.raises(ReferenceNotFound) as refusal:
        node.assign_case(case.id, agency_id, "stranger")
    assert refusal.value.field == "person_id"
    assert node.get_case(case.id).agency_id is None


def test_a_complaint_against_an_unknown_agency_is_refused(node: ProvinceNode) -> None:
    with pytest.raises(ReferenceNotFound) as refusal:
        node.file_complaint(
            complainant=Applicant(name="赵六"),
            agency_id=uuid4(),
            against="agency",
            category="fees",
            channel="web",
            service_type="lawyer",
            case_id=None,
            description="乱收费",
        )
    assert refusal.value.field == "agency_id"

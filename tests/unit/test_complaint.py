"""Service complaints: filing, and which status changes the handling process allows."""

from __future__ import annotations

import pytest

from contracts.vocabulary import ComplaintStatus
from services.province_node.application.node import ProvinceNode
from services.province_node.domain.case import Applicant
from services.province_node.domain.complaint import NEXT_STATUSES, Complaint
from services.province_node.domain.errors import TransitionNotAllowed
from tests.unit.samples import CITIZEN, PROVINCE, register_agency

# The handling process, written out independently of the code (Open311 / FixMyStreet vocabulary).
ALLOWED = {
    ("received", "accepted"),
    ("received", "not_accepted"),
    ("accepted", "investigating"),
    ("investigating", "action_taken"),
    ("investigating", "resolved"),
    ("action_taken", "resolved"),
    ("resolved", "closed"),
    ("resolved", "reopened"),
    ("not_accepted", "closed"),
    ("not_accepted", "reopened"),
    ("closed", "reopened"),
    ("reopened", "investigating"),
}
# One way to reach each status from `received`.
PATH_TO = {
    "received": [],
    "accepted": ["accepted"],
    "not_accepted": ["not_accepted"],
    "investigating": ["accepted", "investigating"],
    "action_taken": ["accepted", "investigating", "action_taken"],
    "resolved": ["accepted", "investigating", "resolved"],
    "closed": ["not_accepted", "closed"],
    "reopened": ["not_accepted", "reopened"],
}
STATUSES = [status.value for status in ComplaintStatus]


def file_complaint(node: ProvinceNode, **fields: object) -> Complaint:
    values: dict[str, object] = {
        "complainant": CITIZEN,
        "against": "platform_service",
        "category": "delay",
        "channel": "hotline_12348",
        "service_type": "legal_aid",
        "case_id": None,
        "description": "热线一直占线",
    }
    values.update(fields)
    complaint, created = node.file_complaint(**values)  # type: ignore[arg-type]
    assert created
    return complaint


def test_a_filed_complaint_is_received(node: ProvinceNode) -> None:
    complaint = file_complaint(node)
    loaded = node.get_complaint(complaint.id)
    assert loaded.status == "received"
    assert loaded.province == PROVINCE
    assert loaded.category == "delay"
    assert loaded.complainant_id == node.pseudonym_for(CITIZEN)
    assert loaded.complainant["name"] == CITIZEN.name


def test_a_complaint_against_an_agency_and_person_names_them(node: ProvinceNode) -> None:
    agency_id = register_agency(node)
    node.add_person(agency_id, person_id="p-1", name="王律师", role="lawyer", licence_number=None)
    complaint = file_complaint(
        node, against="person", agency_id=agency_id, person_id="p-1", category="attitude"
    )
    assert complaint.agency_id == str(agency_id)
    assert complaint.person_id == "p-1"


def test_a_retried_complaint_is_filed_once(node: ProvinceNode) -> None:
    first = file_complaint(node, idempotency_key="c-1")
    again, created = node.file_complaint(
        idempotency_key="c-1",
        complainant=Applicant(name="赵六"),
        against="platform_service",
        category="delay",
        channel="web",
        service_type=None,
        case_id=None,
        description=None,
    )
    assert created is False
    assert again.id == first.id


def test_the_process_table_is_the_one_documented() -> None:
    in_code = {(str(a), str(b)) for a, targets in NEXT_STATUSES.items() for b in targets}
    assert in_code == ALLOWED


@pytest.mark.parametrize("current", STATUSES)
@pytest.mark.parametrize("target", STATUSES)
def test_status_changes_follow_the_process(node: ProvinceNode, current: str, target: str) -> None:
    complaint = file_complaint(node)
    for step in PATH_TO[current]:
        node.change_complaint_status(complaint.id, step)
    assert node.get_complaint(complaint.id).status == current
    version = node.get_complaint(complaint.id).version

    if (current, target) in ALLOWED:
        changed = node.change_complaint_status(complaint.id, target, note="已核实")
        assert changed.status == target
        assert node.get_complaint(complaint.id).version == version + 1
    else:
        with pytest.raises(TransitionNotAllowed) as refusal:
            node.change_complaint_status(complaint.id, target)
        assert current in refusal.value.rule
        assert node.get_complaint(complaint.id).status == current
        assert node.get_complaint(complaint.id).version == version


def test_a_refusal_names_the_statuses_that_are_allowed(node: ProvinceNode) -> None:
    complaint = file_complaint(node)
    with pytest.raises(TransitionNotAllowed) as refusal:
        node.change_complaint_status(complaint.id, "resolved")
    assert "accepted" in refusal.value.rule
    assert "not_accepted" in refusal.value.rule


def test_a_reopened_complaint_is_investigated_again(node: ProvinceNode) -> None:
    complaint = file_complaint(node)
    for step in (
        "accepted",
        "investigating",
        "resolved",
        "closed",
        "reopened",
        "investigating",
        "action_taken",
        "resolved",
        "closed",
    ):
        node.change_complaint_status(complaint.id, step)
    assert node.get_complaint(complaint.id).status == "closed"
    assert node.get_complaint(complaint.id).version == 10

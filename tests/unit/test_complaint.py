"""Service complaints: filing, and which status changes the handling process allows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from contracts.vocabulary import ComplaintStatus
from services.province_node.application.node import ProvinceNode
from services.province_node.domain.case import Applicant
from services.province_node.domain.complaint import NEXT_STATUSES, Complaint
from services.province_node.domain.context import CommandContext, acting
from services.province_node.domain.errors import (
    FindingRequired,
    OutcomeRequired,
    ReasonRequired,
    ReferenceNotFound,
    StepBeforePreviousStep,
    StepInTheFuture,
    TransitionNotAllowed,
)
from tests.unit.samples import CITIZEN, PROVINCE, RECEIVED, register_agency

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
# What each step must state.
PARTICULARS: dict[str, dict[str, str]] = {
    "not_accepted": {"reason": "duplicate"},
    "resolved": {"outcome": "upheld", "finding": "improper_fees"},
    "reopened": {"reason": "new_evidence"},
}


def step(node: ProvinceNode, complaint_id: object, status: str, **extra: object) -> Complaint:
    return node.change_complaint_status(
        complaint_id,  # type: ignore[arg-type]
        status,
        **{**PARTICULARS.get(status, {}), **extra},  # type: ignore[arg-type]
    )


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
    for status in PATH_TO[current]:
        step(node, complaint.id, status)
    assert node.get_complaint(complaint.id).status == current
    version = node.get_complaint(complaint.id).version

    if (current, target) in ALLOWED:
        changed = step(node, complaint.id, target, note="已核实")
        assert changed.status == target
        assert node.get_complaint(complaint.id).version == version + 1
    else:
        with pytest.raises(TransitionNotAllowed) as refusal:
            step(node, complaint.id, target)
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
    for status in (
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
        step(node, complaint.id, status)
    assert node.get_complaint(complaint.id).status == "closed"
    assert node.get_complaint(complaint.id).version == 10


# -- what each step must state, and when it took effect ----------------------------------------


def test_a_resolution_without_a_finding_is_refused_and_nothing_is_recorded(
    node: ProvinceNode,
) -> None:
    complaint = file_complaint(node)
    step(node, complaint.id, "accepted")
    step(node, complaint.id, "investigating")
    version = node.get_complaint(complaint.id).version
    with pytest.raises(FindingRequired) as refusal:
        node.change_complaint_status(complaint.id, "resolved", outcome="upheld")
    assert refusal.value.field == "finding"
    with pytest.raises(OutcomeRequired):
        node.change_complaint_status(complaint.id, "resolved", finding="improper_fees")
    assert node.get_complaint(complaint.id).version == version
    assert node.get_complaint(complaint.id).status == "investigating"


def test_not_accepting_a_complaint_needs_a_reason(node: ProvinceNode) -> None:
    complaint = file_complaint(node)
    with pytest.raises(ReasonRequired):
        node.change_complaint_status(complaint.id, "not_accepted")
    declined = step(node, complaint.id, "not_accepted")
    assert declined.not_accepted_reason == "duplicate"


def test_a_step_cannot_take_effect_before_the_one_it_follows(node: ProvinceNode) -> None:
    complaint = file_complaint(node, received_at=RECEIVED)
    with pytest.raises(StepBeforePreviousStep):
        node.change_complaint_status(complaint.id, "accepted", at=RECEIVED - timedelta(hours=1))
    with pytest.raises(StepInTheFuture):
        node.change_complaint_status(
            complaint.id, "accepted", at=datetime.now(UTC) + timedelta(days=1)
        )
    accepted = node.change_complaint_status(
        complaint.id, "accepted", at=RECEIVED + timedelta(days=2)
    )
    assert accepted.last_step_at == RECEIVED + timedelta(days=2)


def test_each_step_records_who_took_it_and_when(node: ProvinceNode) -> None:
    complaint = file_complaint(node, received_at=RECEIVED)
    with acting(CommandContext(actor="op-17")):
        step(node, complaint.id, "accepted", at=RECEIVED + timedelta(hours=3))
    with acting(CommandContext(actor="op-22")):
        step(node, complaint.id, "investigating")
        resolved = step(node, complaint.id, "resolved", finding_text="多收取了 300 元")
    history = resolved.history
    assert [h["status"] for h in history] == ["received", "accepted", "investigating", "resolved"]
    assert [h["actor"] for h in history[1:]] == ["op-17", "op-22", "op-22"]
    assert history[1]["at"] == RECEIVED + timedelta(hours=3)
    assert history[3]["outcome"] == "upheld"
    assert resolved.finding_text == "多收取了 300 元"


def test_a_reopened_complaint_starts_a_new_round_without_its_old_finding(
    node: ProvinceNode,
) -> None:
    complaint = file_complaint(node)
    for status in ("accepted", "investigating", "resolved", "reopened"):
        step(node, complaint.id, status)
    reopened = node.get_complaint(complaint.id)
    assert reopened.round == 1
    assert (reopened.outcome, reopened.finding) == (None, None)


def test_a_complaint_about_a_case_the_province_does_not_have_is_refused(
    node: ProvinceNode,
) -> None:
    with pytest.raises(ReferenceNotFound) as refusal:
        file_complaint(node, case_id="0d9f3c1e-6a4b-4a57-9a0e-3b9c7f1d2e99")
    assert refusal.value.field == "case_id"


def test_a_complaint_against_an_unknown_agency_is_refused(node: ProvinceNode) -> None:
    with pytest.raises(ReferenceNotFound) as refusal:
        file_complaint(node, against="agency", agency_id=uuid4())
    assert refusal.value.field == "agency_id"

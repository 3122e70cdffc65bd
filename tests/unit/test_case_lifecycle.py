"""A case through every path of its lifecycle, and every rule that refuses a step."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import uuid4

import pytest

from contracts.vocabulary import CaseStatus
from services.province_node.application.node import NotFound, ProvinceNode
from services.province_node.domain import errors
from services.province_node.domain.case import Applicant, Case
from services.province_node.domain.context import CommandContext, acting
from services.province_node.domain.errors import (
    CallbackAlreadyDone,
    CaseAlreadyConcluded,
    CaseAlreadyRated,
    CaseAlreadyRejected,
    CaseNotConcluded,
    CaseTransferredOut,
    DomainError,
    IdempotencyKeyReused,
    ReferenceNotFound,
    TransitionNotAllowed,
)
from tests.unit.samples import CITIZEN, COUNTY, PROVINCE, make_node, open_case, register_agency

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
SCORES = {"overall": 5, "attitude": 5, "efficiency": 4, "competence": 5}


def history_names(node: ProvinceNode, case: Case) -> list[str]:
    return [type(event).__name__ for event in node.case_history(case.id)]


def refused(
    error_class: type[DomainError], action: Callable[..., object], *args: Any, **kwargs: Any
) -> str:
    """Run a command that the rules must refuse with exactly `error_class`; return its rule."""
    with pytest.raises(error_class) as refusal:
        action(*args, **kwargs)
    assert type(refusal.value) is error_class
    assert refusal.value.rule.strip(), "a refusal must say which rule was broken"
    assert str(refusal.value) == refusal.value.rule
    return refusal.value.rule


def assigned_case(node: ProvinceNode, service_type: str = "legal_aid") -> tuple[Case, object]:
    agency_id = register_agency(node)
    case = open_case(node, service_type)
    node.accept_case(case.id)
    node.assign_case(case.id, agency_id)
    return node.get_case(case.id), agency_id


def concluded_case(node: ProvinceNode) -> Case:
    case, _ = assigned_case(node)
    node.start_case(case.id)
    return node.conclude_case(case.id, "representation_completed")


# -- the main path ---------------------------------------------------------------------------


def test_a_case_goes_from_received_to_rated(node: ProvinceNode) -> None:
    agency_id = register_agency(node)
    _, person_id = node.add_person(
        agency_id, person_id="lawyer-1", name="王律师", role="lawyer", licence_number="L-1"
    )
    case = open_case(node)
    assert case.status == CaseStatus.RECEIVED
    assert case.province == PROVINCE
    assert case.county == COUNTY

    assert node.accept_case(case.id).status == CaseStatus.ACCEPTED
    assigned = node.assign_case(case.id, agency_id, person_id)
    assert assigned.status == CaseStatus.ASSIGNED
    assert assigned.agency_id == str(agency_id)
    assert assigned.person_id == "lawyer-1"
    assert node.start_case(case.id).status == CaseStatus.IN_PROGRESS
    concluded = node.conclude_case(case.id, "representation_completed", note="判决胜诉")
    assert concluded.status == CaseStatus.CONCLUDED
    assert concluded.outcome == "representation_completed"
    assert concluded.concluded_at is not None
    called_back = node.record_callback(case.id, "satisfied")
    assert called_back.status == CaseStatus.CALLBACK_DONE
    assert called_back.callback_result == "satisfied"
    rated = node.rate_case(case.id, **SCORES, comment="很好")
    assert rated.status == CaseStatus.RATED
    assert rated.rating == SCORES

    reloaded = node.get_case(case.id)
    assert reloaded.status == CaseStatus.RATED
    assert reloaded.version == 7
    assert history_names(node, case) == [
        "Opened",
        "Accepted",
        "Assigned",
        "Started",
        "Concluded",
        "CallbackDone",
        "Rated",
    ]


def test_a_concluded_case_can_be_rated_before_the_callback(node: ProvinceNode) -> None:
    case = concluded_case(node)
    node.rate_case(case.id, **SCORES)
    called_back = node.record_callback(case.id, "dissatisfied")
    assert called_back.status == CaseStatus.CALLBACK_DONE
    assert called_back.rating == SCORES


def test_acceptance_and_decision_times_are_recorded(node: ProvinceNode) -> None:
    case = open_case(node)
    accepted = node.accept_case(case.id)
    assert accepted.accepted_at is not None
    assert accepted.decided_at == accepted.accepted_at


# -- rejection -------------------------------------------------------------------------------


def test_a_rejected_case_keeps_its_reason(node: ProvinceNode) -> None:
    case = open_case(node)
    rejected = node.reject_case(case.id, "not_eligible_financial", note="收入超标")
    assert rejected.status == CaseStatus.REJECTED
    assert rejected.rejection_reason == "not_eligible_financial"
    assert rejected.decided_at is not None
    assert rejected.accepted_at is None


def test_a_rejected_case_refuses_further_work_until_reopened(node: ProvinceNode) -> None:
    agency_id = register_agency(node)
    case = open_case(node)
    node.reject_case(case.id, "outside_scope")
    refused(CaseAlreadyRejected, node.conclude_case, case.id, "advice_given")
    refused(CaseAlreadyRejected, node.accept_case, case.id)
    refused(CaseAlreadyRejected, node.reject_case, case.id, "other")
    refused(CaseAlreadyRejected, node.assign_case, case.id, agency_id)
    refused(CaseAlreadyRejected, node.start_case, case.id)
    refused(CaseAlreadyRejected, node.transfer_case_to_province, case.id, "110000")
    refused(CaseNotConcluded, node.rate_case, case.id, **SCORES)
    refused(CaseNotConcluded, node.record_callback, case.id, "satisfied")
    assert node.get_case(case.id).status == CaseStatus.REJECTED
    assert node.get_case(case.id).version == 2


def test_an_accepted_case_cannot_be_rejected(node: ProvinceNode) -> None:
    case = open_case(node)
    node.accept_case(case.id)
    rule = refused(TransitionNotAllowed, node.reject_case, case.id, "outside_scope")
    assert "accepted" in rule
    assert node.get_case(case.id).status == CaseStatus.ACCEPTED


# -- on-the-spot answers ---------------------------------------------------------------------


@pytest.mark.parametrize("service_type", ["consultation", "legal_publicity"])
def test_consultations_are_concluded_on_the_spot(node: ProvinceNode, service_type: str) -> None:
    case = open_case(node, service_type, channel="hotline_12348")
    concluded = node.conclude_case(case.id, "advice_given")
    assert concluded.status == CaseStatus.CONCLUDED
    assert concluded.agency_id is None
    assert history_names(node, case) == ["Opened", "Concluded"]
    rated = node.rate_case(case.id, **SCORES)
    assert rated.status == CaseStatus.RATED


@pytest.mark.parametrize(
    "service_type", ["legal_aid", "mediation", "notarization", "judicial_appraisal", "lawyer"]
)
def test_other_services_need_an_agency_before_conclusion(
    node: ProvinceNode, service_type: str
) -> None:
    case = open_case(node, service_type)
    rule = refused(TransitionNotAllowed, node.conclude_case, case.id, "advice_given")
    assert "assigned" in rule
    node.accept_case(case.id)
    refused(TransitionNotAllowed, node.conclude_case, case.id, "advice_given")
    assert node.get_case(case.id).status == CaseStatus.ACCEPTED


# -- out-of-order steps ----------------------------------------------------------------------


def test_a_case_is_accepted_only_once(node: ProvinceNode) -> None:
    case = open_case(node)
    node.accept_case(case.id)
    refused(TransitionNotAllowed, node.accept_case, case.id)
    assert node.get_case(case.id).version == 2


def test_assignment_needs_acceptance_first(node: ProvinceNode) -> None:
    agency_id = register_agency(node)
    case = open_case(node)
    rule = refused(TransitionNotAllowed, node.assign_case, case.id, agency_id)
    assert "accepted" in rule
    assert node.get_case(case.id).agency_id is None


def test_an_assigned_case_is_moved_by_transfer_not_reassignment(node: ProvinceNode) -> None:
    case, _ = assigned_case(node)
    other = register_agency(node, name="另一律师事务所")
    rule = refused(TransitionNotAllowed, node.assign_case, case.id, other)
    assert "transfer" in rule


def test_work_starts_only_on_an_assigned_case(node: ProvinceNode) -> None:
    case = open_case(node)
    refused(TransitionNotAllowed, node.start_case, case.id)
    node.accept_case(case.id)
    refused(TransitionNotAllowed, node.start_case, case.id)
    agency_id = register_agency(node)
    node.assign_case(case.id, agency_id)
    node.start_case(case.id)
    refused(TransitionNotAllowed, node.start_case, case.id)


def test_a_concluded_case_refuses_more_work(node: ProvinceNode) -> None:
    case = concluded_case(node)
    refused(CaseAlreadyConcluded, node.conclude_case, case.id, "representation_completed")
    refused(CaseAlreadyConcluded, node.accept_case, case.id)
    refused(CaseAlreadyConcluded, node.start_case, case.id)
    refused(CaseAlreadyConcluded, node.transfer_case_to_province, case.id, "110000")
    node.rate_case(case.id, **SCORES)
    refused(CaseAlreadyConcluded, node.conclude_case, case.id, "representation_completed")


def test_rating_before_conclusion_is_refused(node: ProvinceNode) -> None:
    case, _ = assigned_case(node)
    refused(CaseNotConcluded, node.rate_case, case.id, **SCORES)
    node.start_case(case.id)
    refused(CaseNotConcluded, node.rate_case, case.id, **SCORES)
    assert node.get_case(case.id).rating is None


def test_a_conclusion_is_rated_once(node: ProvinceNode) -> None:
    case = concluded_case(node)
    node.rate_case(case.id, **SCORES)
    refused(
        CaseAlreadyRated, node.rate_case, case.id, overall=1, attitude=1, efficiency=1, competence=1
    )
    assert node.get_case(case.id).rating == SCORES


def test_a_callback_before_conclusion_is_refused(node: ProvinceNode) -> None:
    case = open_case(node)
    refused(CaseNotConcluded, node.record_callback, case.id, "satisfied")


def test_a_conclusion_is_called_back_once(node: ProvinceNode) -> None:
    case = concluded_case(node)
    node.record_callback(case.id, "unreachable")
    refused(CallbackAlreadyDone, node.record_callback, case.id, "satisfied")
    assert node.get_case(case.id).callback_result == "unreachable"


# -- transfers -------------------------------------------------------------------------------


@pytest.mark.parametrize("started", [False, True])
def test_a_transfer_to_another_agency_keeps_the_history(node: ProvinceNode, started: bool) -> None:
    agency_id = register_agency(node)
    node.add_person(agency_id, person_id="p-1", name="王律师", role="lawyer", licence_number=None)
    case = open_case(node)
    node.accept_case(case.id)
    node.assign_case(case.id, agency_id, "p-1")
    if started:
        node.start_case(case.id)
    other = register_agency(node, name="另一律师事务所")

    moved = node.transfer_case_to_agency(case.id, other, note="利益冲突")

    assert moved.status == CaseStatus.ASSIGNED
    assert moved.agency_id == str(other)
    assert moved.person_id is None
    names = history_names(node, case)
    assert names[:3] == ["Opened", "Accepted", "Assigned"]
    assert names[-1] == "Transferred"
    # The new agency carries on to a conclusion.
    node.start_case(case.id)
    assert node.conclude_case(case.id, "representation_completed").status == CaseStatus.CONCLUDED


def test_a_transfer_to_an_accepted_case_assigns_it(node: ProvinceNode) -> None:
    agency_id = register_agency(node)
    case = open_case(node)
    node.accept_case(case.id)
    moved = node.transfer_case_to_agency(case.id, agency_id)
    assert moved.status == CaseStatus.ASSIGNED
    assert moved.agency_id == str(agency_id)


def test_a_transfer_needs_an_accepted_case_and_a_different_agency(node: ProvinceNode) -> None:
    agency_id = register_agency(node)
    case = open_case(node)
    refused(TransitionNotAllowed, node.transfer_case_to_agency, case.id, agency_id)
    node.accept_case(case.id)
    node.assign_case(case.id, agency_id)
    rule = refused(TransitionNotAllowed, node.transfer_case_to_agency, case.id, agency_id)
    assert "already" in rule


def test_a_transfer_to_an_unknown_agency_is_refused(node: ProvinceNode) -> None:
    case, agency_id = assigned_case(node)
    with pytest.raises(ReferenceNotFound) as refusal:
        node.transfer_case_to_agency(case.id, uuid4())
    assert refusal.value.field == "agency_id"
    assert node.get_case(case.id).agency_id == str(agency_id)


@pytest.mark.parametrize("step", ["received", "accepted", "assigned", "in_progress"])
def test_a_case_transferred_to_another_province_is_handled_there(
    node: ProvinceNode, step: str
) -> None:
    agency_id = register_agency(node)
    case = open_case(node)
    if step != "received":
        node.accept_case(case.id)
    if step in ("assigned", "in_progress"):
        node.assign_case(case.id, agency_id)
    if step == "in_progress":
        node.start_case(case.id)

    moved = node.transfer_case_to_province(case.id, "110000", note="申请人户籍在北京")

    assert moved.status == CaseStatus.TRANSFERRED
    assert history_names(node, case)[-1] == "Transferred"
    refused(CaseTransferredOut, node.accept_case, case.id)
    refused(CaseTransferredOut, node.conclude_case, case.id, "advice_given")
    refused(CaseTransferredOut, node.transfer_case_to_province, case.id, "310000")
    refused(CaseTransferredOut, node.reopen_case, case.id, "new_facts")
    refused(CaseNotConcluded, node.rate_case, case.id, **SCORES)
    assert node.get_case(case.id).status == CaseStatus.TRANSFERRED


def test_a_case_cannot_be_transferred_to_its_own_province(node: ProvinceNode) -> None:
    case = open_case(node)
    refused(TransitionNotAllowed, node.transfer_case_to_province, case.id, PROVINCE)
    assert node.get_case(case.id).status == CaseStatus.RECEIVED


# -- reopening -------------------------------------------------------------------------------


def test_a_concluded_case_is_reopened_with_the_same_agency(node: ProvinceNode) -> None:
    case = concluded_case(node)
    node.record_callback(case.id, "dissatisfied")
    node.rate_case(case.id, overall=1, attitude=2, efficiency=1, competence=2)

    reopened = node.reopen_case(case.id, "objection_upheld", note="督办")

    assert reopened.status == CaseStatus.IN_PROGRESS
    assert reopened.outcome is None
    assert reopened.rating is None
    assert reopened.callback_result is None
    assert reopened.agency_id is not None
    # The new conclusion gets its own callback and rating.
    node.conclude_case(case.id, "representation_completed")
    node.record_callback(case.id, "satisfied")
    assert node.rate_case(case.id, **SCORES).rating == SCORES


def test_a_rejected_case_is_reopened_for_a_new_decision(node: ProvinceNode) -> None:
    case = open_case(node)
    node.reject_case(case.id, "insufficient_materials")

    reopened = node.reopen_case(case.id, "new_facts")

    assert reopened.status == CaseStatus.RECEIVED
    assert reopened.rejection_reason is None
    assert node.accept_case(case.id).status == CaseStatus.ACCEPTED


def test_a_consultation_answered_on_the_spot_reopens_as_received(node: ProvinceNode) -> None:
    case = open_case(node, "consultation")
    node.conclude_case(case.id, "advice_given")
    assert node.reopen_case(case.id, "other").status == CaseStatus.RECEIVED


@pytest.mark.parametrize("step", ["received", "accepted", "assigned", "in_progress"])
def test_only_a_concluded_or_rejected_case_is_reopened(node: ProvinceNode, step: str) -> None:
    agency_id = register_agency(node)
    case = open_case(node)
    if step != "received":
        node.accept_case(case.id)
    if step in ("assigned", "in_progress"):
        node.assign_case(case.id, agency_id)
    if step == "in_progress":
        node.start_case(case.id)
    rule = refused(TransitionNotAllowed, node.reopen_case, case.id, "new_facts")
    assert "reopened" in rule
    assert node.get_case(case.id).status == step


# -- lookups ---------------------------------------------------------------------------------


def test_an_unknown_case_is_not_found(node: ProvinceNode) -> None:
    with pytest.raises(NotFound):
        node.get_case(uuid4())
    with pytest.raises(NotFound):
        node.accept_case(uuid4())
    with pytest.raises(NotFound):
        node.case_history(uuid4())


def test_an_agency_id_is_not_a_case(node: ProvinceNode) -> None:
    agency_id = register_agency(node)
    with pytest.raises(NotFound):
        node.get_case(agency_id)


# -- idempotency -----------------------------------------------------------------------------


def test_a_retried_open_returns_the_same_case(node: ProvinceNode) -> None:
    first = open_case(node, idempotency_key="req-1", fingerprint="fp-1")
    again, created = node.open_case(
        idempotency_key="req-1",
        fingerprint="fp-1",
        service_type="legal_aid",
        channel="hotline_12348",
        platform_level=None,
        county=COUNTY,
        applicant=Applicant(name="李四", phone="13800138000"),
        applicant_categories=["low_income"],
    )
    assert created is False
    assert again.id == first.id
    assert again.version == 1
    assert history_names(node, again) == ["Opened"]


def test_an_idempotency_key_reused_for_another_request_is_refused(node: ProvinceNode) -> None:
    first = open_case(node, idempotency_key="req-1", fingerprint="fp-1")
    with pytest.raises(IdempotencyKeyReused) as refusal:
        node.open_case(
            idempotency_key="req-1",
            fingerprint="fp-2",
            service_type="mediation",
            channel="web",
            platform_level=None,
            county=COUNTY,
            applicant=Applicant(),
            applicant_categories=[],
        )
    assert refusal.value.rule
    assert node.get_case(first.id).service_type == "legal_aid"


def test_requests_without_a_key_open_separate_cases(node: ProvinceNode) -> None:
    assert open_case(node).id != open_case(node).id


def test_the_same_key_names_different_cases_in_different_provinces() -> None:
    guangdong, beijing = make_node("440000"), make_node("110000")
    assert guangdong.id_for("case", "req-1") != beijing.id_for("case", "req-1")
    assert guangdong.id_for("case", "req-1") == guangdong.id_for("case", "req-1")
    assert guangdong.id_for("case", "req-1") != guangdong.id_for("complaint", "req-1")


def test_a_retried_command_is_applied_once(node: ProvinceNode) -> None:
    case = open_case(node)
    with acting(CommandContext(command_id="cmd-accept")):
        node.accept_case(case.id)
        retried = node.accept_case(case.id)  # would be refused if it were applied again
    assert retried.status == CaseStatus.ACCEPTED
    assert retried.version == 2
    assert history_names(node, case) == ["Opened", "Accepted"]
    # A different command that does the same is a real second attempt, and the rules refuse it.
    with acting(CommandContext(command_id="cmd-accept-2")):
        refused(TransitionNotAllowed, node.accept_case, case.id)


def test_a_retried_rating_keeps_the_first_rating(node: ProvinceNode) -> None:
    case = concluded_case(node)
    version = node.get_case(case.id).version
    with acting(CommandContext(command_id="rate-1")):
        node.rate_case(case.id, **SCORES)
        node.rate_case(case.id, overall=1, attitude=1, efficiency=1, competence=1)
    rated = node.get_case(case.id)
    assert rated.rating == SCORES
    assert rated.version == version + 1


# -- who did it ------------------------------------------------------------------------------


def test_events_record_the_actor_trace_and_command(node: ProvinceNode) -> None:
    with acting(
        CommandContext(actor="hotline:operator-7", traceparent=TRACEPARENT, command_id="open-1")
    ):
        case = open_case(node, applicant=CITIZEN)
    with acting(CommandContext(actor="centre:reviewer-2", command_id="accept-1")):
        node.accept_case(case.id)
    opened, accepted = node.case_history(case.id)
    assert (opened.actor, opened.traceparent, opened.command_id) == (
        "hotline:operator-7",
        TRACEPARENT,
        "open-1",
    )
    assert (accepted.actor, accepted.traceparent, accepted.command_id) == (
        "centre:reviewer-2",
        None,
        "accept-1",
    )


def test_events_outside_a_command_context_record_no_actor(node: ProvinceNode) -> None:
    case = open_case(node)
    node.accept_case(case.id)
    for event in node.case_history(case.id):
        assert (event.actor, event.traceparent, event.command_id) == (None, None, None)


def test_the_applicant_is_kept_with_a_pseudonymous_id(node: ProvinceNode) -> None:
    case = open_case(node, applicant=CITIZEN)
    reloaded = node.get_case(case.id)
    assert reloaded.applicant == CITIZEN
    assert reloaded.applicant_id == node.pseudonym_for(CITIZEN)
    assert "44010619900101123X" not in reloaded.applicant_id.upper()


# -- the rules themselves --------------------------------------------------------------------


def _domain_errors() -> list[type[DomainError]]:
    found = []
    for value in vars(errors).values():
        if isinstance(value, type) and issubclass(value, DomainError):
            found.append(value)
    return found


@pytest.mark.parametrize("error_class", _domain_errors(), ids=lambda c: c.__name__)
def test_every_domain_error_states_its_rule(error_class: type[DomainError]) -> None:
    if error_class is ReferenceNotFound:
        error: DomainError = ReferenceNotFound("agency_id", "no agency x in this province")
    else:
        error = error_class()
    assert error.rule.strip()
    assert str(error) == error.rule


def test_case_specific_errors_are_lifecycle_refusals() -> None:
    # The HTTP layer maps TransitionNotAllowed to 409; every case refusal must be one of those.
    for error_class in (
        CaseAlreadyRejected,
        CaseAlreadyConcluded,
        CaseTransferredOut,
        CaseNotConcluded,
        CaseAlreadyRated,
        CallbackAlreadyDone,
    ):
        assert issubclass(error_class, TransitionNotAllowed)

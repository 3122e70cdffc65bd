"""Cases: open a request from any channel, move it through its lifecycle, read it back.

Answers are built as `CaseRead` and serialised once (`json_of`); `response_model` documents them."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response, status

from contracts.vocabulary import CaseStatus, Channel, ServiceType
from pls.web import InvalidInput, Page, Problem, json_of, page_beyond_end
from services.province_node.adapters.views import CaseFilter
from services.province_node.domain.case import Applicant
from services.province_node.domain.context import acting
from services.province_node.entrypoints.api.deps import Command, Node, Views, operator
from services.province_node.entrypoints.models import (
    CallbackCreate,
    CaseAssign,
    CaseConclude,
    CaseCreate,
    CaseRead,
    CaseReject,
    CaseReopen,
    CaseSummaryRead,
    CaseTransfer,
    RatingCreate,
)

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem},
    403: {"model": Problem},
    404: {"model": Problem},
    409: {"model": Problem},
    422: {"model": Problem},
}
router = APIRouter(
    prefix="/v1/cases", tags=["cases"], responses=ERRORS, dependencies=[Depends(operator)]
)


@router.post("", response_model=CaseRead, status_code=status.HTTP_201_CREATED)
def open_case(body: CaseCreate, node: Node, command: Command) -> Response:
    """Open a case; with an Idempotency-Key a retried request returns the first one's case (200)."""
    try:
        body.validate_for(node.province)
    except ValueError as error:
        raise InvalidInput.from_value_error(error) from None
    fingerprint = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
    fields = body.model_dump(mode="json", exclude={"applicant", "received_at"})
    with acting(command):
        case, created = node.open_case(
            idempotency_key=command.command_id,
            fingerprint=fingerprint,
            applicant=Applicant(**body.applicant.model_dump()),
            received_at=body.received_at,
            **fields,
        )
    return json_of(CaseRead.of(case), status.HTTP_201_CREATED if created else status.HTTP_200_OK)


@router.get("", response_model=Page[CaseSummaryRead])
def list_cases(
    views: Views,
    case_status: Annotated[CaseStatus | None, Query(alias="status")] = None,
    service_type: ServiceType | None = None,
    channel: Channel | None = None,
    county: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
    received_from: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}-\d{2}")] = None,
    received_to: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}-\d{2}")] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[CaseSummaryRead] | Response:
    """Cases of this province, newest first, filtered and paged."""
    where = CaseFilter(case_status, service_type, channel, county, received_from, received_to)
    total, rows = views.list_cases(where, offset=(page - 1) * per_page, limit=per_page)
    result = Page[CaseSummaryRead].of(
        [CaseSummaryRead(**row) for row in rows], total=total, page=page, per_page=per_page
    )
    return page_beyond_end(page, result.total_pages, total) or result


@router.get("/{case_id}", response_model=CaseRead)
def get_case(case_id: UUID, node: Node) -> Response:
    """A case with its full history."""
    return json_of(CaseRead.of(node.get_case(case_id), node.case_history(case_id)))


@router.post("/{case_id}/accept", response_model=CaseRead)
def accept_case(case_id: UUID, node: Node, command: Command) -> Response:
    """Accept a received request (for legal aid: grant aid)."""
    with acting(command):
        return json_of(CaseRead.of(node.accept_case(case_id)))


@router.post("/{case_id}/reject", response_model=CaseRead)
def reject_case(case_id: UUID, body: CaseReject, node: Node, command: Command) -> Response:
    """Decline a received request, with the reason."""
    with acting(command):
        return json_of(CaseRead.of(node.reject_case(case_id, body.reason, body.note)))


@router.post("/{case_id}/assign", response_model=CaseRead)
def assign_case(case_id: UUID, body: CaseAssign, node: Node, command: Command) -> Response:
    """Assign an accepted case to an agency of this province, and a person where there is one."""
    with acting(command):
        return json_of(CaseRead.of(node.assign_case(case_id, body.agency_id, body.person_id)))


@router.post("/{case_id}/start", response_model=CaseRead)
def start_case(case_id: UUID, node: Node, command: Command) -> Response:
    """Record that the assigned agency started work."""
    with acting(command):
        return json_of(CaseRead.of(node.start_case(case_id)))


@router.post("/{case_id}/transfer", response_model=CaseRead)
def transfer_case(case_id: UUID, body: CaseTransfer, node: Node, command: Command) -> Response:
    """Transfer a case to another agency here, or to another province."""
    if (body.to_agency_id is None) == (body.to_province is None):
        raise InvalidInput("to_agency_id", "give exactly one of to_agency_id and to_province")
    with acting(command):
        if body.to_agency_id is not None:
            return json_of(
                CaseRead.of(node.transfer_case_to_agency(case_id, body.to_agency_id, body.note))
            )
        return json_of(
            CaseRead.of(node.transfer_case_to_province(case_id, str(body.to_province), body.note))
        )


@router.post("/{case_id}/conclude", response_model=CaseRead)
def conclude_case(case_id: UUID, body: CaseConclude, node: Node, command: Command) -> Response:
    """Conclude a case with its outcome."""
    with acting(command):
        return json_of(CaseRead.of(node.conclude_case(case_id, body.outcome, body.note)))


@router.post("/{case_id}/callback", response_model=CaseRead)
def record_callback(case_id: UUID, body: CallbackCreate, node: Node, command: Command) -> Response:
    """Record the callback (回访) to the applicant of a concluded case."""
    with acting(command):
        return json_of(CaseRead.of(node.record_callback(case_id, body.result, body.note)))


@router.post("/{case_id}/rating", response_model=CaseRead)
def rate_case(case_id: UUID, body: RatingCreate, node: Node, command: Command) -> Response:
    """Record the applicant's satisfaction rating (满意度评价) of a concluded case."""
    with acting(command):
        return json_of(CaseRead.of(node.rate_case(case_id, **body.model_dump())))


@router.post("/{case_id}/reopen", response_model=CaseRead)
def reopen_case(case_id: UUID, body: CaseReopen, node: Node, command: Command) -> Response:
    """Reopen a concluded or rejected case."""
    with acting(command):
        return json_of(CaseRead.of(node.reopen_case(case_id, body.reason, body.note)))

"""Cases: open a request from any channel, move it through its lifecycle, read it back.

Commands are coroutines: each runs through `ProvinceNode.execute`, on the event loop while the
event store is local, and is answered once its events are stored. Answers are built as `CaseRead`
and serialised once (`json_of`); `response_model` documents them."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response, status

from contracts.vocabulary import CaseStatus, Channel, ServiceType
from pls.web import InvalidInput, Page, Problem, json_of, page_beyond_end
from services.province_node.adapters.views import CaseFilter
from services.province_node.domain.case import Applicant
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
async def open_case(body: CaseCreate, node: Node, command: Command) -> Response:
    """Open a case; with an Idempotency-Key a retried request returns the first one's case (200)."""
    try:
        body.validate_for(node.province)
    except ValueError as error:
        raise InvalidInput.from_value_error(error) from None
    fingerprint = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
    fields = body.model_dump(mode="json", exclude={"applicant", "received_at"})
    case, created = await node.execute(
        command,
        lambda: node.open_case(
            idempotency_key=command.command_id,
            fingerprint=fingerprint,
            applicant=Applicant(**body.applicant.model_dump()),
            received_at=body.received_at,
            **fields,
        ),
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
async def get_case(case_id: UUID, node: Node) -> Response:
    """A case with its full history."""
    case, history = await node.read(lambda: node.case_with_history(case_id))
    return json_of(CaseRead.of(case, history))


@router.post("/{case_id}/accept", response_model=CaseRead)
async def accept_case(case_id: UUID, node: Node, command: Command) -> Response:
    """Accept a received request (for legal aid: grant aid)."""
    case = await node.execute(command, lambda: node.accept_case(case_id))
    return json_of(CaseRead.of(case))


@router.post("/{case_id}/reject", response_model=CaseRead)
async def reject_case(case_id: UUID, body: CaseReject, node: Node, command: Command) -> Response:
    """Decline a received request, with the reason."""
    case = await node.execute(command, lambda: node.reject_case(case_id, body.reason, body.note))
    return json_of(CaseRead.of(case))


@router.post("/{case_id}/assign", response_model=CaseRead)
async def assign_case(case_id: UUID, body: CaseAssign, node: Node, command: Command) -> Response:
    """Assign an accepted case to an agency of this province, and a person where there is one."""
    case = await node.execute(
        command, lambda: node.assign_case(case_id, body.agency_id, body.person_id)
    )
    return json_of(CaseRead.of(case))


@router.post("/{case_id}/start", response_model=CaseRead)
async def start_case(case_id: UUID, node: Node, command: Command) -> Response:
    """Record that the assigned agency started work."""
    case = await node.execute(command, lambda: node.start_case(case_id))
    return json_of(CaseRead.of(case))


@router.post("/{case_id}/transfer", response_model=CaseRead)
async def transfer_case(
    case_id: UUID, body: CaseTransfer, node: Node, command: Command
) -> Response:
    """Transfer a case to another agency here, or to another province."""
    if (body.to_agency_id is None) == (body.to_province is None):
        raise InvalidInput("to_agency_id", "give exactly one of to_agency_id and to_province")
    if body.to_agency_id is not None:
        to_agency = body.to_agency_id
        case = await node.execute(
            command, lambda: node.transfer_case_to_agency(case_id, to_agency, body.note)
        )
    else:
        province = str(body.to_province)
        case = await node.execute(
            command, lambda: node.transfer_case_to_province(case_id, province, body.note)
        )
    return json_of(CaseRead.of(case))


@router.post("/{case_id}/conclude", response_model=CaseRead)
async def conclude_case(
    case_id: UUID, body: CaseConclude, node: Node, command: Command
) -> Response:
    """Conclude a case with its outcome."""
    case = await node.execute(command, lambda: node.conclude_case(case_id, body.outcome, body.note))
    return json_of(CaseRead.of(case))


@router.post("/{case_id}/callback", response_model=CaseRead)
async def record_callback(
    case_id: UUID, body: CallbackCreate, node: Node, command: Command
) -> Response:
    """Record the callback (回访) to the applicant of a concluded case."""
    case = await node.execute(
        command, lambda: node.record_callback(case_id, body.result, body.note)
    )
    return json_of(CaseRead.of(case))


@router.post("/{case_id}/rating", response_model=CaseRead)
async def rate_case(case_id: UUID, body: RatingCreate, node: Node, command: Command) -> Response:
    """Record the applicant's satisfaction rating (满意度评价) of a concluded case."""
    case = await node.execute(command, lambda: node.rate_case(case_id, **body.model_dump()))
    return json_of(CaseRead.of(case))


@router.post("/{case_id}/reopen", response_model=CaseRead)
async def reopen_case(case_id: UUID, body: CaseReopen, node: Node, command: Command) -> Response:
    """Reopen a concluded or rejected case."""
    case = await node.execute(command, lambda: node.reopen_case(case_id, body.reason, body.note))
    return json_of(CaseRead.of(case))

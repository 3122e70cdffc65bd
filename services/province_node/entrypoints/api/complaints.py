"""Complaints: intake of service complaints and their handling at the province."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response, status

from contracts.vocabulary import ComplaintStatus
from pls.web import InvalidInput, Page, Problem, page_beyond_end
from services.province_node.domain.case import Applicant
from services.province_node.entrypoints.api.deps import Command, Node, Views, operator
from services.province_node.entrypoints.models import (
    ComplaintCreate,
    ComplaintRead,
    ComplaintStatusCreate,
    ComplaintSummaryRead,
)

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem},
    403: {"model": Problem},
    404: {"model": Problem},
    409: {"model": Problem},
    422: {"model": Problem},
}
router = APIRouter(
    prefix="/v1/complaints", tags=["complaints"], responses=ERRORS, dependencies=[Depends(operator)]
)


@router.post("", response_model=ComplaintRead, status_code=status.HTTP_201_CREATED)
async def file_complaint(
    body: ComplaintCreate, node: Node, command: Command, response: Response
) -> ComplaintRead:
    """File a complaint about an agency, a person or a platform service."""
    try:
        body.check_target()
    except ValueError as error:
        raise InvalidInput.from_value_error(error) from None
    fields = body.model_dump(
        mode="json", exclude={"complainant", "received_at", "agency_id", "person_id"}
    )
    complaint, created = await node.execute(
        command,
        lambda: node.file_complaint(
            idempotency_key=command.command_id,
            agency_id=body.agency_id,
            person_id=body.person_id,
            complainant=Applicant(**body.complainant.model_dump()),
            received_at=body.received_at,
            **fields,
        ),
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return ComplaintRead.of(complaint)


@router.get("", response_model=Page[ComplaintSummaryRead])
def list_complaints(
    views: Views,
    complaint_status: Annotated[ComplaintStatus | None, Query(alias="status")] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[ComplaintSummaryRead] | Response:
    """Complaints received by this province, newest first."""
    total, rows = views.list_complaints(
        status=complaint_status, offset=(page - 1) * per_page, limit=per_page
    )
    result = Page[ComplaintSummaryRead].of(
        [ComplaintSummaryRead(**row) for row in rows], total=total, page=page, per_page=per_page
    )
    return page_beyond_end(page, result.total_pages, total) or result


@router.get("/{complaint_id}", response_model=ComplaintRead)
async def get_complaint(complaint_id: UUID, node: Node) -> ComplaintRead:
    """A complaint and where it stands."""
    return ComplaintRead.of(await node.read(lambda: node.get_complaint(complaint_id)))


@router.post("/{complaint_id}/status", response_model=ComplaintRead)
async def change_status(
    complaint_id: UUID, body: ComplaintStatusCreate, node: Node, command: Command
) -> ComplaintRead:
    """Move a complaint to its next status; a resolution states its outcome and finding."""
    try:
        particulars = body.particulars()
    except ValueError as error:
        raise InvalidInput.from_value_error(error) from None
    complaint = await node.execute(
        command,
        lambda: node.change_complaint_status(
            complaint_id, body.status.value, body.at, note=body.note, **particulars
        ),
    )
    return ComplaintRead.of(complaint)

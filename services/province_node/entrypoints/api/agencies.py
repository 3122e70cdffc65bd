"""Agencies: registration, profile, licence standing and personnel of the province's agencies."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Response, status

from contracts.vocabulary import AgencyType
from pls.web import InvalidInput, Page, Problem, page_beyond_end
from services.province_node.entrypoints.api.deps import Command, Node, Views, operator
from services.province_node.entrypoints.models import (
    AgencyCreate,
    AgencyRead,
    AgencySummaryRead,
    LicenceChangeCreate,
    PersonCreate,
    PersonRead,
)

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem},
    403: {"model": Problem},
    404: {"model": Problem},
    409: {"model": Problem},
    422: {"model": Problem},
}
router = APIRouter(
    prefix="/v1/agencies", tags=["agencies"], responses=ERRORS, dependencies=[Depends(operator)]
)


def _checked(body: AgencyCreate, province: str) -> AgencyCreate:
    try:
        body.validate_for(province)
    except ValueError as error:
        raise InvalidInput.from_value_error(error) from None
    return body


@router.post("", response_model=AgencyRead, status_code=status.HTTP_201_CREATED)
async def register_agency(
    body: AgencyCreate, node: Node, command: Command, response: Response
) -> AgencyRead:
    """Register an agency with the province's justice department."""
    profile = _checked(body, node.province).profile()
    agency, created = await node.execute(
        command, lambda: node.register_agency(idempotency_key=command.command_id, profile=profile)
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return AgencyRead.of(agency)


@router.get("", response_model=Page[AgencySummaryRead])
def list_agencies(
    views: Views,
    agency_type: AgencyType | None = None,
    county: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[AgencySummaryRead] | Response:
    """Agencies of this province, by name, filtered and paged."""
    total, rows = views.list_agencies(
        agency_type=agency_type, county=county, offset=(page - 1) * per_page, limit=per_page
    )
    result = Page[AgencySummaryRead].of(
        [AgencySummaryRead(**row) for row in rows], total=total, page=page, per_page=per_page
    )
    return page_beyond_end(page, result.total_pages, total) or result


@router.get("/{agency_id}", response_model=AgencyRead)
async def get_agency(agency_id: UUID, node: Node) -> AgencyRead:
    """An agency with its licence standing and current personnel."""
    return AgencyRead.of(await node.read(lambda: node.get_agency(agency_id)))


@router.put("/{agency_id}", response_model=AgencyRead)
async def update_agency(
    agency_id: UUID, body: AgencyCreate, node: Node, command: Command
) -> AgencyRead:
    """Replace an agency's public profile."""
    profile = _checked(body, node.province).profile()
    agency = await node.execute(command, lambda: node.update_agency(agency_id, profile))
    return AgencyRead.of(agency)


@router.post("/{agency_id}/licence/suspend", response_model=AgencyRead)
async def suspend_licence(
    agency_id: UUID, body: LicenceChangeCreate, node: Node, command: Command
) -> AgencyRead:
    """Suspend the agency's practising licence (停业整顿)."""
    agency = await node.execute(
        command, lambda: node.suspend_licence(agency_id, body.action, body.until, body.note)
    )
    return AgencyRead.of(agency)


@router.post("/{agency_id}/licence/revoke", response_model=AgencyRead)
async def revoke_licence(
    agency_id: UUID, body: LicenceChangeCreate, node: Node, command: Command
) -> AgencyRead:
    """Revoke the agency's practising licence (吊销执业许可证)."""
    agency = await node.execute(
        command, lambda: node.revoke_licence(agency_id, body.action, body.note)
    )
    return AgencyRead.of(agency)


@router.post("/{agency_id}/licence/restore", response_model=AgencyRead)
async def restore_licence(
    agency_id: UUID, body: LicenceChangeCreate, node: Node, command: Command
) -> AgencyRead:
    """Put a suspended licence back in force."""
    agency = await node.execute(
        command, lambda: node.restore_licence(agency_id, body.action, body.note)
    )
    return AgencyRead.of(agency)


@router.post("/{agency_id}/close", response_model=AgencyRead)
async def close_agency(agency_id: UUID, node: Node, command: Command) -> AgencyRead:
    """Record that the agency stopped operating."""
    agency = await node.execute(command, lambda: node.close_agency(agency_id))
    return AgencyRead.of(agency)


@router.post(
    "/{agency_id}/personnel", response_model=PersonRead, status_code=status.HTTP_201_CREATED
)
async def add_person(
    agency_id: UUID, body: PersonCreate, node: Node, command: Command
) -> PersonRead:
    """A practitioner joins the agency."""
    _, person_id = await node.execute(
        command,
        lambda: node.add_person(
            agency_id,
            person_id=body.person_id,
            name=body.name,
            role=body.role,
            licence_number=body.licence_number,
        ),
    )
    return PersonRead(
        person_id=person_id, name=body.name, role=body.role, licence_number=body.licence_number
    )


@router.delete("/{agency_id}/personnel/{person_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_person(agency_id: UUID, person_id: str, node: Node, command: Command) -> Response:
    """A practitioner leaves the agency."""
    await node.execute(command, lambda: node.remove_person(agency_id, person_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)

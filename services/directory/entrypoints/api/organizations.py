"""Organizations: the agencies themselves, with their location, services and credit record."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from pls.web import Problem, json_of, page_beyond_end, problem
from services.directory.entrypoints.api.deps import CriteriaDep, PagingDep, Runtime
from services.directory.entrypoints.models import (
    CreditRecord,
    DirectoryPage,
    OrganizationRead,
    PersonRead,
    credit_of,
    organization_of,
    person_of,
)

router = APIRouter(
    prefix="/organizations",
    tags=["organizations"],
    responses={404: {"model": Problem}, 422: {"model": Problem}, 429: {"model": Problem}},
)
OrganizationId = Annotated[str, Path(max_length=64, description="The organization's id.")]


@router.get("", response_model=DirectoryPage[OrganizationRead])
def list_organizations(
    runtime: Runtime, criteria: CriteriaDep, paging: PagingDep
) -> DirectoryPage[OrganizationRead] | Response:
    """Agencies matching every filter given: listing order, or nearest first with `proximity`."""
    found = runtime.queries.organizations(criteria, paging.offset, paging.per_page)
    complaints = runtime.queries.complaints_upheld([h.listing.id for h in found.hits])
    contents = [
        organization_of(h.listing, complaints.get(h.listing.id, 0), h.distance_m)
        for h in found.hits
    ]
    page = DirectoryPage[OrganizationRead].found(
        contents, total=found.total, exact=found.exact, page=paging.page, per_page=paging.per_page
    )
    return page_beyond_end(paging.page, page.total_pages, found.total) or json_of(page)


@router.get("/{organization_id}", response_model=OrganizationRead)
def get_organization(
    runtime: Runtime, organization_id: OrganizationId
) -> OrganizationRead | Response:
    """One agency with its location, services, licence and standing."""
    listing = runtime.queries.organization(organization_id)
    if listing is None:
        return problem(404, f"organization_id: no organization {organization_id}", "NotFound")
    complaints = runtime.queries.complaints_upheld([listing.id]).get(listing.id, 0)
    return organization_of(listing, complaints)


@router.get("/{organization_id}/credit", response_model=CreditRecord)
def organization_credit(
    runtime: Runtime, organization_id: OrganizationId
) -> CreditRecord | Response:
    """The agency's credit record (信用信息): registration, licence history, sanctions, complaints."""
    listing = runtime.queries.organization(organization_id)
    entries = runtime.queries.credit(organization_id)
    if listing is None:
        return problem(404, f"organization_id: no organization {organization_id}", "NotFound")
    return credit_of(
        listing.id,
        "organization",
        listing.name,
        listing.licence_number,
        listing.licence_status,
        entries,
    )


@router.get("/{organization_id}/personnel", response_model=DirectoryPage[PersonRead])
def organization_personnel(
    runtime: Runtime, organization_id: OrganizationId, paging: PagingDep
) -> DirectoryPage[PersonRead] | Response:
    """The agency's current practitioners."""
    listing = runtime.queries.organization(organization_id)
    if listing is None:
        return problem(404, f"organization_id: no organization {organization_id}", "NotFound")
    total, people = runtime.queries.persons(
        name=None,
        licence_number=None,
        role=None,
        organization_id=organization_id,
        include_former=False,
        offset=paging.offset,
        limit=paging.per_page,
    )
    complaints = runtime.queries.complaints_upheld([p.id for p in people])
    contents = [person_of(p, listing, complaints.get(p.id, 0)) for p in people]
    page = DirectoryPage[PersonRead].of(
        contents, total=total, page=paging.page, per_page=paging.per_page
    )
    return page_beyond_end(paging.page, page.total_pages, total) or json_of(page)

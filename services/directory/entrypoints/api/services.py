"""Services: each 3+X service an agency offers, one row per service and agency."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from pls.web import Problem, json_of, page_beyond_end, problem
from services.directory.entrypoints.api.deps import CriteriaDep, PagingDep, Runtime
from services.directory.entrypoints.models import DirectoryPage, ServiceRead, service_of

router = APIRouter(
    prefix="/services",
    tags=["services"],
    responses={404: {"model": Problem}, 422: {"model": Problem}, 429: {"model": Problem}},
)


@router.get("", response_model=DirectoryPage[ServiceRead])
def list_services(
    runtime: Runtime, criteria: CriteriaDep, paging: PagingDep
) -> DirectoryPage[ServiceRead] | Response:
    """Services of the agencies matching every filter; with `service`, only that service."""
    total, exact, rows = runtime.queries.services(criteria, paging.offset, paging.per_page)
    contents = [service_of(hit.listing, service, hit.distance_m) for hit, service in rows]
    page = DirectoryPage[ServiceRead].found(
        contents, total=total, exact=exact, page=paging.page, per_page=paging.per_page
    )
    return page_beyond_end(paging.page, page.total_pages, total) or json_of(page)


@router.get("/{service_id}", response_model=ServiceRead)
def get_service(
    runtime: Runtime, service_id: Annotated[str, Path(max_length=64)]
) -> ServiceRead | Response:
    """One service of one agency."""
    found = runtime.queries.service(service_id)
    if found is None:
        return problem(404, f"service_id: no service {service_id}", "NotFound")
    listing, service = found
    return service_of(listing, service)

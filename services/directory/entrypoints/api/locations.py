"""Locations: where agencies are, with address, hours, languages and access; nearest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from pls.web import Problem, json_of, page_beyond_end, problem
from services.directory.entrypoints.api.deps import CriteriaDep, PagingDep, Runtime
from services.directory.entrypoints.models import DirectoryPage, LocationRead, location_of

router = APIRouter(
    prefix="/locations",
    tags=["locations"],
    responses={404: {"model": Problem}, 422: {"model": Problem}, 429: {"model": Problem}},
)


@router.get("", response_model=DirectoryPage[LocationRead])
def list_locations(
    runtime: Runtime, criteria: CriteriaDep, paging: PagingDep
) -> DirectoryPage[LocationRead] | Response:
    """Locations of the agencies matching every filter; with `proximity`, nearest first."""
    found = runtime.queries.organizations(criteria, paging.offset, paging.per_page)
    contents = [location_of(h.listing, h.distance_m) for h in found.hits]
    page = DirectoryPage[LocationRead].found(
        contents, total=found.total, exact=found.exact, page=paging.page, per_page=paging.per_page
    )
    return page_beyond_end(paging.page, page.total_pages, found.total) or json_of(page)


@router.get("/{location_id}", response_model=LocationRead)
def get_location(
    runtime: Runtime, location_id: Annotated[str, Path(max_length=64)]
) -> LocationRead | Response:
    """One location."""
    listing = runtime.queries.location(location_id)
    if listing is None:
        return problem(404, f"location_id: no location {location_id}", "NotFound")
    return location_of(listing)

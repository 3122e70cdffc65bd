"""Dependencies of the directory API: the runtime, and the criteria a question is made of.

Every parameter is checked here, so a bad one is answered with 422 naming it and why, never a 500.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Query, Request

from contracts.subjects import PROVINCES
from contracts.vocabulary import AgencyType, LicenceStatus, ServiceType
from pls import divisions
from pls.web import InvalidInput
from services.directory.adapters.queries import Criteria, Region
from services.directory.domain.geometry import Circle
from services.directory.domain.text import EmptySearch, Term, terms

if TYPE_CHECKING:
    from services.directory.bootstrap import DirectoryRuntime


def get_runtime(request: Request) -> DirectoryRuntime:
    return request.app.state.runtime


Runtime = Annotated["DirectoryRuntime", Depends(get_runtime)]


def bad(field: str, message: str) -> InvalidInput:
    return InvalidInput(field, message, location="query")


def region_of(code: str) -> Region:
    """Any GB/T 2260 code of a province (or the Corps), prefecture or county."""
    if not (len(code) == 6 and code.isdigit()):
        raise bad("region", f"{code!r} is not a six-digit GB/T 2260 code")
    if code in PROVINCES:
        return Region("province", code)
    division = divisions.gazetteer().get(code)
    if division is None or division.level not in (2, 3):
        raise bad("region", f"{code} is not a province, prefecture or county code in GB/T 2260")
    return Region("prefecture" if division.level == 2 else "county", code)


def circle_of(text: str, default_radius: float, max_radius: float) -> Circle:
    """`lat,lon` or `lat,lon,radius` (degrees, metres)."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (2, 3):
        raise bad("proximity", "give lat,lon or lat,lon,radius (degrees and metres)")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise bad("proximity", f"{text!r} is not numbers: give lat,lon[,radius]") from None
    if not all(math.isfinite(v) for v in values):
        raise bad("proximity", "coordinates and radius must be finite numbers")
    lat, lon = values[0], values[1]
    radius = values[2] if len(values) == 3 else default_radius
    if not -90 <= lat <= 90:
        raise bad("proximity", f"latitude {lat:g} is outside -90..90")
    if not -180 <= lon <= 180:
        raise bad("proximity", f"longitude {lon:g} is outside -180..180")
    if radius <= 0:
        raise bad("proximity", f"radius {radius:g} m must be more than 0")
    if radius > max_radius:
        raise bad("proximity", f"radius {radius:g} m is beyond the limit of {max_radius:g} m")
    return Circle(lat, lon, radius)


def criteria(
    runtime: Runtime,
    search: Annotated[
        str | None,
        Query(
            max_length=100,
            description="Chinese (any part of a name or address), pinyin or pinyin initials; "
            "terms separated by spaces must all match.",
        ),
    ] = None,
    region: Annotated[
        str | None,
        Query(description="A GB/T 2260 code: province, prefecture or county; matches all inside."),
    ] = None,
    agency_type: Annotated[
        list[AgencyType] | None, Query(description="One or more kinds of agency (any of them).")
    ] = None,
    service: Annotated[ServiceType | None, Query(description="A 3+X service offered.")] = None,
    language: Annotated[
        str | None,
        Query(
            pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$",
            description="A language or dialect served (zh, yue, nan, ug, bo, en, ...).",
        ),
    ] = None,
    open_now: Annotated[
        bool, Query(description="Only places open now (China time, UTC+8).")
    ] = False,
    open_at: Annotated[
        datetime | None, Query(description="Only places open at this moment (ISO 8601).")
    ] = None,
    proximity: Annotated[
        str | None,
        Query(
            description="lat,lon[,radius in metres]: only places within the radius, nearest "
            "first, each with its distance."
        ),
    ] = None,
    modified_after: Annotated[
        datetime | None, Query(description="Only entries changed after this moment (ISO 8601).")
    ] = None,
    licence_status: Annotated[LicenceStatus | None, Query()] = None,
    include_closed: Annotated[
        bool, Query(description="Also agencies that have closed (注销).")
    ] = False,
    organization_id: Annotated[
        str | None, Query(max_length=64, description="Only this organization's entries.")
    ] = None,
) -> Criteria:
    settings = runtime.settings
    found: tuple[Term, ...] = ()
    if search is not None:
        try:
            found = tuple(terms(search))
        except EmptySearch as error:
            raise bad("search", str(error).partition(": ")[2]) from None
    if open_now and open_at is not None:
        raise bad("open_at", "give open_now or open_at, not both")
    moment = datetime.now(UTC) if open_now else open_at
    if moment is not None and moment.tzinfo is None:
        raise bad("open_at", "give a time zone, e.g. 2026-03-02T10:00:00+08:00")
    if modified_after is not None and modified_after.tzinfo is None:
        raise bad("modified_after", "give a time zone, e.g. 2026-03-02T10:00:00+08:00")
    return Criteria(
        search=found,
        region=region_of(region) if region is not None else None,
        agency_types=tuple(t.value for t in agency_type or ()),
        service=service.value if service else None,
        language=language,
        open_at=moment,
        near=circle_of(proximity, settings.default_radius_m, settings.max_radius_m)
        if proximity is not None
        else None,
        modified_after=modified_after,
        licence_status=licence_status.value if licence_status else None,
        organization_id=organization_id,
        include_closed=include_closed,
    )


CriteriaDep = Annotated[Criteria, Depends(criteria)]


class Paging:
    def __init__(
        self,
        runtime: Runtime,
        page: Annotated[int, Query(ge=1, le=100_000, description="From 1.")] = 1,
        per_page: Annotated[int, Query(ge=1, le=100, description="Up to 100.")] = 20,
    ) -> None:
        if per_page > runtime.settings.max_per_page:
            raise bad("per_page", f"at most {runtime.settings.max_per_page}")
        self.page = page
        self.per_page = per_page

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


PagingDep = Annotated[Paging, Depends(Paging)]

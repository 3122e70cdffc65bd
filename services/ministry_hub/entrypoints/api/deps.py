"""Dependencies of the national API: the runtime, and the scope a question is about."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Query, Request

from contracts.subjects import PROVINCES
from contracts.vocabulary import Channel, ServiceType
from pls import divisions
from pls.web import InvalidInput
from services.ministry_hub.adapters.queries import Scope

if TYPE_CHECKING:
    from services.ministry_hub.bootstrap import HubRuntime


def get_runtime(request: Request) -> HubRuntime:
    return request.app.state.runtime


# Days a national question may name: no record is older, and periods worked out from a day (the
# 30 days before it, say) stay within what a date can hold.
FIRST_DAY, LAST_DAY = date(1949, 10, 1), date(9999, 11, 30)


def filters(
    service_type: ServiceType | None = None,
    channel: Channel | None = None,
    day_from: Annotated[
        date | None,
        Query(alias="from", ge=FIRST_DAY, le=LAST_DAY, description="First day, China time."),
    ] = None,
    day_to: Annotated[
        date | None,
        Query(alias="to", ge=FIRST_DAY, le=LAST_DAY, description="Last day, China time."),
    ] = None,
) -> Scope:
    """Filters that apply at any level of the country."""
    if day_from and day_to and day_from > day_to:
        raise InvalidInput("from", f"{day_from} is after to={day_to}")
    return Scope(service_type=service_type, channel=channel, day_from=day_from, day_to=day_to)


def scope(
    base: Annotated[Scope, Depends(filters)],
    province: Annotated[
        str | None, Query(description="Province code (660000 for the Corps).")
    ] = None,
    prefecture: Annotated[str | None, Query(description="Prefecture-level GB/T 2260 code.")] = None,
    county: Annotated[str | None, Query(description="County-level GB/T 2260 code.")] = None,
) -> Scope:
    """Filters plus a place: a province, prefecture or county (the narrowest one given wins)."""
    gazetteer = divisions.gazetteer()
    if province is not None and province not in PROVINCES:
        raise InvalidInput("province", f"{province} is not one of the 32 provincial platform codes")
    if prefecture is not None:
        division = gazetteer.get(prefecture)
        if division is None or division.level != 2:
            raise InvalidInput("prefecture", f"{prefecture} is not a prefecture-level code")
        owner = division.parent
        if province is not None and owner != province:
            raise InvalidInput("prefecture", f"{prefecture} is not in province {province}")
        province = owner
    if county is not None:
        if not divisions.is_county(county):
            raise InvalidInput("county", f"{county} is not a county-level code")
        owner_prefecture = divisions.prefecture_of(county)
        if prefecture is not None and owner_prefecture != prefecture:
            raise InvalidInput("county", f"{county} is not in prefecture {prefecture}")
        owner_province = divisions.province_of(county)
        if province is not None and owner_province != province:
            raise InvalidInput("county", f"{county} is not in province {province}")
        province, prefecture = owner_province, owner_prefecture
    return replace(base, province=province, prefecture=prefecture, county=county)


Runtime = Annotated["HubRuntime", Depends(get_runtime)]
ScopeDep = Annotated[Scope, Depends(scope)]
FiltersDep = Annotated[Scope, Depends(filters)]

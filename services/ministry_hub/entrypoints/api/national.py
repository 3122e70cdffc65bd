"""National views for ministry staff: totals, comparison, drill-down and time series."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from contracts.subjects import PROVINCES
from pls import divisions
from pls.deadlines import CHINA
from pls.trust.http import requires
from pls.trust.tokens import Role
from pls.web import InvalidInput, Problem, problem
from services.ministry_hub.adapters.queries import Scope, name_of
from services.ministry_hub.domain.national import FLOW_FIELDS
from services.ministry_hub.entrypoints.api.deps import FiltersDep, Runtime, ScopeDep
from services.ministry_hub.entrypoints.models import (
    AreaRow,
    CaseTotals,
    Comparison,
    Deadlines,
    DrillDown,
    Flows,
    NationalCaseRead,
    NationalSummary,
    ProvinceRow,
    Satisfaction,
    ScopeRead,
    SeriesPoint,
    TimeSeries,
)

router = APIRouter(
    prefix="/v1/national",
    tags=["national"],
    dependencies=[Depends(requires(Role.MINISTRY_STAFF))],
    responses={401: {"model": Problem}, 403: {"model": Problem}, 422: {"model": Problem}},
)


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def _scope_read(scope: Scope) -> ScopeRead:
    return ScopeRead(
        province=scope.province,
        prefecture=scope.prefecture,
        county=scope.county,
        service_type=scope.service_type,
        channel=scope.channel,
        day_from=scope.day_from,
        day_to=scope.day_to,
    )


def _area(code: str, values: dict[str, Any], cls: type[AreaRow] = AreaRow, **extra: Any) -> Any:
    rated = values.get("rated", 0)
    met, late = values.get("deadlines_met", 0), values.get("deadlines_late", 0)
    overdue = values.get("open_overdue", 0)
    return cls(
        code=code,
        name=name_of(code),
        total=values.get("total", 0),
        open=values.get("open", 0),
        opened=values.get("opened", 0),
        concluded=values.get("concluded", 0),
        rated=rated,
        average_overall=round(values.get("rating_sum", 0) / rated, 3) if rated else None,
        satisfied_share=_ratio(values.get("satisfied", 0), rated),
        deadlines_met=met,
        deadlines_late=late,
        open_overdue=overdue,
        deadline_share_met=_ratio(met, met + late + overdue),
        **extra,
    )


def summarise(runtime: Any, scope: Scope) -> NationalSummary:
    queries = runtime.queries
    flows = queries.flows(scope)
    overdue = queries.open_overdue(scope)
    met, late = (flows or {}).get("deadlines_met", 0), (flows or {}).get("deadlines_late", 0)
    satisfaction = None
    if flows is not None:
        rated = flows["rated"]
        satisfaction = Satisfaction(
            rated=rated,
            rating_sum=flows["rating_sum"],
            average_overall=round(flows["rating_sum"] / rated, 3) if rated else None,
            average_attitude=round(flows["attitude_sum"] / rated, 3) if rated else None,
            average_efficiency=round(flows["efficiency_sum"] / rated, 3) if rated else None,
            average_competence=round(flows["competence_sum"] / rated, 3) if rated else None,
            satisfied_share=_ratio(flows["satisfied"], rated),
        )
    return NationalSummary(
        scope=_scope_read(scope),
        cases=CaseTotals(**queries.case_totals(scope)),
        flows=Flows(**{k: flows[k] for k in Flows.model_fields}) if flows is not None else None,
        satisfaction=satisfaction,
        deadlines=Deadlines(
            met=met, late=late, open_overdue=overdue, share_met=_ratio(met, met + late + overdue)
        ),
        as_of=datetime.now(UTC),
    )


@router.get("/summary", response_model=NationalSummary)
async def summary(runtime: Runtime, scope: ScopeDep) -> NationalSummary:
    """Totals by service type, channel, status and outcome; flows, satisfaction and deadlines."""
    return await asyncio.to_thread(summarise, runtime, scope)


@router.get("/provinces", response_model=Comparison)
async def provinces(runtime: Runtime, scope: ScopeDep) -> Comparison:
    """Every province side by side, with how fresh and complete its figures are."""
    if scope.province or scope.below_province:
        raise InvalidInput("province", "the comparison covers all provinces; drill down instead")
    values = await asyncio.to_thread(runtime.queries.by_province, scope)
    freshness = {row.province: row.status for row in (await runtime.freshness()).rows}
    rows = []
    for code in PROVINCES:
        v = values.get(code, {})
        complaints = v.get("complaints", 0)
        rows.append(
            _area(
                code,
                v,
                ProvinceRow,
                complaints=complaints,
                complaints_per_10k=round(complaints * 10_000 / v["total"], 2)
                if v.get("total")
                else None,
                agencies=v.get("agencies", 0),
                freshness=freshness.get(code, "silent"),
            )
        )
    return Comparison(scope=_scope_read(scope), rows=rows, as_of=datetime.now(UTC))


@router.get("/provinces/{province}/prefectures", response_model=DrillDown)
async def prefectures(
    runtime: Runtime,
    scope: FiltersDep,
    province: Annotated[str, Path(description="Province code.")],
) -> DrillDown:
    """One province, prefecture by prefecture."""
    if province not in PROVINCES:
        raise InvalidInput("province", f"{province} is not one of the 32 provincial platform codes")
    scope = replace(scope, province=province)
    values = await asyncio.to_thread(runtime.queries.drill_down, scope, "prefecture")
    codes = divisions.gazetteer().prefectures_by_province.get(province, ())
    rows = [_area(code, values.get(code, {})) for code in codes]
    return DrillDown(
        scope=_scope_read(scope), level="prefecture", rows=rows, as_of=datetime.now(UTC)
    )


@router.get("/prefectures/{prefecture}/counties", response_model=DrillDown)
async def counties(
    runtime: Runtime,
    scope: FiltersDep,
    prefecture: Annotated[str, Path(description="Prefecture-level code.")],
) -> DrillDown:
    """One prefecture, county by county."""
    division = divisions.gazetteer().get(prefecture)
    if division is None or division.level != 2:
        raise InvalidInput("prefecture", f"{prefecture} is not a prefecture-level code")
    scope = replace(scope, province=division.parent, prefecture=prefecture)
    values = await asyncio.to_thread(runtime.queries.drill_down, scope, "county")
    codes = divisions.gazetteer().counties_by_prefecture.get(prefecture, ())
    rows = [_area(code, values.get(code, {})) for code in codes]
    return DrillDown(scope=_scope_read(scope), level="county", rows=rows, as_of=datetime.now(UTC))


@router.get("/timeseries", response_model=TimeSeries)
async def timeseries(
    runtime: Runtime,
    scope: ScopeDep,
    metric: Annotated[
        list[str] | None, Query(description=f"Any of: {', '.join(FLOW_FIELDS)} (default opened)")
    ] = None,
) -> TimeSeries:
    """Daily series of flows (opened, concluded, rated, ...) over a period (default: 30 days)."""
    metric = metric or ["opened"]
    unknown = [m for m in metric if m not in FLOW_FIELDS]
    if unknown:
        raise InvalidInput("metric", f"unknown metric {unknown[0]!r}; use {', '.join(FLOW_FIELDS)}")
    if scope.channel is not None:
        raise InvalidInput("channel", "daily series are not kept per channel")
    if scope.below_province and scope.service_type is not None:
        raise InvalidInput(
            "service_type", "below province level daily series are not kept per service"
        )
    if scope.day_from is None:
        today = datetime.now(CHINA).date()
        scope = replace(scope, day_from=(scope.day_to or today) - timedelta(days=29))
    points = await asyncio.to_thread(runtime.queries.timeseries, scope, list(dict.fromkeys(metric)))
    return TimeSeries(
        scope=_scope_read(scope),
        metrics=list(dict.fromkeys(metric)),
        points=[SeriesPoint(**p) for p in points or []],
    )


@router.get(
    "/cases/{province}/{case_id}",
    response_model=NationalCaseRead,
    responses={404: {"model": Problem, "description": "No such case in the national view"}},
)
async def case(
    runtime: Runtime,
    province: Annotated[str, Path(description="Province code.")],
    case_id: Annotated[str, Path(description="The case id the province gave it.")],
) -> NationalCaseRead | object:
    """One case as counted nationally: where, which service, its state and outcome."""
    if province not in PROVINCES:
        raise InvalidInput("province", f"{province} is not one of the 32 provincial platform codes")
    found = await asyncio.to_thread(runtime.queries.case, province, case_id)
    if found is None:
        return problem(404, f"no case {case_id} from {province} in the national view", "NotFound")
    return NationalCaseRead(**found)

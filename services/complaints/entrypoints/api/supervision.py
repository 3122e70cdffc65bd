"""National supervision of complaints and callbacks: what is overdue, rates, credit records."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response

from contracts.vocabulary import ComplaintCategory
from pls.trust.http import requires
from pls.trust.tokens import Role
from pls.web import Page, Problem, page_beyond_end, problem
from services.complaints.adapters.queries import OverdueFilter
from services.complaints.entrypoints.api.deps import Province, Runtime
from services.complaints.entrypoints.models import (
    AgencyCredit,
    ComplaintSupervisionRead,
    CreditEntry,
    CreditSummaryRead,
    DeadlineRead,
    OverdueRead,
    RateRead,
    Rates,
    RuleRead,
)

router = APIRouter(
    prefix="/v1/supervision",
    tags=["supervision"],
    dependencies=[Depends(requires(Role.MINISTRY_STAFF))],
    responses={
        401: {"model": Problem},
        403: {"model": Problem},
        404: {"model": Problem},
        422: {"model": Problem},
    },
)
LEVELS = ("none", "province", "ministry")


@router.get("/overdue", response_model=Page[OverdueRead])
async def overdue(
    runtime: Runtime,
    province: Province,
    kind: Annotated[
        Literal["complaint", "callback"] | None,
        Query(description="complaint (a handling phase) or callback (after a 1-2 rating)."),
    ] = None,
    agency_id: Annotated[str | None, Query(max_length=64, description="The agency's id.")] = None,
    category: ComplaintCategory | None = None,
    min_days_overdue: Annotated[
        float | None, Query(ge=0, le=3650, description="At least this many days past due.")
    ] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[OverdueRead] | Response:
    """Complaint phases and callbacks past their deadline and still open, longest overdue first."""
    where = OverdueFilter(
        kind=kind,
        province=province,
        agency_id=agency_id,
        category=category.value if category else None,
        min_days_overdue=min_days_overdue,
    )
    now = runtime.clock.now()
    total, rows = await asyncio.to_thread(
        runtime.queries.overdue, where, now, (page - 1) * per_page, per_page
    )
    result = Page[OverdueRead].of(
        [OverdueRead(**row) for row in rows], total=total, page=page, per_page=per_page
    )
    return page_beyond_end(page, result.total_pages, total) or result


@router.get("/rates", response_model=Rates)
async def rates(
    runtime: Runtime,
    province: Province,
    by: Annotated[
        Literal["province", "agency"], Query(description="One row per province or per agency.")
    ] = "province",
) -> Rates:
    """Complaints per 10k services, share handled in time, median days to resolve, share upheld."""
    rows = await asyncio.to_thread(runtime.queries.rates, by, province, runtime.clock.now())
    return Rates(by=by, rows=[RateRead(**row) for row in rows], as_of=datetime.now(UTC))


@router.get("/credit", response_model=Page[CreditSummaryRead])
async def credit_summary(
    runtime: Runtime,
    province: Province,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[CreditSummaryRead] | Response:
    """Agencies with upheld complaints in their credit record, most first."""
    total, rows = await asyncio.to_thread(
        runtime.queries.credit_summary, province, (page - 1) * per_page, per_page
    )
    result = Page[CreditSummaryRead].of(
        [CreditSummaryRead(**row) for row in rows], total=total, page=page, per_page=per_page
    )
    return page_beyond_end(page, result.total_pages, total) or result


@router.get("/agencies/{agency_id}/credit", response_model=AgencyCredit)
async def agency_credit(
    runtime: Runtime,
    province: Province,
    agency_id: Annotated[str, Path(max_length=64, description="The agency's id.")],
) -> AgencyCredit:
    """The agency's credit record: complaints against it or its staff found upheld, with dates."""
    rows = await asyncio.to_thread(runtime.queries.credit, agency_id, province)
    entries = [_credit_entry(row) for row in rows]
    return AgencyCredit(
        agency_id=agency_id,
        upheld=sum(1 for entry in entries if not entry.withdrawn),
        entries=entries,
        as_of=datetime.now(UTC),
    )


def _credit_entry(row: dict[str, Any]) -> CreditEntry:
    return CreditEntry(
        province=row["province"],
        complaint_id=row["complaint_id"],
        against=row["against"],
        person_id=row["person_id"],
        category=row["category"],
        outcome=row["outcome"],
        finding=row["finding"],
        received_at=row["received_at"],
        resolved_at=row["resolved_at"],
        withdrawn=row["credit"] == "withdrawn",
    )


@router.get("/complaints/{province}/{complaint_id}", response_model=ComplaintSupervisionRead)
async def complaint(
    runtime: Runtime,
    province: Annotated[str, Path(pattern=r"^\d{6}$", description="Province code.")],
    complaint_id: Annotated[str, Path(max_length=64)],
) -> ComplaintSupervisionRead | Response:
    """One complaint as supervision sees it: status, outcome and every deadline with its state."""
    found = await asyncio.to_thread(runtime.queries.complaint, province, complaint_id)
    if found is None:
        return problem(404, f"no complaint {complaint_id} from {province}", "NotFound")
    deadlines = [
        DeadlineRead(
            phase=d["phase"],
            rule_id=d["rule_id"],
            round=d["round"],
            started_at=d["started_at"],
            due_at=d["due_at"],
            done_at=d["done_at"],
            met=None if d["met"] is None else bool(d["met"]),
            escalation=LEVELS[d["escalation_level"]],
        )
        for d in found.pop("deadlines")
    ]
    return ComplaintSupervisionRead(**found, deadlines=deadlines)


@router.get("/rules", response_model=list[RuleRead])
async def rules(runtime: Runtime) -> list[RuleRead]:
    """The supervision rules in force: each period, how it counts, and where it comes from."""
    return [
        RuleRead(
            id=rule.id,
            phase=rule.phase.value,
            days=rule.days,
            count=rule.count.value,
            escalate_after=rule.escalate_after,
            categories=list(rule.categories),
            service_types=list(rule.service_types),
            certainty=rule.certainty,
            basis=rule.basis,
            provinces={k: v.model_dump(exclude_none=True) for k, v in rule.provinces.items()},
        )
        for rule in runtime.rules.rules
    ]

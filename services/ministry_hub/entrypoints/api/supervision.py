"""Freshness and completeness per province, and the dead-letter store."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from contracts.subjects import ORIGINS
from pls.trust.http import requires
from pls.trust.tokens import Role
from pls.web import InvalidInput, Page, Problem, page_beyond_end
from services.ministry_hub.entrypoints.api.deps import Runtime
from services.ministry_hub.entrypoints.models import DeadLetterRead, Freshness

router = APIRouter(
    prefix="/v1",
    tags=["supervision"],
    dependencies=[Depends(requires(Role.MINISTRY_STAFF))],
    responses={401: {"model": Problem}, 403: {"model": Problem}},
)


@router.get("/national/freshness", response_model=Freshness)
async def freshness(runtime: Runtime) -> Freshness:
    """Per province: last event, lag, gaps, checkpoint verification; complete, behind, silent, diverged."""
    return await runtime.freshness()


@router.get("/dead-letters", response_model=Page[DeadLetterRead])
async def dead_letters(
    runtime: Runtime,
    origin: str | None = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[DeadLetterRead] | Response:
    """Every refused delivery with its reason, source and time, newest first."""
    if origin is not None and origin not in ORIGINS:
        raise InvalidInput("origin", f"{origin} is not a province code or moj")
    total, rows = await asyncio.to_thread(
        runtime.queries.dead_letters, origin, (page - 1) * per_page, per_page
    )
    letters = [
        DeadLetterRead(**{**row, "body": bytes(row["body"])[:4096].decode("utf-8", "replace")})
        for row in rows
    ]
    result = Page[DeadLetterRead].of(letters, total=total, page=page, per_page=per_page)
    return page_beyond_end(page, result.total_pages, total) or result

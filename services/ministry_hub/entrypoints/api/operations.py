"""Operating the hub: re-applying a province from its journal, swapping in a rebuilt read model.

These change what the national view is computed from: they need the `federation_operator` role.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, status
from pydantic import BaseModel, Field

from contracts.subjects import ORIGINS
from pls.trust.http import requires
from pls.trust.tokens import Role
from pls.web import InvalidInput, Problem, problem
from services.ministry_hub.entrypoints.api.deps import Runtime

router = APIRouter(
    prefix="/v1/admin",
    tags=["operations"],
    dependencies=[Depends(requires(Role.FEDERATION_OPERATOR))],
    responses={401: {"model": Problem}, 403: {"model": Problem}},
)


class ResyncRead(BaseModel):
    province: str
    started: bool = Field(description="False when a resync cannot be done (no journal URL).")


class PromoteCreate(BaseModel):
    keep_previous: bool = Field(
        default=False, description="Keep the replaced read model beside the new one."
    )


class PromoteRead(BaseModel):
    store: str
    sequences: dict[str, int]


class ReadModelRead(BaseModel):
    store: str
    rebuilt_ready: bool = Field(description="A rebuilt read model waits beside the live one.")
    rebuilt_store: str


@router.post(
    "/sources/{province}/resync",
    response_model=ResyncRead,
    status_code=status.HTTP_202_ACCEPTED,
)
async def resync(province: str, runtime: Runtime) -> ResyncRead:
    """Forget a province's national rows and apply its whole history again from its journal."""
    if province not in ORIGINS:
        raise InvalidInput("province", f"{province} is not a province code")
    started = await runtime.applier.resync(province)
    if started:
        runtime.applier.fetch_from_journal(province, 0, None)
    return ResyncRead(province=province, started=started)


@router.get("/read-model", response_model=ReadModelRead)
async def read_model(runtime: Runtime) -> ReadModelRead:
    """Where the national read model lives, and whether a rebuilt one waits to be swapped in."""
    fresh = runtime.store.beside()
    return ReadModelRead(
        store=runtime.store.describe(),
        rebuilt_ready=await asyncio.to_thread(fresh.exists),
        rebuilt_store=fresh.describe(),
    )


@router.post(
    "/read-model/promote",
    response_model=PromoteRead,
    responses={404: {"description": "Nothing rebuilt"}, 409: {"description": "Rebuilt is behind"}},
)
async def promote(body: PromoteCreate, runtime: Runtime) -> PromoteRead | object:
    """Swap in the read model rebuilt by `pls hub rebuild`, while the live one keeps serving."""
    from services.ministry_hub.bootstrap import RebuildBehind, RebuildMissing

    try:
        result = await runtime.promote_rebuild(keep_previous=body.keep_previous)
    except RebuildMissing as error:
        return problem(404, str(error), "NothingRebuilt")
    except RebuildBehind as error:
        return problem(409, str(error), "RebuildBehind")
    return PromoteRead(**result)

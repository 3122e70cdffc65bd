"""The operator's HTTP side of a rebuild: where a service's read model lives, whether a rebuilt
one waits beside it, and swapping that one in while the service keeps serving.

Any service whose runtime has a `store` and a `promote_rebuild(keep_previous=...)` includes
`router`; it needs the `federation_operator` role, as it changes what the service answers from.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from pls.rebuild import RebuildBehind, RebuildMissing, Store
from pls.trust.http import requires
from pls.trust.tokens import Role
from pls.web import Problem, problem


class Rebuildable(Protocol):
    @property
    def store(self) -> Store: ...

    async def promote_rebuild(self, *, keep_previous: bool = False) -> dict[str, Any]: ...


def _runtime(request: Request) -> Rebuildable:
    runtime: Rebuildable = request.app.state.runtime
    return runtime


Runtime = Annotated[Rebuildable, Depends(_runtime)]

router = APIRouter(
    prefix="/v1/admin",
    tags=["operations"],
    dependencies=[Depends(requires(Role.FEDERATION_OPERATOR))],
    responses={401: {"model": Problem}, 403: {"model": Problem}},
)


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


@router.get("/read-model", response_model=ReadModelRead)
async def read_model(runtime: Runtime) -> ReadModelRead:
    """Where the read model lives, and whether a rebuilt one waits to be swapped in."""
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
    """Swap in the read model rebuilt by `pls <service> rebuild`, while the live one serves."""
    try:
        result = await runtime.promote_rebuild(keep_previous=body.keep_previous)
    except RebuildMissing as error:
        return problem(404, str(error), "NothingRebuilt")
    except RebuildBehind as error:
        return problem(409, str(error), "RebuildBehind")
    return PromoteRead(**result)

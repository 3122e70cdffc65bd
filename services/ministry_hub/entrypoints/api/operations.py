"""Operating the hub: re-applying a province from its journal (a rebuilt read model is swapped in
through `pls.rebuild_http`).

These change what the national view is computed from: they need the `federation_operator` role.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, status
from pydantic import BaseModel, Field

from contracts.subjects import ORIGINS
from pls.trust.http import requires
from pls.trust.tokens import Role
from pls.web import InvalidInput, Problem
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

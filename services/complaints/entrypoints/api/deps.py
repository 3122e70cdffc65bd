"""Dependencies of the supervision API: the runtime, and checked filters."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Query, Request

from contracts.subjects import PROVINCES
from pls.web import InvalidInput

if TYPE_CHECKING:
    from services.complaints.bootstrap import ComplaintsRuntime


def get_runtime(request: Request) -> ComplaintsRuntime:
    return request.app.state.runtime


def province_filter(
    province: Annotated[
        str | None, Query(description="Province code (660000 for the Corps).")
    ] = None,
) -> str | None:
    if province is not None and province not in PROVINCES:
        raise InvalidInput("province", f"{province} is not one of the 32 provincial platform codes")
    return province


Runtime = Annotated["ComplaintsRuntime", Depends(get_runtime)]
Province = Annotated[str | None, Depends(province_filter)]

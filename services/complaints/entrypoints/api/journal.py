"""The ministry's publication journal over HTTP: what `pls.moj.*` consumers fetch when the bus
lost it, in sequence order and exactly as published, as from a province node's journal.

The directory reads it to fill gaps in the upheld complaints it shows, and to rebuild its credit
records when the `PLS_MOJ` stream lacks history. Reading needs a federation service's, the
ministry staff's or an operator's token.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, Field

from contracts.subjects import MINISTRY
from pls.publication.journal import journal_page
from pls.trust.http import requires
from pls.trust.tokens import Role
from pls.web import Problem
from services.complaints.entrypoints.api.deps import Runtime

router = APIRouter(
    prefix="/v1",
    tags=["publication"],
    dependencies=[
        Depends(requires(Role.FEDERATION_SERVICE, Role.MINISTRY_STAFF, Role.FEDERATION_OPERATOR))
    ],
    responses={401: {"model": Problem}, 403: {"model": Problem}},
)


class JournalHead(BaseModel):
    origin: str
    sequence: int
    running_hash: str
    at_sequence: int | None = Field(
        default=None, description="The sequence asked for with `at`, when the journal has it."
    )
    at_running_hash: str | None = Field(
        default=None, description="The running hash through `at_sequence`."
    )


@router.get("/journal", responses={200: {"content": {"application/json": {}}}})
def journal(
    runtime: Runtime,
    after: Annotated[
        int, Query(ge=0, le=2**62, description="Return events with a sequence above this.")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> Response:
    """Published decisions in sequence order, exactly as published, for consumers to fill gaps."""
    store = runtime.publication.store
    return Response(journal_page(store, after, limit), media_type="application/json")


@router.get("/journal/head", response_model=JournalHead)
def journal_head(
    runtime: Runtime,
    at: Annotated[
        int | None,
        Query(ge=0, le=2**62, description="Also give the running hash through this sequence."),
    ] = None,
) -> JournalHead:
    """The last published sequence and the running hash through it (and through `at`)."""
    store = runtime.publication.store
    sequence, running_hash = store.journal_head()
    at_hash = store.journal_hash_at(at) if at is not None else None
    return JournalHead(
        origin=MINISTRY,
        sequence=sequence,
        running_hash=running_hash,
        at_sequence=at if at_hash is not None else None,
        at_running_hash=at_hash,
    )

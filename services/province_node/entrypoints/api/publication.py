"""The node's statistics about itself, its publication journal, checkpoints and relay status.

The journal is how any consumer fetches what the bus lost: paged, in sequence order, each event
exactly as published. Reading needs a token of the province's operators, the ministry's staff or
a federation service; asking for a checkpoint or rewinding the relay needs an operator.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from contracts.vocabulary import Channel, ServiceType
from pls.publication.journal import Journal, journal_page
from pls.web import InvalidInput, Problem
from services.province_node.adapters.views import RELAY, CaseFilter
from services.province_node.entrypoints.api.deps import (
    Runtime,
    Views,
    publication_operator,
    reader_of_publications,
)
from services.province_node.entrypoints.models import (
    CaseStatistics,
    JournalHead,
    RatingSummary,
    RelayRewind,
    RelayStatus,
)

router = APIRouter(
    prefix="/v1",
    tags=["publication"],
    dependencies=[Depends(reader_of_publications)],
    responses={401: {"model": Problem}, 403: {"model": Problem}},
)


@router.get("/statistics", response_model=CaseStatistics)
def statistics(
    runtime: Runtime,
    service_type: ServiceType | None = None,
    channel: Channel | None = None,
    county: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
) -> CaseStatistics:
    """What this province reports about itself: cases by status, service, channel, outcome; ratings."""
    stats = runtime.views.case_statistics(
        CaseFilter(service_type=service_type, channel=channel, county=county)
    )
    ratings = stats.pop("ratings")
    count = ratings["count"]
    return CaseStatistics(
        province=runtime.settings.province,
        **stats,
        ratings=RatingSummary(
            **ratings,
            average_overall=ratings["overall_sum"] / count if count else None,
            satisfied_share=ratings["satisfied"] / count if count else None,
        ),
    )


@router.get(
    "/journal",
    responses={200: {"content": {"application/json": {}}}},
)
def journal(
    views: Views,
    after: Annotated[
        int, Query(ge=0, le=2**62, description="Return events with a sequence above this.")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> Response:
    """Published events in sequence order, exactly as published, for consumers to fill gaps."""
    return Response(journal_page(views, after, limit), media_type="application/json")


@router.get("/journal/head", response_model=JournalHead)
def journal_head(
    runtime: Runtime,
    at: Annotated[
        int | None,
        Query(ge=0, le=2**62, description="Also give the running hash through this sequence."),
    ] = None,
) -> JournalHead:
    """The last published sequence and the running hash through it (and through `at`)."""
    sequence, running_hash = runtime.views.journal_head()
    at_hash = runtime.views.journal_hash_at(at) if at is not None else None
    return JournalHead(
        province=runtime.settings.province,
        sequence=sequence,
        running_hash=running_hash,
        at_sequence=at if at_hash is not None else None,
        at_running_hash=at_hash,
    )


@router.post(
    "/checkpoints",
    status_code=status.HTTP_202_ACCEPTED,
    dependencies=[Depends(publication_operator)],
)
def request_checkpoint(runtime: Runtime) -> dict[str, str]:
    """Publish a checkpoint now rather than at the next interval."""
    runtime.projection.request_checkpoint()
    return {"status": "requested"}


@router.get("/relay", response_model=RelayStatus)
def relay_status(runtime: Runtime) -> RelayStatus:
    """How far the relay has published the journal to JetStream."""
    relay = runtime.relay
    head = runtime.projection.journal.sequence
    if relay is None:
        # The relay runs as its own process (`pls relay`): its saved position tells how far.
        position = runtime.views.position(RELAY)
        return RelayStatus(
            runs="elsewhere",
            connected=None,
            position=position,
            journal_sequence=head,
            lag=max(0, head - position),
            last_error=None,
            last_published_at=None,
        )
    return RelayStatus(
        connected=relay.connected,
        position=relay.position,
        journal_sequence=head,
        lag=max(0, head - relay.position),
        last_error=relay.last_error,
        last_published_at=relay.last_published_at,
    )


@router.post(
    "/relay/rewind", response_model=RelayStatus, dependencies=[Depends(publication_operator)]
)
def rewind_relay(body: RelayRewind, runtime: Runtime) -> RelayStatus:
    """Publish the journal again after a sequence (the stream and consumers drop duplicates)."""
    head = runtime.projection.journal.sequence
    if body.after > head:
        raise InvalidInput("after", f"{body.after} is beyond the journal, which ends at {head}")
    if runtime.relay is not None:
        runtime.relay.rewind(body.after)
    else:
        with runtime.views.db.transaction() as cursor:
            Journal.save_position(cursor, RELAY, body.after)
    return relay_status(runtime)

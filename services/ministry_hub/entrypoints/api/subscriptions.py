"""The subscribing government systems: what each was granted, and how far each has read.

Grants live in the federation registry (changed there, then `pls nats-config`); this shows them
with the progress of each subscriber's durable consumer on every stream it may read, so a
subscriber administrator sees who is falling behind.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from fastapi import APIRouter, Depends, HTTPException, status
from nats.js.errors import NotFoundError
from pydantic import BaseModel, Field

from contracts.subjects import ORIGINS, stream_name
from pls.trust.http import requires
from pls.trust.natsconfig import granted_subjects
from pls.trust.registry import Member, MemberKind
from pls.trust.tokens import Role
from pls.web import Problem
from services.ministry_hub.entrypoints.api.deps import Runtime

router = APIRouter(
    prefix="/v1/subscriptions",
    tags=["subscriptions"],
    dependencies=[Depends(requires(Role.SUBSCRIBER_ADMIN, Role.MINISTRY_STAFF))],
    responses={401: {"model": Problem}, 403: {"model": Problem}},
)

INFO_TIMEOUT = 2.0


class StreamReadingRead(BaseModel):
    origin: str
    stream: str
    subjects: list[str] = Field(description="The granted subjects of this origin.")
    consumer: bool = Field(description="Whether the subscriber has a durable consumer here.")
    delivered: int | None = Field(None, description="Last stream sequence delivered to it.")
    acknowledged: int | None = Field(None, description="Stream sequence acknowledged through.")
    pending: int | None = Field(None, description="Granted messages not yet delivered.")
    unacknowledged: int | None = Field(None, description="Delivered but not acknowledged.")
    last_active: datetime | None = None


class SubscriptionRead(BaseModel):
    member_id: str
    name: str
    grants: list[str]
    bus_reachable: bool = Field(description="False: consumer progress could not be read now.")
    streams: list[StreamReadingRead]


def _subscribers(runtime: Runtime) -> list[Member]:
    registry = runtime.common.registry()
    return [m for m in registry.members if m.kind is MemberKind.SUBSCRIBER]


async def _reading(runtime: Runtime, member: Member, origin: str) -> StreamReadingRead:
    stream = stream_name(origin)
    reading = StreamReadingRead(
        origin=origin, stream=stream, subjects=granted_subjects(member, origin), consumer=False
    )
    assert runtime.client is not None
    try:
        info = await runtime.client.jetstream(timeout=INFO_TIMEOUT).consumer_info(stream, member.id)
    except NotFoundError:
        return reading
    delivered, acked = info.delivered, info.ack_floor
    return reading.model_copy(
        update={
            "consumer": True,
            "delivered": delivered.stream_seq if delivered else None,
            "acknowledged": acked.stream_seq if acked else None,
            "pending": info.num_pending,
            "unacknowledged": info.num_ack_pending,
            "last_active": delivered.last_active if delivered else None,
        }
    )


async def _subscription(runtime: Runtime, member: Member) -> SubscriptionRead:
    origins = [o for o in ORIGINS if granted_subjects(member, o)]
    reachable = runtime.connected and runtime.client is not None
    if reachable:
        try:
            streams = list(await asyncio.gather(*(_reading(runtime, member, o) for o in origins)))
        except Exception:  # the bus went away mid-question: say so rather than fail
            reachable = False
    if not reachable:
        streams = [
            StreamReadingRead(
                origin=o,
                stream=stream_name(o),
                subjects=granted_subjects(member, o),
                consumer=False,
            )
            for o in origins
        ]
    return SubscriptionRead(
        member_id=member.id,
        name=member.name,
        grants=list(member.grants),
        bus_reachable=reachable,
        streams=streams,
    )


@router.get("", response_model=list[SubscriptionRead])
async def subscriptions(runtime: Runtime) -> list[SubscriptionRead]:
    """Every subscribing system with its grants and its consumers' progress on each stream."""
    return [await _subscription(runtime, m) for m in _subscribers(runtime)]


@router.get("/{member_id}", response_model=SubscriptionRead, responses={404: {"model": Problem}})
async def subscription(member_id: str, runtime: Runtime) -> SubscriptionRead:
    """One subscribing system: its grants and its consumers' progress on each stream."""
    for member in _subscribers(runtime):
        if member.id == member_id:
            return await _subscription(runtime, member)
    raise HTTPException(status.HTTP_404_NOT_FOUND, f"no subscribing system {member_id!r}")

"""Loading contract events straight into the directory, through the same intake and projection a
stream delivers them to. For national-scale simulations and the benchmark, where a million
registrations through province nodes would take hours; correctness of the real path is tested
end to end."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from contracts.envelope import build_event, canonical_bytes
from contracts.events.base import EventData
from contracts.registry import REGISTRY
from contracts.subjects import MINISTRY
from pls.intake.intake import Delivery, Intake
from services.directory.application.projection import DirectoryProjection, interested_in


def encode(
    events: Iterable[tuple[str, EventData]], after: dict[str, int], *, prefix: str = "sim"
) -> Iterable[Delivery]:
    """CloudEvents for (origin, event) pairs, numbered on from each origin's last sequence."""
    sequences = {origin: itertools.count(position + 1) for origin, position in after.items()}
    now = datetime.now(UTC)
    for origin, data in events:
        sequence = next(sequences.setdefault(origin, itertools.count(1)))
        service = "complaints" if origin == MINISTRY else "province-node"
        body = build_event(
            data,
            origin=origin,
            service=service,
            subject=REGISTRY.of(data).subject(origin),
            event_id=f"{prefix}-{origin}-{sequence}",
            sequence=sequence,
            time=now,
        )
        yield Delivery(origin=origin, subject=None, body=canonical_bytes(body), via="load")


def load(
    projection: DirectoryProjection,
    events: Iterable[tuple[str, EventData]],
    *,
    batch: int = 2000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Apply events in batches of `batch`, one transaction each; returns how many were offered."""
    intake = Intake(projection.sources(), interested_in=interested_in)
    after = {origin: state.sequence for origin, state in intake.sources.items()}
    offered = 0
    for delivery in encode(events, after):
        intake.offer(delivery)
        offered += 1
        if offered % batch == 0:
            _commit(projection, intake)
            if progress is not None:
                progress(offered)
    _commit(projection, intake)
    if progress is not None:
        progress(offered)
    return offered


def _commit(projection: DirectoryProjection, intake: Intake) -> None:
    taken = intake.take()
    if taken:
        projection.commit(taken)
        intake.committed(taken)

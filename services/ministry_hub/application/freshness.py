"""How long after it happened at its province each event reached the national read model."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import Histogram

from pls.intake.intake import Batch, SourceState
from services.ministry_hub.application.projection import NationalProjection

FRESHNESS = Histogram(
    "pls_hub_event_freshness_seconds",
    "From an event's time at its province (when its command was stored) to its batch being "
    "committed to the national read model. Events fetched late from a journal count with their "
    "full age.",
    buckets=(
        0.01,
        0.025,
        0.05,
        0.075,
        0.1,
        0.15,
        0.2,
        0.3,
        0.4,
        0.5,
        0.75,
        1.0,
        1.5,
        2.0,
        3.0,
        5.0,
        10.0,
        30.0,
        60.0,
        300.0,
    ),
)


class FreshnessObserved:
    """The live national projection, observing each applied event's age once its batch is
    committed (a rebuild beside the live read model is not observed: its events are old)."""

    def __init__(self, projection: NationalProjection) -> None:
        self.projection = projection

    def sources(self) -> list[SourceState]:
        return self.projection.sources()

    def reset(self, origin: str) -> SourceState:
        return self.projection.reset(origin)

    def commit(self, batch: Batch) -> None:
        self.projection.commit(batch)
        now = datetime.now(UTC)
        for item in batch.events:
            FRESHNESS.observe(max(0.0, (now - item.envelope.time).total_seconds()))

"""The applier: deliveries from every source, through intake, into a read model in batches.

One task takes deliveries off the queue, offers them to the intake, writes what is ready in one
transaction and only then acknowledges it. Gaps that the stream does not fill in time are
backfilled from the province node's journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import structlog
from prometheus_client import Counter, Gauge, Histogram

from pls.intake.intake import Batch, Delivery, Intake, SourceState
from pls.tasks import cancel_and_wait
from pls.telemetry import exporting, record_span
from pls.trust.registry import FederationRegistry

log = structlog.get_logger(__name__)

APPLIED = Counter("pls_hub_applied_total", "Events applied to the national read model", ["origin"])
DEAD_LETTERS = Counter("pls_hub_dead_letters_total", "Deliveries dead-lettered", ["origin"])
DUPLICATES = Counter("pls_hub_duplicates_total", "Deliveries dropped as already applied")
BACKFILLED = Counter(
    "pls_hub_backfilled_total", "Events fetched from province journals", ["origin"]
)
GAPS = Gauge("pls_hub_gap_held", "Events held behind a sequence gap", ["origin"])
BATCH_SECONDS = Histogram(
    "pls_hub_batch_seconds",
    "Time to write one batch",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)


class Projection(Protocol):
    """A read model's writer: one batch, its dead letters and its sources' positions, atomically."""

    def commit(self, batch: Batch) -> None: ...

    def sources(self) -> list[SourceState]: ...


Fetch = Callable[[str, int, int], Awaitable[list[Delivery]]]
Acknowledge = Callable[[list[Any]], Awaitable[None]]


class Applier:
    def __init__(
        self,
        projection: Projection,
        queue: asyncio.Queue[Delivery],
        acknowledge: Acknowledge,
        *,
        backfill: Fetch | None = None,
        max_batch: int = 2000,
        linger: float = 0.005,
        gap_timeout: float = 3.0,
        backfill_limit: int = 1000,
        interested_in: Callable[[str], bool] | None = None,
        name: str = "hub",
        registry: FederationRegistry | None = None,
    ) -> None:
        self.name = name
        self.registry = registry
        self.projection = projection
        self.queue = queue
        self.acknowledge = acknowledge
        self.backfill = backfill
        self.max_batch = max_batch
        self.linger = linger
        self.gap_timeout = gap_timeout
        self.backfill_limit = backfill_limit
        self.intake = Intake(projection.sources(), interested_in=interested_in, registry=registry)
        self.last_error: str | None = None
        self.backfill_errors: dict[str, str] = {}
        self._backfilling: dict[str, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()

    def position_of(self, origin: str) -> int:
        state = self.intake.sources.get(origin)
        return state.stream_position if state else 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="applier")

    async def stop(self) -> None:
        await cancel_and_wait([self._task, *self._backfilling.values()])

    async def run(self) -> None:
        while True:
            deliveries = await self._collect()
            for delivery in deliveries:
                self.intake.offer(delivery)
            await self.flush()
            self._watch_gaps()

    async def _collect(self) -> list[Delivery]:
        try:
            first = await asyncio.wait_for(self.queue.get(), timeout=0.5)
        except TimeoutError:
            self._idle.set()
            return []
        self._idle.clear()
        deliveries = [first]
        deadline = time.monotonic() + self.linger
        while len(deliveries) < self.max_batch:
            try:
                deliveries.append(self.queue.get_nowait())
            except asyncio.QueueEmpty:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    deliveries.append(await asyncio.wait_for(self.queue.get(), remaining))
                except TimeoutError:
                    break
        return deliveries

    async def flush(self) -> None:
        batch = self.intake.take()
        if not batch:
            return
        started = time.perf_counter()
        try:
            await asyncio.to_thread(self._commit, batch)
        except Exception as error:
            self.last_error = repr(error)
            log.exception("writing a batch failed; resuming from the stored positions")
            self.intake.rolled_back(await asyncio.to_thread(self.projection.sources))
            await asyncio.sleep(1.0)
            return
        self.last_error = None
        BATCH_SECONDS.observe(time.perf_counter() - started)
        self.intake.committed(batch)
        await self.acknowledge(batch.handles)
        for event in batch.events:
            APPLIED.labels(event.origin).inc()
        for letter in batch.dead_letters:
            DEAD_LETTERS.labels(letter.origin or "unknown").inc()
        DUPLICATES.inc(self.intake.duplicates_dropped)
        self.intake.duplicates_dropped = 0

    def _commit(self, batch: Batch) -> None:
        started = time.time_ns()
        self.projection.commit(batch)
        if exporting():
            for event in batch.events:
                record_span(
                    f"{self.name} apply",
                    event.envelope.traceparent,
                    __name__,
                    started,
                    event_id=event.envelope.id,
                    origin=event.origin,
                    type=event.envelope.type,
                )

    # -- gaps ----------------------------------------------------------------------------------

    def _watch_gaps(self) -> None:
        now = time.monotonic()
        held = {gap.origin: gap for gap in self.intake.gaps()}
        for origin in list(self._backfilling):
            if self._backfilling[origin].done():
                del self._backfilling[origin]
        for origin in set(self.intake.sources) | set(held):
            GAPS.labels(origin).set(self.intake.held_count(origin))
        if self.backfill is None:
            return
        for gap in held.values():
            if now - gap.since >= self.gap_timeout and gap.origin not in self._backfilling:
                self._backfilling[gap.origin] = asyncio.create_task(
                    self._backfill(gap.origin, gap.expected, gap.missing),
                    name=f"backfill-{gap.origin}",
                )

    async def _backfill(self, origin: str, expected: int, missing: int) -> None:
        assert self.backfill is not None
        log.warning(
            "sequence gap; backfilling from the province journal",
            origin=origin,
            expected=expected,
            missing=missing,
        )
        try:
            deliveries = await self.backfill(
                origin, expected - 1, min(missing, self.backfill_limit)
            )
        except Exception as error:
            self.backfill_errors[origin] = repr(error)
            log.warning("backfill failed; the gap stays held", origin=origin, error=repr(error))
            await asyncio.sleep(self.gap_timeout)
            return
        self.backfill_errors.pop(origin, None)
        BACKFILLED.labels(origin).inc(len(deliveries))
        for delivery in deliveries:
            await self.queue.put(delivery)

    def gaps(self) -> dict[str, dict[str, Any]]:
        return {
            gap.origin: {
                "expected": gap.expected,
                "first_held": gap.first_held,
                "held": self.intake.held_count(gap.origin),
                "seconds": round(time.monotonic() - gap.since, 1),
                "backfill_error": self.backfill_errors.get(gap.origin),
            }
            for gap in self.intake.gaps()
        }

    async def wait_idle(self, timeout: float = 10.0) -> bool:
        """For tests and tools: until the queue has been empty for a moment."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        return False

"""The applier: deliveries from every source, through intake, into a read model in batches.

One task takes deliveries off the queue, offers them to the intake, writes what is ready in one
transaction and only then acknowledges it. What the stream does not deliver (a gap it does not
fill in time, a doubtful event, a tail it lost) is fetched from the province node's journal.
Anything else that must not interleave with a batch (resetting a source, swapping the read model)
runs between batches through `exclusively`. Stopping finishes the batch in flight and writes and
acknowledges what was already taken off the bus, so every position is saved.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

import structlog
from prometheus_client import Counter, Gauge, Histogram

from pls.intake.backfill import JournalPage
from pls.intake.intake import Batch, Delivery, Intake, Prepared, SourceState
from pls.tasks import cancel_and_wait
from pls.telemetry import exporting, record_span
from pls.trust.registry import FederationRegistry
from pls.trust.signing import signature_problem

log = structlog.get_logger(__name__)
T = TypeVar("T")

APPLIED = Counter("pls_hub_applied_total", "Events applied to the national read model", ["origin"])
DEAD_LETTERS = Counter("pls_hub_dead_letters_total", "Deliveries dead-lettered", ["origin"])
DUPLICATES = Counter("pls_hub_duplicates_total", "Deliveries dropped as already applied")
BACKFILLED = Counter(
    "pls_hub_backfilled_total", "Events fetched from province journals", ["origin"]
)
RESYNCS = Counter(
    "pls_hub_resyncs_total", "Sources reset and re-applied from their journal", ["origin"]
)
GAPS = Gauge("pls_hub_gap_held", "Events held behind a sequence gap", ["origin"])
QUEUE = Gauge("pls_hub_queue_depth", "Deliveries waiting to be offered to the intake")
BATCH_SECONDS = Histogram(
    "pls_hub_batch_seconds",
    "Time to write one batch",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)


class Projection(Protocol):
    """A read model's writer: one batch, its dead letters and its sources' positions, atomically."""

    def commit(self, batch: Batch) -> None: ...

    def sources(self) -> list[SourceState]: ...


class Resettable(Protocol):
    """A projection that can forget one source: its rows go and its position starts again at 0
    (keeping its stream position), in one transaction. Needed to repair a diverged source."""

    def reset(self, origin: str) -> SourceState: ...


Fetch = Callable[[str, int, int], Awaitable[JournalPage]]
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
        max_journal_reads: int = 4,
        max_held: int = 50_000,
        interested_in: Callable[[str], bool] | None = None,
        name: str = "hub",
        registry: FederationRegistry | None = None,
        verifiers: int = os.cpu_count() or 2,
    ) -> None:
        self.name = name
        self.registry = registry
        self.verifiers = max(1, verifiers)
        self._verifying = ThreadPoolExecutor(self.verifiers, thread_name_prefix=f"{name}-verify")
        self.projection = projection
        self.queue = queue
        self.acknowledge = acknowledge
        self.backfill = backfill
        self.max_batch = max_batch
        self.linger = linger
        self.gap_timeout = gap_timeout
        self.backfill_limit = backfill_limit
        # Pages of journal being read and queued at once, over all sources: each holds up to
        # `backfill_limit` events in memory while it waits for room in the queue.
        self._journal_reads = asyncio.Semaphore(max(1, max_journal_reads))
        self.intake = Intake(
            projection.sources(),
            max_held=max_held,
            interested_in=interested_in,
            verify_doubtful=backfill is not None,
            registry=registry,
        )
        self.last_error: str | None = None
        self.backfill_errors: dict[str, str] = {}
        self._backfilling: dict[str, asyncio.Task[None]] = {}
        self._fetched_at: dict[str, float] = {}
        self._verdicts: list[tuple[str, int, float]] = []
        self._controls: list[tuple[Callable[[], Awaitable[Any]], asyncio.Future[Any]]] = []
        self._control_added = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._writing: tuple[asyncio.Task[float], Batch, bool] | None = None
        self._idle = asyncio.Event()
        self._stopping = False

    def position_of(self, origin: str) -> int:
        state = self.intake.sources.get(origin)
        return state.stream_position if state else 0

    def state_of(self, origin: str) -> SourceState:
        """What is committed for `origin` (what a restart would resume from)."""
        return self.intake.sources.get(origin) or SourceState(origin)

    async def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self.run(), name=f"{self.name}-applier")

    async def stop(self, *, drain: bool = True, timeout: float = 20.0) -> None:
        """Finish the batch in flight; with `drain`, also write what is already queued."""
        self._stopping = True
        self._control_added.set()
        await cancel_and_wait(list(self._backfilling.values()))
        if self._task is not None and not self._task.done():
            with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(self._task), timeout)
        await cancel_and_wait([self._task])
        self._verifying.shutdown(wait=False)
        for _, future in self._controls:
            if not future.done():
                future.set_exception(RuntimeError("the applier stopped"))
        self._controls.clear()
        if drain:
            await self.drain()

    async def drain(self) -> None:
        """Offer everything queued and write it, so that it is acknowledged and its position kept."""
        while True:
            deliveries = []
            while True:
                try:
                    deliveries.append(self.queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            for delivery in deliveries:
                self.intake.offer(delivery)
            await self.flush(retry=False)
            if not deliveries:
                return

    async def run(self) -> None:
        while not self._stopping:
            if self._controls or self.queue.empty():
                await self._written()  # nothing to overlap it with: settle it now
            await self._run_controls()
            deliveries = await self._collect()
            if not deliveries:
                await self._written()
                self._idle.set()
            for delivery, prepared in zip(deliveries, await self._prepare(deliveries), strict=True):
                self.intake.offer(delivery, prepared)
            self._take_verdicts()
            # The next batch is collected, authenticated and offered while this one is written.
            await self.flush(wait=False)
            self._watch_gaps()
            QUEUE.set(self.queue.qsize())
        await self._written()

    async def _prepare(self, deliveries: list[Delivery]) -> list[Prepared]:
        """Decode and authenticate a batch: signatures that must be checked one by one are
        checked in parallel worker threads (see `Intake.prepare_batch`)."""
        if len(deliveries) < 64:
            return self.intake.prepare_batch(deliveries)
        return await asyncio.to_thread(self.intake.prepare_batch, deliveries, self._verify)

    def _verify(self, items: list[tuple[dict[str, Any], str]]) -> list[str | None]:
        assert self.registry is not None
        if len(items) < 64:
            return [signature_problem(value, origin, self.registry) for value, origin in items]
        size = -(-len(items) // self.verifiers)
        chunks = [items[i : i + size] for i in range(0, len(items), size)]
        parts = self._verifying.map(_problems, [self.registry] * len(chunks), chunks)
        return [problem for part in parts for problem in part]

    async def _collect(self) -> list[Delivery]:
        first: Delivery | None
        try:
            first = self.queue.get_nowait()
        except asyncio.QueueEmpty:
            first = await self._wait_for_delivery()
        if first is None:
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

    async def _wait_for_delivery(self) -> Delivery | None:
        """The next delivery, or None after a while or when other work is waiting."""
        getting = asyncio.ensure_future(self.queue.get())
        controlling = asyncio.ensure_future(self._control_added.wait())
        try:
            await asyncio.wait(
                {getting, controlling}, timeout=0.5, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            controlling.cancel()
            if not getting.done():
                getting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await getting
        if getting.done() and not getting.cancelled():
            return getting.result()
        return None

    async def flush(self, *, retry: bool = True, wait: bool = True) -> None:
        """Write what is ready, once the batch still being written (if any) is written; with
        `wait`, return only once this one is written and acknowledged too."""
        await self._written()
        batch = self.intake.take()
        if not batch:
            return
        task = asyncio.create_task(self._write(batch), name=f"{self.name}-write")
        self._writing = (task, batch, retry)
        if wait:
            await self._written()

    async def _write(self, batch: Batch) -> float:
        started = time.perf_counter()
        await asyncio.to_thread(self._commit, batch)
        return time.perf_counter() - started

    async def _written(self) -> None:
        """Settle the batch being written: acknowledge it, or start again from what is stored."""
        writing = self._writing
        if writing is None:
            return
        task, batch, retry = writing
        try:
            # Shielded: if the applier is stopped meanwhile, the write goes on and is settled by
            # the drain that follows.
            seconds = await asyncio.shield(task)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self._writing = None
            self.last_error = repr(error)
            log.exception("writing a batch failed; resuming from the stored positions")
            # What was offered after it is dropped too: none of it is acknowledged, so the
            # stream delivers it again.
            self.intake.rolled_back(await asyncio.to_thread(self.projection.sources))
            if retry:
                await asyncio.sleep(1.0)
            return
        self._writing = None
        self.last_error = None
        BATCH_SECONDS.observe(seconds)
        self.intake.committed(batch)
        await self.acknowledge(batch.handles)
        for origin, n in collections.Counter(event.origin for event in batch.events).items():
            APPLIED.labels(origin).inc(n)
        for origin, n in collections.Counter(
            letter.origin or "unknown" for letter in batch.dead_letters
        ).items():
            DEAD_LETTERS.labels(origin).inc(n)
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

    # -- work between batches ------------------------------------------------------------------

    async def exclusively(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run `operation` between two batches, while nothing else writes the read model."""
        if self._task is None or self._task.done():
            return await operation()
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._controls.append((operation, future))
        self._control_added.set()
        return await future

    async def _run_controls(self) -> None:
        self._control_added.clear()
        while self._controls:
            operation, future = self._controls.pop(0)
            try:
                result = await operation()
            except Exception as error:
                if not future.done():
                    future.set_exception(error)
            else:
                if not future.done():
                    future.set_result(result)

    async def reload(self) -> None:
        """Take the positions from the read model again (after it was replaced)."""
        for task in list(self._backfilling.values()):
            task.cancel()
        self.intake.rolled_back(await asyncio.to_thread(self.projection.sources))

    async def stream_restarted(self, origin: str) -> None:
        """`origin`'s stream is read again from its start (it lost what was read before): how far
        it was read starts again at 0, and rises with what is handled from it."""

        async def restart() -> None:
            self.intake.set_stream_position(origin, 0)

        await self.exclusively(restart)

    async def resync(self, origin: str) -> bool:
        """Forget `origin`'s rows and apply its history again from its journal.

        Used when what was applied is not what the province published (a diverged checkpoint or
        running hash): the journal, not the bus, is the record. False when the read model cannot
        reset one source."""
        reset = getattr(self.projection, "reset", None)
        if reset is None or self.backfill is None:
            return False

        async def forget() -> bool:
            task = self._backfilling.pop(origin, None)
            if task is not None:
                task.cancel()
            state = await asyncio.to_thread(reset, origin)
            self.intake.forget(state)
            GAPS.labels(origin).set(0)
            RESYNCS.labels(origin).inc()
            log.warning("source reset; applying its history again from its journal", origin=origin)
            return True

        return await self.exclusively(forget)

    # -- fetching from the journal -------------------------------------------------------------

    def _take_verdicts(self) -> None:
        verdicts, self._verdicts = self._verdicts, []
        for origin, head, asked_at in verdicts:
            refused = self.intake.refuse_beyond(origin, head, held_before=asked_at)
            if refused:
                log.warning(
                    "refused held events the province never published",
                    origin=origin,
                    count=refused,
                    head=head,
                )

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
            due = gap.doubtful or now - gap.since >= self.gap_timeout
            recently = now - self._fetched_at.get(gap.origin, -1e9) < self.gap_timeout
            if due and not recently:
                log.warning(
                    "sequence gap; backfilling from the province journal",
                    origin=gap.origin,
                    expected=gap.expected,
                    missing=gap.missing,
                    doubtful=gap.doubtful,
                )
                self.fetch_from_journal(
                    gap.origin, gap.expected - 1, gap.expected - 1 + max(1, gap.missing)
                )

    def fetch_from_journal(self, origin: str, after: int, through: int | None) -> bool:
        """Fetch `origin`'s events after `after` (through `through`, or to the journal's end)
        into the queue, unless a fetch for it is already running."""
        if self.backfill is None or self._stopping:
            return False
        running = self._backfilling.get(origin)
        if running is not None and not running.done():
            return False
        self._backfilling[origin] = asyncio.create_task(
            self._fetch(origin, after, through), name=f"backfill-{origin}"
        )
        return True

    async def _fetch(self, origin: str, after: int, through: int | None) -> None:
        assert self.backfill is not None
        position = after
        try:
            while through is None or position < through:
                limit = self.backfill_limit
                if through is not None:
                    limit = min(limit, through - position)
                async with self._journal_reads:
                    asked_at = time.monotonic()
                    page = await self.backfill(origin, position, limit)
                    self.backfill_errors.pop(origin, None)
                    BACKFILLED.labels(origin).inc(len(page.deliveries))
                    for delivery in page.deliveries:
                        await self.queue.put(delivery)
                self._verdicts.append((origin, page.head, asked_at))
                if not page.deliveries:
                    break
                position += len(page.deliveries)
                if through is None and position >= page.head:
                    break
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self.backfill_errors[origin] = repr(error)
            log.warning("backfill failed; the gap stays held", origin=origin, error=repr(error))
        finally:
            self._fetched_at[origin] = time.monotonic()

    def fetching(self, origin: str) -> bool:
        task = self._backfilling.get(origin)
        return task is not None and not task.done()

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


def _problems(
    registry: FederationRegistry, items: list[tuple[dict[str, Any], str]]
) -> list[str | None]:
    return [signature_problem(value, origin, registry) for value, origin in items]

"""The relay: a service's journal to its origin's JetStream stream, in order, at least once.

It publishes journal entries after its position, with the event id as `Nats-Msg-Id` so the
stream drops a re-sent copy, and moves its position only after every publish in the batch was
acknowledged. The position is saved at most once every `save_interval` seconds and when the relay
stops: after a crash it publishes again what it published since (at most that long), and the
stream's duplicate window (20 minutes) drops those copies. While NATS is unreachable it retries
with backoff; the service keeps accepting work and the journal simply grows until the relay
catches up. It runs inside its service, taking what the journal writer appends straight from it,
or as a process of its own (`pls relay`) reading the same database; a position saved lower than
the one it saved last (a rewind by an operator) is taken up before the next batch. Stopping lets
the batch in flight finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

import orjson
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import Header
from nats.js.errors import APIError, NoStreamResponseError
from prometheus_client import Counter, Gauge, Histogram

from contracts.envelope import chain_hash
from contracts.subjects import stream_name
from pls import bus
from pls.publication.handover import Handover
from pls.publication.journal import RELAY, Journal, JournalEntry
from pls.tasks import cancel_and_wait
from pls.telemetry import exporting, record_span, span_from

log = structlog.get_logger(__name__)

# Labelled by origin: the nodes of several provinces may share a process (`pls node`).
PUBLISHED = Counter(
    "pls_relay_published_total", "Events the relay published and saw acknowledged", ["origin"]
)
DUPLICATES = Counter(
    "pls_relay_duplicates_total", "Publishes the stream acknowledged as duplicates", ["origin"]
)
FAILURES = Counter(
    "pls_relay_publish_failures_total", "Batches that failed and were retried", ["origin"]
)
LAG = Gauge("pls_relay_lag_events", "Journal entries not yet acknowledged by JetStream", ["origin"])
POSITION = Gauge(
    "pls_relay_position", "Last journal sequence acknowledged by JetStream", ["origin"]
)
CONNECTED = Gauge("pls_relay_connected", "1 while the relay is connected to NATS", ["origin"])
DELAY = Histogram(
    "pls_relay_publish_delay_seconds",
    "From the time of the oldest event of a batch (when its command stored it) to JetStream's "
    "acknowledgement of the batch: how far behind its province the stream is",
    ["origin"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0),
)


class RelayMetrics:
    """The relay's series, labelled with its origin."""

    def __init__(self, origin: str) -> None:
        self.published = PUBLISHED.labels(origin)
        self.duplicates = DUPLICATES.labels(origin)
        self.failures = FAILURES.labels(origin)
        self.lag = LAG.labels(origin)
        self.position = POSITION.labels(origin)
        self.connected = CONNECTED.labels(origin)
        self.delay = DELAY.labels(origin)


NO_RESPONDERS = "503"  # the status NATS answers with when no stream takes the subject


class RelayPositionError(RuntimeError):
    """The saved position does not match the journal (the journal was replaced or restored)."""


class AcknowledgementsLate(TimeoutError):
    """Not every publish of a batch was acknowledged in time (the first `done` of `total` were)."""

    def __init__(self, done: int, total: int, timeout: float) -> None:
        self.done, self.total = done, total
        super().__init__(f"{total - done} of {total} publishes not acknowledged within {timeout} s")


class BatchAcks:
    """The stream's acknowledgements one batch still waits for, by the reply subject of each
    publish (a batch number and the journal sequence, so a late answer to an earlier attempt is
    never taken for one of this batch)."""

    def __init__(self, replies: set[str]) -> None:
        self.waiting = replies
        self.duplicates = 0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def acknowledged(self, reply: str, answer: bytes) -> None:
        if reply not in self.waiting or self.done.done():
            return
        ack = orjson.loads(answer)
        if "error" in ack:
            try:
                APIError.from_error(ack["error"])  # raises the error class for the code
            except APIError as error:
                self.failed(error)
            return
        self.waiting.discard(reply)
        if ack.get("duplicate"):
            self.duplicates += 1
        if not self.waiting:
            self.done.set_result(None)

    def failed(self, error: Exception) -> None:
        if not self.done.done():
            self.done.set_exception(error)


class Relay:
    def __init__(
        self,
        journal: Journal,
        *,
        origin: str,
        nats_url: str,
        nats_creds: Path | None = None,
        member_id: str | None = None,
        batch_size: int = 1000,
        ack_timeout: float = 10.0,
        ensure_stream: bool = True,
        max_backoff: float = 5.0,
        idle_poll: float = 1.0,
        save_interval: float = 1.0,
    ) -> None:
        self.views = journal
        self.origin = origin
        self.stream = stream_name(origin)
        self.nats_url = nats_url
        self.nats_creds = nats_creds
        self.member_id = member_id
        self.batch_size = batch_size
        # How many entries the next batch takes: halved when a batch's acknowledgements come
        # late, doubled back towards `batch_size` with each batch acknowledged in time.
        self.batch_limit = batch_size
        self.ack_timeout = ack_timeout
        self.ensure_stream = ensure_stream
        self.max_backoff = max_backoff
        self.idle_poll = idle_poll
        self.save_interval = save_interval
        self.position = journal.position(RELAY)
        self._saved = self.position  # the position as last saved in the database
        self._saved_at = time.monotonic()
        self.connected = False
        self.last_error: str | None = None
        self.last_published_at: float | None = None
        self._journal_end = 0
        # Whether a journal writer in this process reports its appends (`journal_appended`);
        # a relay of its own process learns of them by reading.
        self._told_of_appends = False
        # What that writer appended, in order, not yet taken into a batch (a few batches at most;
        # beyond that, or after a gap, the relay reads the journal).
        self._appended: Handover[JournalEntry] = Handover(lambda e: e.sequence, 4 * batch_size)
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._between_batches = asyncio.Event()
        self._between_batches.set()
        self._rewound_to: int | None = None
        self._replies = ""
        self._batches = 0
        self._acks: BatchAcks | None = None
        # Called on the event loop after every batch (published or not) and connection change.
        self.on_progress: list[Callable[[], None]] = []
        self.metrics = RelayMetrics(origin)
        self.metrics.position.set(self.position)

    # -- signalling ----------------------------------------------------------------------------

    def journal_appended(self, entries: Sequence[JournalEntry]) -> None:
        """Called from the journal writer's thread with the entries it just committed."""
        self._told_of_appends = True
        self._appended.add(entries)
        self._journal_end = max(self._journal_end, entries[-1].sequence)
        self.metrics.lag.set(max(0, self._journal_end - self.position))
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    @property
    def lag(self) -> int:
        return max(0, self._journal_end - self.position)

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._journal_end = (await asyncio.to_thread(self.views.journal_head))[0]
        self.metrics.lag.set(self.lag)
        self._task = asyncio.create_task(self.run(), name="relay")

    async def stop(self, grace: float | None = None) -> None:
        """Let the batch in flight be acknowledged and its position saved, then stop."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._between_batches.wait(),
                    grace if grace is not None else self.ack_timeout + 1,
                )
        await cancel_and_wait([self._task])
        await self._save_if_due(now=True)
        if self._client is not None and not self._client.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._client.drain(), 5.0)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._client.close(), 2.0)

    async def _set_connected(self, state: bool) -> None:
        self.connected = state
        self.metrics.connected.set(1 if state else 0)
        if state:
            self._wake.set()
        self._progressed()

    def _progressed(self) -> None:
        for listener in self.on_progress:
            listener()

    async def _connect(self) -> JetStreamContext:
        backoff = 0.2
        while True:
            try:
                self._client = await bus.connect(
                    self.nats_url,
                    name=f"relay-{self.origin}",
                    creds=self.nats_creds,
                    member_id=self.member_id,
                    on_state=self._set_connected,
                )
                js = self._client.jetstream(timeout=self.ack_timeout)
                self._replies = self._client.new_inbox()
                await self._client.subscribe(f"{self._replies}.>", cb=self._answered)
                if self.ensure_stream:
                    await bus.ensure_stream(js, self.origin)
                return js
            except Exception as error:  # NATS not there yet: the service keeps serving meanwhile
                self.last_error = f"connect: {error!r}"
                if self._client is not None:
                    with contextlib.suppress(Exception):
                        await self._client.close()
                    self._client = None
                log.warning("relay cannot reach NATS; retrying", error=str(error), backoff=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)

    async def run(self) -> None:
        js = await self._connect()
        backoff = 0.2
        while not self._stopping:
            if self._caught_up():
                # Told of every append (the journal writer runs in this process): nothing new
                # since the last batch, so no read until the next append, a rewind or the poll.
                await self._idle(while_=self._caught_up)
                if self._stopping:
                    break
            entries = self._take_appended() or await asyncio.to_thread(self._next_batch)
            if not entries:
                await self._idle()
                continue
            if self._stopping:
                break
            try:
                self._between_batches.clear()
                await self.publish_batch(entries)
                backoff = 0.2
            except NoStreamResponseError:
                # The stream is gone (deleted by an operator, or a new cluster): recreate it and
                # go on; consumers notice the sequence continues and fetch what they miss.
                self.metrics.failures.inc()
                self.last_error = "publish: no stream answered"
                if self.ensure_stream:
                    with contextlib.suppress(Exception):
                        await bus.ensure_stream(js, self.origin)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
            except AcknowledgementsLate as late:
                self.metrics.failures.inc()
                self.last_error = f"publish: {late}"
                log.warning(
                    "relay batch acknowledged only in part; publishing the rest again",
                    acknowledged=late.done,
                    of=late.total,
                    next_batch=self.batch_limit,
                )
                if not late.done:  # nothing came back: give the stream a moment
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self.max_backoff)
            except Exception as error:
                self.metrics.failures.inc()
                self.last_error = f"publish: {error!r}"
                log.warning(
                    "relay batch failed; retrying",
                    error=repr(error),
                    backoff=backoff,
                    first=entries[0].sequence,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)
            finally:
                self._between_batches.set()
                self._progressed()

    async def _idle(self, while_: Callable[[], bool] = lambda: True) -> None:
        """Until woken (an append, a rewind, a connection) or `idle_poll` seconds pass; not at
        all when `while_` no longer holds once the wake-up is cleared. A position not yet saved
        is saved when it is due."""
        self._wake.clear()
        if while_():
            timeout = self.idle_poll
            if self.position != self._saved:
                due = self._saved_at + self.save_interval - time.monotonic()
                timeout = max(0.0, min(timeout, due))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)
        await self._save_if_due()

    async def _save_if_due(self, *, now: bool = False) -> None:
        """Save the position if it moved and `save_interval` passed since the last save (or
        `now`); a failure is retried at the next chance (publishing goes on meanwhile)."""
        if self.position == self._saved:
            return
        if not now and time.monotonic() - self._saved_at < self.save_interval:
            return
        try:
            await asyncio.to_thread(self._save_position, self.position)
        except Exception as error:
            self.last_error = f"save position: {error!r}"
            log.warning("relay cannot save its position; retrying", error=repr(error))

    def _take_appended(self) -> list[JournalEntry]:
        """The next batch from what the writer of this process appended, if it continues the
        position without a gap and no rewind is pending (otherwise the journal is read)."""
        if self._rewound_to is not None:
            return []
        return self._appended.take(self.position, self.batch_limit)

    def _caught_up(self) -> bool:
        """Whether the last batch reached the end of the journal as reported by its writer."""
        return (
            self._told_of_appends
            and self._rewound_to is None
            and self.position >= self._journal_end
        )

    def _next_batch(self) -> list[JournalEntry]:
        saved = self.views.position(RELAY)
        rewound, self._rewound_to = self._rewound_to, None
        if saved < self._saved:  # lowered in the database by an operator
            rewound = saved if rewound is None else min(saved, rewound)
        if rewound is not None:
            log.warning("relay rewound; publishing again", after=rewound, was=self.position)
            self.position = rewound
            self._save_position(rewound)
            self.metrics.position.set(rewound)
        entries = self.views.journal_after(self.position, self.batch_limit)
        self._journal_end = max(self._journal_end, entries[-1].sequence if entries else 0)
        self.metrics.lag.set(self.lag)
        return entries

    async def publish_batch(self, entries: list[JournalEntry]) -> None:
        """Publish `entries` and save the position after all of them were acknowledged.

        Each is published with a reply subject of its own under one subscription, and the batch
        waits for every acknowledgement at once: what JetStream's `publish_async` does, without a
        future, a lock and a parsed acknowledgement object for each event."""
        self._check_continuity(entries)
        assert self._client is not None
        client = self._client
        started = time.time_ns()
        first = entries[0]
        self._batches += 1
        prefix = f"{self._replies}.{self._batches}."
        replies = [f"{prefix}{entry.sequence}" for entry in entries]
        acks = self._acks = BatchAcks(set(replies))
        # A span of the batch is only worth its cost where spans are exported: it starts a
        # trace of its own (each event's span below continues the trace of its command).
        batch_span = (
            span_from(
                "relay publish",
                None,
                __name__,
                stream=self.stream,
                first_sequence=str(first.sequence),
                count=str(len(entries)),
            )
            if exporting()
            else contextlib.nullcontext()
        )
        with batch_span:
            try:
                for entry, reply in zip(entries, replies, strict=True):
                    await client.publish(
                        entry.subject,
                        entry.body,
                        reply=reply,
                        headers={
                            "Nats-Msg-Id": entry.event_id,
                            "Nats-Expected-Stream": self.stream,
                        },
                    )
                await asyncio.wait_for(acks.done, self.ack_timeout)
            except TimeoutError:
                # What was acknowledged in time counts: the position moves past the longest run
                # of acknowledged entries, and only the rest is published again. A busy node
                # whose acknowledgements come late still makes progress, in smaller batches.
                done = 0
                for reply in replies:
                    if reply in acks.waiting:
                        break
                    done += 1
                if done:
                    await self._published(entries[:done], acks.duplicates)
                self.batch_limit = max(1, min(self.batch_limit, len(entries)) // 2)
                raise AcknowledgementsLate(done, len(entries), self.ack_timeout) from None
            finally:
                self._acks = None
                if not acks.done.done():
                    acks.done.cancel()
        self.batch_limit = min(self.batch_size, self.batch_limit * 2)
        if exporting():
            for entry in entries:
                record_span(
                    "relay publish",
                    orjson.loads(entry.body).get("traceparent"),
                    __name__,
                    started,
                    event_id=entry.event_id,
                    subject=entry.subject,
                    sequence=str(entry.sequence),
                )
        await self._published(entries, acks.duplicates)

    async def _published(self, entries: list[JournalEntry], duplicates: int) -> None:
        """`entries` (a batch, or its acknowledged start) are in the stream: move the position
        (saved when due)."""
        last = entries[-1].sequence
        self.position = last
        oldest = event_time(entries[0].body)
        if oldest is not None:
            self.metrics.delay.observe(max(0.0, time.time() - oldest))
        self._journal_end = max(self._journal_end, last)
        self.last_published_at = time.time()
        self.last_error = None
        self.metrics.published.inc(len(entries))
        self.metrics.duplicates.inc(duplicates)
        self.metrics.position.set(last)
        self.metrics.lag.set(self.lag)
        await self._save_if_due()

    async def _answered(self, msg: Msg) -> None:
        """An acknowledgement (or a refusal) of one publish, for the batch waiting for it."""
        acks = self._acks
        if acks is None:
            return
        if msg.headers and msg.headers.get(Header.STATUS) == NO_RESPONDERS:
            acks.failed(NoStreamResponseError())
            return
        acks.acknowledged(msg.subject, msg.data)

    def _check_continuity(self, entries: list[JournalEntry]) -> None:
        if entries[0].sequence != self.position + 1:
            raise RelayPositionError(
                f"journal continues at {entries[0].sequence}, relay is at {self.position}"
            )

    def _save_position(self, sequence: int) -> None:
        with self.views.db.transaction() as cursor:
            Journal.save_position(cursor, RELAY, sequence)
        self._saved, self._saved_at = sequence, time.monotonic()

    def rewind(self, sequence: int) -> None:
        """Publish again from `sequence` + 1 (the stream and consumers drop what they already have).

        Safe from any thread: the saved position is lowered and the loop takes it up before its
        next batch (a batch in flight when this is called does not undo it)."""
        self._save_position(sequence)
        self._rewound_to = sequence
        self.position = sequence
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake.set)


def event_time(body: bytes) -> float | None:
    """An event's `time` as a Unix timestamp, None if the body has none that can be read."""
    try:
        return datetime.fromisoformat(orjson.loads(body)["time"]).timestamp()
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def verify_chain(entries: list[JournalEntry], previous_hash: str) -> bool:
    """Whether the journal's running hashes follow from its bodies (tampering shows here)."""
    running = previous_hash
    for entry in entries:
        running = chain_hash(running, entry.body)
        if running != entry.running_hash:
            return False
    return True

"""The journal writer: an application's notification log into its journal, one transaction a batch.

It reads the event store's notification log in order, in batches (events its application reports
as recorded are taken as they were saved, without reading and decoding them again, as long as they
continue the log where the writer is). For each batch, in one transaction, it lets the service
update its local views, appends the translated integration events to the journal (numbering them
with the contiguous per-source sequence and extending the running hash, each event signed with the
publisher's key), and records how far it got. A crash at any point therefore loses nothing and
writes nothing twice. It also appends a checkpoint event whenever one is due or asked for.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import structlog

from contracts.envelope import CHAIN_HASH, build_event, canonical_bytes, chain_hash
from contracts.events.base import EventData
from contracts.events.checkpoint import CheckpointPublished
from contracts.registry import REGISTRY
from pls.dispatch import fast_method
from pls.publication.handover import Handover
from pls.publication.journal import PROJECTION, Journal, JournalEntry
from pls.sqlstore import Cursor, Database
from pls.trust.keys import SigningKey
from pls.trust.signing import sign_event

log = structlog.get_logger(__name__)


def stable_id(namespace: UUID, name: str) -> str:
    """`str(uuid.uuid5(namespace, name))`, computed without building two UUID objects (the writer
    names every event it publishes this way)."""
    digest = bytearray(
        hashlib.sha1(namespace.bytes + name.encode(), usedforsecurity=False).digest()[:16]
    )
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


@dataclass
class JournalCursor:
    """Where the journal ends: the last sequence and the running hash through it."""

    sequence: int
    running_hash: str
    checkpointed_through: int
    last_checkpoint_at: float


class JournalWriter:
    """Projects a notification log into local views and the journal, one transaction per batch.

    A service says what each of its domain events publishes (`translate`) and, if it keeps local
    views, how each changes them (`process_event`).
    """

    def __init__(
        self,
        app: Any,
        journal: Journal,
        *,
        origin: str,
        service: str,
        namespace: UUID,
        batch_size: int = 500,
        checkpoint_interval: float = 60.0,
        signer: SigningKey,
    ) -> None:
        self.signer = signer
        self._process = fast_method(self, "process_event")
        self.app = app
        self.store = journal
        self.db: Database = journal.db
        self.origin = origin
        self.service = service
        self.namespace = namespace
        self.batch_size = batch_size
        self.checkpoint_interval = checkpoint_interval
        # Told of the entries of every journal batch committed, in the writer's thread.
        self.on_journal_appended: list[Callable[[list[JournalEntry]], None]] = []
        self.position = journal.position(PROJECTION)
        sequence, running_hash = journal.journal_head()
        checkpointed = journal.last_sequence_of_type(REGISTRY.for_model(CheckpointPublished).name)
        self.journal = JournalCursor(sequence, running_hash, checkpointed, time.monotonic())
        # Recordings the application reported (`notify`), in order; at most a few batches wait,
        # the rest is read from the notification log.
        self._recorded: Handover[Any] = Handover(lambda r: r.notification.id, 4 * batch_size)
        # Whether the log must be read anyway (at the start, after a report without recordings,
        # after a quiet while): otherwise, with the writer at the end of what was reported,
        # nothing handed over means nothing new, and the log is not read after every batch.
        self._read_log = True
        self._wake = threading.Event()
        self._progress = threading.Condition()
        self._stopping = threading.Event()
        self._checkpoint_requested = threading.Event()
        self._thread: threading.Thread | None = None
        self._routes: dict[type[EventData], tuple[str, str]] = {}
        self.error: BaseException | None = None

    # -- what a service says -------------------------------------------------------------------

    def translate(self, domain_event: Any) -> Sequence[EventData]:
        """The integration events a domain event publishes, in order (none by default)."""
        return ()

    def process_event(self, domain_event: Any, cursor: Cursor) -> None:
        """How a domain event changes the service's local views (none by default)."""

    # -- running -------------------------------------------------------------------------------

    def start(self) -> None:
        listeners = getattr(self.app, "on_recorded", None)
        if listeners is not None:
            listeners.append(self.notify)
        self._thread = threading.Thread(target=self._run, name="publication", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def notify(self, recordings: Sequence[Any] = ()) -> None:
        """New events were recorded (eventsourcing `Recording`s, committed): wake up. Without
        recordings, the notification log is read."""
        if recordings:
            self._recorded.add(recordings)
        else:
            self._read_log = True
        self._wake.set()

    def request_checkpoint(self) -> None:
        self._checkpoint_requested.set()
        self._wake.set()

    def wait_for(self, position: int, timeout: float = 2.0) -> bool:
        """Block until the views include `position` of the notification log."""
        deadline = time.monotonic() + timeout
        with self._progress:
            while self.position < position:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._progress.wait(remaining)
        return True

    def _run(self) -> None:
        backoff = 0.1
        while not self._stopping.is_set():
            try:
                worked = self.run_once()
                backoff = 0.1
            except Exception as error:  # keep projecting after a transient database error
                self.error = error
                log.exception("publication batch failed; retrying", backoff=backoff)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if not worked:
                if not self._wake.wait(0.5):
                    self._read_log = True  # nothing reported for a while: look anyway
                self._wake.clear()

    def run_once(self) -> bool:
        """Project one batch (or append a due checkpoint). Returns whether anything was done."""
        events = self._take_recorded()
        if not events and (self._read_log or self.position < self._recorded.end):
            self._read_log = False  # before reading: a report meanwhile asks again
            events = [
                (notification.id, self.app.mapper.to_domain_event(notification))
                for notification in self.app.recorder.select_notifications(
                    start=self.position + 1, limit=self.batch_size
                )
            ]
            if len(events) == self.batch_size:
                self._read_log = True  # the log may hold more than one batch
        if events:
            self._project(events)
            return True
        if self._checkpoint_due():
            self._append_checkpoint()
            return True
        return False

    # -- one batch -----------------------------------------------------------------------------

    def _take_recorded(self) -> list[tuple[int, Any]]:
        """The next batch from the reported recordings, if they continue the log at the writer's
        position without a gap (otherwise the log is read)."""
        return [
            (r.notification.id, r.domain_event)
            for r in self._recorded.take(self.position, self.batch_size)
        ]

    def _project(self, events: Sequence[tuple[int, Any]]) -> None:
        """Project (notification id, domain event) pairs, in log order, in one transaction."""
        journal = JournalCursor(**vars(self.journal))
        rows: list[tuple[Any, ...]] = []
        recorded_at = datetime.now(UTC).isoformat()  # the batch is recorded in one transaction
        with self.db.transaction() as cursor:
            for _, domain_event in events:
                self._process(domain_event, cursor)
                published = self.translate(domain_event)
                if published:
                    self._journal_rows(journal, published, domain_event, recorded_at, rows)
            self.store.append(cursor, rows)
            position = events[-1][0]
            self.store.save_position(cursor, PROJECTION, position)
        self._advance(journal, position, rows)

    def _journal_rows(
        self,
        journal: JournalCursor,
        published: Sequence[EventData],
        domain_event: Any,
        recorded_at: str,
        rows: list[tuple[Any, ...]],
    ) -> None:
        subject = str(domain_event.originator_id)
        traceparent = getattr(domain_event, "traceparent", None)
        # Stable ids: the same domain event always publishes under the same ids.
        name = f"{self.origin}/{subject}/{domain_event.originator_version}"
        for n, data in enumerate(published):
            journal.sequence += 1
            event_id = stable_id(self.namespace, name if n == 0 else f"{name}/{n}")
            rows.append(
                self._entry(
                    journal,
                    data,
                    subject,
                    event_id,
                    domain_event.timestamp,
                    traceparent,
                    recorded_at,
                )
            )

    def _entry(
        self,
        journal: JournalCursor,
        data: EventData,
        subject: str,
        event_id: str,
        moment: datetime,
        traceparent: str | None,
        recorded_at: str,
    ) -> tuple[Any, ...]:
        event = build_event(
            data,
            origin=self.origin,
            service=self.service,
            subject=subject,
            event_id=event_id,
            sequence=journal.sequence,
            time=moment,
            traceparent=traceparent,
            # The running hash through the previous event, under this event's signature: one
            # verified signature then vouches for every event before it (see docs/security.md).
            extensions={CHAIN_HASH: journal.running_hash},
        )
        body = canonical_bytes(sign_event(event, self.signer))
        journal.running_hash = chain_hash(journal.running_hash, body)
        nats_subject, type_name = self._routing(type(data))
        return (
            journal.sequence,
            event_id,
            nats_subject,
            type_name,
            body,
            journal.running_hash,
            recorded_at,
        )

    def _routing(self, model: type[EventData]) -> tuple[str, str]:
        """The NATS subject and CloudEvents type of an event model (looked up once per model)."""
        routing = self._routes.get(model)
        if routing is None:
            event_type = REGISTRY.for_model(model)
            routing = self._routes[model] = (event_type.subject(self.origin), event_type.name)
        return routing

    def _advance(self, journal: JournalCursor, position: int, rows: list[tuple[Any, ...]]) -> None:
        self.journal = journal
        with self._progress:
            self.position = position
            self._progress.notify_all()
        if rows and self.on_journal_appended:
            entries = [JournalEntry(*row[:6]) for row in rows]
            for listener in self.on_journal_appended:
                listener(entries)

    # -- checkpoints ---------------------------------------------------------------------------

    def _checkpoint_due(self) -> bool:
        journal = self.journal
        if journal.sequence == journal.checkpointed_through:
            return False  # nothing new since the last checkpoint (itself the last journal entry)
        if self._checkpoint_requested.is_set():
            return True
        return time.monotonic() - journal.last_checkpoint_at >= self.checkpoint_interval

    def _append_checkpoint(self) -> None:
        self._checkpoint_requested.clear()
        journal = JournalCursor(**vars(self.journal))
        data = CheckpointPublished(
            through_sequence=journal.sequence, running_hash=journal.running_hash
        )
        journal.sequence += 1
        event_id = stable_id(self.namespace, f"{self.origin}/checkpoint/{journal.sequence}")
        now = datetime.now(UTC)
        row = self._entry(journal, data, self.origin, event_id, now, None, now.isoformat())
        with self.db.transaction() as cursor:
            self.store.append(cursor, [row])
        journal.checkpointed_through = journal.sequence
        journal.last_checkpoint_at = time.monotonic()
        self._advance(journal, self.position, [row])

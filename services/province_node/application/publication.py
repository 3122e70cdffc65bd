"""The publication projection: the node's notification log into its local views and its journal.

It reads the event store's notification log in order, in batches. For each batch, in one
transaction, it updates the local read model, appends the translated integration events to the
journal (numbering them with the contiguous per-source sequence and extending the running hash),
and records how far it got. A crash at any point therefore loses nothing and writes nothing twice.
It also appends a checkpoint event whenever one is due or asked for.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import singledispatchmethod
from typing import Any

import structlog

from contracts.envelope import build_event, canonical_bytes, chain_hash
from contracts.events.base import EventData
from contracts.events.checkpoint import CheckpointPublished
from contracts.registry import REGISTRY
from pls.sqlstore import Cursor, Database
from pls.trust.keys import SigningKey
from pls.trust.signing import sign_event
from services.province_node.adapters.translation import to_contract
from services.province_node.adapters.views import PROJECTION, NodeViews
from services.province_node.application.node import NAMESPACE, ProvinceNode
from services.province_node.domain.agency import Agency
from services.province_node.domain.case import Case
from services.province_node.domain.complaint import Complaint

log = structlog.get_logger(__name__)
SERVICE = "province-node"


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment is not None else None


@dataclass
class JournalCursor:
    """Where the journal ends: the last sequence and the running hash through it."""

    sequence: int
    running_hash: str
    checkpointed_through: int
    last_checkpoint_at: float


class PublicationProjection:
    """Projects the notification log into views and the journal, one transaction per batch."""

    def __init__(
        self,
        app: ProvinceNode,
        views: NodeViews,
        *,
        batch_size: int = 500,
        checkpoint_interval: float = 60.0,
        on_journal_appended: Callable[[int], None] | None = None,
        signer: SigningKey,
    ) -> None:
        self.signer = signer
        self.app = app
        self.views = views
        self.db: Database = views.db
        self.province = app.province
        self.batch_size = batch_size
        self.checkpoint_interval = checkpoint_interval
        self.on_journal_appended = on_journal_appended
        self.position = views.position(PROJECTION)
        sequence, running_hash = views.journal_head()
        self.journal = JournalCursor(
            sequence, running_hash, self._last_checkpoint(), time.monotonic()
        )
        self._wake = threading.Event()
        self._progress = threading.Condition()
        self._stopping = threading.Event()
        self._checkpoint_requested = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def _last_checkpoint(self) -> int:
        checkpoint_type = REGISTRY.for_model(CheckpointPublished).name
        with self.db.reading() as cursor:
            cursor.execute("SELECT MAX(sequence) FROM journal WHERE type = ?", (checkpoint_type,))
            row = cursor.fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    # -- running -------------------------------------------------------------------------------

    def start(self) -> None:
        self.app.on_recorded.append(self.notify)
        self._thread = threading.Thread(target=self._run, name="publication", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def notify(self, position: int | None = None) -> None:
        """New events were recorded: wake up."""
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
                self._wake.wait(0.5)
                self._wake.clear()

    def run_once(self) -> bool:
        """Project one batch (or append a due checkpoint). Returns whether anything was done."""
        notifications = self.app.recorder.select_notifications(
            start=self.position + 1, limit=self.batch_size
        )
        if notifications:
            self._project(notifications)
            return True
        if self._checkpoint_due():
            self._append_checkpoint()
            return True
        return False

    # -- one batch -----------------------------------------------------------------------------

    def _project(self, notifications: Sequence[Any]) -> None:
        journal = JournalCursor(**vars(self.journal))
        rows: list[tuple[Any, ...]] = []
        with self.db.transaction() as cursor:
            for notification in notifications:
                domain_event = self.app.mapper.to_domain_event(notification)
                self.process_event(domain_event, cursor)
                data = to_contract(domain_event)
                if data is not None:
                    rows.append(self._journal_row(journal, data, domain_event))
            self._insert_journal(cursor, rows)
            position = notifications[-1].id
            self._save_position(cursor, position)
        self._advance(journal, position)

    def _journal_row(
        self, journal: JournalCursor, data: EventData, domain_event: Any
    ) -> tuple[Any, ...]:
        journal.sequence += 1
        event_id = str(
            uuid.uuid5(
                NAMESPACE,
                f"{self.province}/{domain_event.originator_id}/{domain_event.originator_version}",
            )
        )
        return self._entry(
            journal,
            data,
            str(domain_event.originator_id),
            event_id,
            domain_event.timestamp,
            domain_event.traceparent,
        )

    def _entry(
        self,
        journal: JournalCursor,
        data: EventData,
        subject: str,
        event_id: str,
        moment: datetime,
        traceparent: str | None,
    ) -> tuple[Any, ...]:
        event_type = REGISTRY.of(data)
        event = build_event(
            data,
            origin=self.province,
            service=SERVICE,
            subject=subject,
            event_id=event_id,
            sequence=journal.sequence,
            time=moment,
            traceparent=traceparent,
        )
        body = canonical_bytes(sign_event(event, self.signer))
        journal.running_hash = chain_hash(journal.running_hash, body)
        return (
            journal.sequence,
            event_id,
            event_type.subject(self.province),
            event_type.name,
            body,
            journal.running_hash,
            datetime.now(UTC).isoformat(),
        )

    @staticmethod
    def _insert_journal(cursor: Cursor, rows: list[tuple[Any, ...]]) -> None:
        cursor.executemany(
            "INSERT INTO journal (sequence, event_id, subject, type, body, running_hash, recorded_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )

    @staticmethod
    def _save_position(cursor: Cursor, position: int) -> None:
        cursor.execute(
            "INSERT INTO tracking (name, position, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET position = excluded.position, "
            "updated_at = excluded.updated_at",
            (PROJECTION, position, datetime.now(UTC).isoformat()),
        )

    def _advance(self, journal: JournalCursor, position: int) -> None:
        appended = journal.sequence > self.journal.sequence
        self.journal = journal
        with self._progress:
            self.position = position
            self._progress.notify_all()
        if appended and self.on_journal_appended is not None:
            self.on_journal_appended(journal.sequence)

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
        event_id = str(uuid.uuid5(NAMESPACE, f"{self.province}/checkpoint/{journal.sequence}"))
        row = self._entry(journal, data, self.province, event_id, datetime.now(UTC), None)
        with self.db.transaction() as cursor:
            self._insert_journal(cursor, [row])
        journal.checkpointed_through = journal.sequence
        journal.last_checkpoint_at = time.monotonic()
        self._advance(journal, self.position)

    # -- the local read model ------------------------------------------------------------------

    @singledispatchmethod
    def process_event(self, event: Any, cursor: Cursor) -> None:
        """Events that change no local view."""

    def _case(self, cursor: Cursor, event: Any, **columns: Any) -> None:
        columns["updated_at"] = _iso(event.timestamp)
        assignments = ", ".join(f"{name} = ?" for name in columns)
        cursor.execute(
            f"UPDATE cases SET {assignments} WHERE id = ?",
            (*columns.values(), str(event.originator_id)),
        )

    @process_event.register
    def _(self, event: Case.Opened, cursor: Cursor) -> None:
        cursor.execute(
            "INSERT INTO cases (id, service_type, channel, platform_level, county, status, "
            "applicant_id, categories, detained, received_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, 'received', ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            (
                str(event.originator_id),
                event.service_type,
                event.channel,
                event.platform_level,
                event.county,
                event.applicant_id,
                ",".join(event.applicant_categories),
                int(event.detained),
                _iso(event.received_at),
                _iso(event.timestamp),
            ),
        )

    @process_event.register
    def _(self, event: Case.Accepted, cursor: Cursor) -> None:
        self._case(cursor, event, status="accepted", decided_at=_iso(event.timestamp))

    @process_event.register
    def _(self, event: Case.Rejected, cursor: Cursor) -> None:
        self._case(
            cursor,
            event,
            status="rejected",
            rejection_reason=event.reason,
            decided_at=_iso(event.timestamp),
        )

    @process_event.register
    def _(self, event: Case.Assigned, cursor: Cursor) -> None:
        self._case(
            cursor, event, status="assigned", agency_id=event.agency_id, person_id=event.person_id
        )

    @process_event.register
    def _(self, event: Case.Started, cursor: Cursor) -> None:
        self._case(cursor, event, status="in_progress")

    @process_event.register
    def _(self, event: Case.Transferred, cursor: Cursor) -> None:
        if event.to_province is not None:
            self._case(cursor, event, status="transferred", transferred_to=event.to_province)
        else:
            self._case(
                cursor, event, status="assigned", agency_id=event.to_agency_id, person_id=None
            )

    @process_event.register
    def _(self, event: Case.Concluded, cursor: Cursor) -> None:
        self._case(
            cursor,
            event,
            status="concluded",
            outcome=event.outcome,
            concluded_at=_iso(event.timestamp),
        )

    @process_event.register
    def _(self, event: Case.CallbackDone, cursor: Cursor) -> None:
        self._case(cursor, event, status="callback_done", callback_result=event.result)

    @process_event.register
    def _(self, event: Case.Rated, cursor: Cursor) -> None:
        self._case(cursor, event, status="rated", rating_overall=event.overall)
        cursor.execute(
            "INSERT INTO case_ratings VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (
                str(event.originator_id),
                event.originator_version,
                event.overall,
                event.attitude,
                event.efficiency,
                event.competence,
                _iso(event.timestamp),
            ),
        )

    @process_event.register
    def _(self, event: Case.Reopened, cursor: Cursor) -> None:
        cursor.execute(
            "UPDATE cases SET status = CASE WHEN agency_id IS NULL THEN 'received' "
            "ELSE 'in_progress' END, outcome = NULL, rating_overall = NULL, callback_result = NULL, "
            "rejection_reason = NULL, updated_at = ? WHERE id = ?",
            (_iso(event.timestamp), str(event.originator_id)),
        )

    @process_event.register
    def _(self, event: Agency.Registered, cursor: Cursor) -> None:
        profile = event.profile
        cursor.execute(
            "INSERT INTO agencies VALUES (?, ?, ?, ?, ?, 'active', 0, ?, ?) ON CONFLICT (id) DO NOTHING",
            (
                str(event.originator_id),
                profile["agency_type"],
                profile["name"],
                profile.get("licence_number"),
                profile["county"],
                _iso(event.registered_at),
                _iso(event.timestamp),
            ),
        )

    def _agency(self, cursor: Cursor, event: Any, **columns: Any) -> None:
        columns["updated_at"] = _iso(event.timestamp)
        assignments = ", ".join(f"{name} = ?" for name in columns)
        cursor.execute(
            f"UPDATE agencies SET {assignments} WHERE id = ?",
            (*columns.values(), str(event.originator_id)),
        )

    @process_event.register
    def _(self, event: Agency.Updated, cursor: Cursor) -> None:
        profile = event.profile
        self._agency(
            cursor,
            event,
            agency_type=profile["agency_type"],
            name=profile["name"],
            licence_number=profile.get("licence_number"),
            county=profile["county"],
        )

    @process_event.register
    def _(self, event: Agency.LicenceSuspended, cursor: Cursor) -> None:
        self._agency(cursor, event, licence_status="suspended")

    @process_event.register
    def _(self, event: Agency.LicenceRevoked, cursor: Cursor) -> None:
        self._agency(cursor, event, licence_status="revoked")

    @process_event.register
    def _(self, event: Agency.LicenceRestored, cursor: Cursor) -> None:
        self._agency(cursor, event, licence_status="active")

    @process_event.register
    def _(self, event: Agency.Closed, cursor: Cursor) -> None:
        self._agency(cursor, event, closed=1)

    @process_event.register
    def _(self, event: Agency.PersonnelJoined, cursor: Cursor) -> None:
        cursor.execute(
            "INSERT INTO personnel VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (
                str(event.originator_id),
                event.person_id,
                event.name,
                event.role,
                event.licence_number,
            ),
        )

    @process_event.register
    def _(self, event: Agency.PersonnelLeft, cursor: Cursor) -> None:
        cursor.execute(
            "DELETE FROM personnel WHERE agency_id = ? AND person_id = ?",
            (str(event.originator_id), event.person_id),
        )

    @process_event.register
    def _(self, event: Complaint.Filed, cursor: Cursor) -> None:
        cursor.execute(
            "INSERT INTO complaints VALUES (?, ?, ?, ?, ?, ?, 'received', ?, ?) "
            "ON CONFLICT (id) DO NOTHING",
            (
                str(event.originator_id),
                event.against,
                event.agency_id,
                event.person_id,
                event.category,
                event.channel,
                _iso(event.received_at),
                _iso(event.timestamp),
            ),
        )

    @process_event.register
    def _(self, event: Complaint.StatusChanged, cursor: Cursor) -> None:
        cursor.execute(
            "UPDATE complaints SET status = ?, updated_at = ? WHERE id = ?",
            (event.status, _iso(event.timestamp), str(event.originator_id)),
        )

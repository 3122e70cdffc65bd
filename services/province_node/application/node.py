"""The province node application: load an aggregate, call the business action, save."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar, copy_context
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

import structlog
from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    ProcessingEvent,
)
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    InfrastructureFactory,
    IntegrityError,
    JSONTranscoder,
    Recording,
    Transcoding,
)
from prometheus_client import Histogram

from services.province_node.domain.agency import Agency
from services.province_node.domain.base import NodeAggregate
from services.province_node.domain.case import Applicant, Case
from services.province_node.domain.complaint import Complaint
from services.province_node.domain.context import CommandContext, acting, current_command
from services.province_node.domain.errors import (
    IdempotencyKeyReused,
    ReferenceNotFound,
    StepInTheFuture,
)
from services.province_node.domain.pseudonym import pseudonym

log = structlog.get_logger(__name__)
A = TypeVar("A", bound=NodeAggregate)
T = TypeVar("T")
COMMANDS_PER_COMMIT = Histogram(
    "pls_node_commands_per_commit",
    "Commands whose events were stored in one event store transaction (group commit)",
    ["province"],
    buckets=(1, 2, 4, 8, 16, 32, 64),
)
NAMESPACE = UUID("6f1c3a52-8d5e-4f0a-9a57-2b8f0c9d4e11")
CLOCK_SKEW = timedelta(minutes=5)  # a client clock this far ahead is still believed


class NotFound(LookupError):
    """No aggregate of that kind with that id in this province."""

    def __init__(self, kind: str, aggregate_id: Any) -> None:
        self.kind = kind
        super().__init__(f"no {kind} {aggregate_id} in this province")


@dataclass
class _Pending:
    """A command's events waiting for the next group commit, and what became of them."""

    processing: ProcessingEvent[UUID]
    done: bool = False
    recordings: list[Recording[UUID]] = field(default_factory=list)
    error: Exception | None = None
    settled: asyncio.Future[None] | None = None  # a command awaiting it on an event loop


@dataclass
class _Deferred:
    """A command run by `ProvinceNode.execute`: the events it saves, committed after it returns."""

    processing: ProcessingEvent[UUID] | None = None
    lost_race: bool = False  # run again after its events were refused: it only reads


_deferred: ContextVar[_Deferred | None] = ContextVar("deferred_commit", default=None)


def _replay(aggregate: Any, events: Iterable[Any]) -> Any:
    """An aggregate from its events: eventsourcing's `project_aggregate` without its check that
    each event is a `CanMutateProtocol`, an `isinstance` against a runtime-checkable protocol
    that costs Python 3.11 some 30 µs an event (docs/benchmarks.md, "Province node")."""
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


def _run_with(deferred: _Deferred, command: Callable[[], T]) -> T:
    token = _deferred.set(deferred)
    try:
        return command()
    finally:
        _deferred.reset(token)


def _lost_race() -> bool:
    deferred = _deferred.get()
    return deferred is not None and deferred.lost_race


def _resolve(futures: list[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)


class ConcurrentChange(Exception):
    """Someone else changed the same record at the same moment; retrying is safe."""


class SetAsList(Transcoding):
    """Aggregates keep the commands they handled in a set; snapshots store it as a sorted list."""

    type = set
    name = "set"

    def encode(self, obj: set[Any]) -> list[Any]:
        return sorted(obj)

    def decode(self, data: list[Any]) -> set[Any]:
        return set(data)


def _collected(objs: tuple[Any, ...]) -> ProcessingEvent[UUID]:
    """The aggregates' new events to store, as `ProcessingEvent.collect_events` gathers them,
    without its checks of each object against runtime-checkable protocols (tens of microseconds
    for every aggregate saved on Python 3.11): the node saves only its own aggregates."""
    processing: ProcessingEvent[UUID] = ProcessingEvent()
    for obj in objs:
        if isinstance(obj, Aggregate):
            processing.events.extend(obj.collect_events())
            processing.aggregates[obj.id] = obj
        elif obj is not None:
            processing.collect_events(obj)
    return processing


class ProvinceNode(Application[UUID]):
    """The province's system of record for cases, complaints and agencies."""

    name = "ProvinceNode"
    snapshotting_intervals = {Agency: 100}  # noqa: RUF012 - eventsourcing reads it from the class

    def __init__(self, province: str, pseudonym_secret: bytes, env: dict[str, str] | None = None):
        super().__init__(env)
        self.province = province
        self._commands_per_commit = COMMANDS_PER_COMMIT.labels(province)
        self._secret = pseudonym_secret
        # Told of every committed transaction's recordings, in the thread that committed it.
        self.on_recorded: list[Callable[[list[Recording[UUID]]], None]] = []
        self._queue: list[_Pending] = []
        self._queue_lock = threading.Lock()
        self._committing = threading.Lock()
        self._draining = False  # the committer has been asked to commit what is queued
        self._committer = ThreadPoolExecutor(1, thread_name_prefix=f"commit-{province}")
        self._committer_ident: int | None = None
        # SQLite (or memory) answers a read in tens of microseconds; PostgreSQL over the network.
        module = self.env.get(InfrastructureFactory.PERSISTENCE_MODULE, "")
        self._reads_are_local = "postgres" not in module

    def close(self) -> None:
        # Waits for a commit under way, unless the committer itself is closing the node (the
        # last reference to a node let go can be dropped there, and a thread cannot join itself).
        self._committer.shutdown(wait=threading.get_ident() != self._committer_ident)
        super().close()

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(SetAsList())

    # -- running commands ----------------------------------------------------------------------

    async def execute(self, context: CommandContext, command: Callable[[], T]) -> T:
        """Run `command` (a call of one of this node's command methods) as `context`'s actor; it
        returns once the command's events are durably stored.

        With the event store in SQLite, loading an aggregate takes tens of microseconds, so the
        command runs here, on the event loop, and only its commit waits, off the loop, in the
        next group commit. The same commands in worker threads cost the node three times the CPU
        under load, the threads contending for the interpreter (docs/benchmarks.md, "Province
        node"). With PostgreSQL, whose reads cross the network, the command runs in a worker
        thread and commits as `save` does.

        If another command stored a change to the same record first, the command runs again the
        way it would have recovered had it committed itself (`_change`, `_create_once`): a retry
        of that same request answers with what it stored, anything else is a `ConcurrentChange`.
        """
        with acting(context):
            if not self._reads_are_local:
                loop = asyncio.get_running_loop()
                return await loop.run_in_executor(None, copy_context().run, command)
            deferred = _Deferred()
            result = _run_with(deferred, command)
            if deferred.processing is None:  # nothing to store: a refusal or a repeated request
                return result
            try:
                await self._commit_later(deferred.processing)
            except ConcurrentChange:
                return _run_with(_Deferred(lost_race=True), command)
            return result

    async def read(self, query: Callable[[], T]) -> T:
        """Answer `query` (reads of this node's aggregates) from the event loop: here while the
        event store is local, in a worker thread with PostgreSQL (see `execute`)."""
        if self._reads_are_local:
            return query()
        return await asyncio.get_running_loop().run_in_executor(None, query)

    async def _commit_later(self, processing: ProcessingEvent[UUID]) -> None:
        """Queue `processing` for the committer thread and wait until it is committed."""
        settled: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = _Pending(processing, settled=settled)
        with self._queue_lock:
            self._queue.append(entry)
            start, self._draining = not self._draining, True
        if start:
            self._committer.submit(self._drain)
        await settled
        if entry.error is not None:
            raise entry.error

    def _drain(self) -> None:
        """The committer thread: commit what is queued, group after group, until nothing is."""
        self._committer_ident = threading.get_ident()
        while True:
            with self._committing:
                with self._queue_lock:
                    if not self._queue:
                        self._draining = False
                        return
                try:
                    self._commit_queued()
                except Exception:  # a listener failed after the commit; its commands are answered
                    log.exception("after a group commit")

    def _commit_queued(self) -> None:
        """Commit what is queued as one group and wake who waits for it; the caller holds
        `_committing`."""
        with self._queue_lock:
            batch, self._queue = self._queue, []
        try:
            self._commit_group(batch)
        except Exception as error:
            for entry in batch:
                if not entry.done:
                    entry.error, entry.done = error, True
            raise
        finally:
            self._settle(batch)

    @staticmethod
    def _settle(batch: list[_Pending]) -> None:
        """Wake the commands of `batch` waiting on event loops: one call a loop, not one each."""
        waiting: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        for entry in batch:
            if entry.settled is not None:
                waiting.setdefault(entry.settled.get_loop(), []).append(entry.settled)
        for loop, futures in waiting.items():
            loop.call_soon_threadsafe(_resolve, futures)

    # -- saving --------------------------------------------------------------------------------

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        """Store the aggregates' new events; when this returns they are committed.

        Commands that arrive while another one's transaction is committing are committed
        together in the next transaction (group commit): one fsync for all of them instead of
        one each, and no command is answered before its own events are durably stored. If that
        shared transaction is refused (two commands changed the same record), each command is
        committed on its own, so only the one that lost the race gets `ConcurrentChange`.

        Under `execute` the events are kept for it to commit once the command returns."""
        deferred = _deferred.get()
        if deferred is not None:
            if deferred.processing is not None or deferred.lost_race or kwargs:
                raise RuntimeError("a command run by execute() saves once, without options")
            deferred.processing = _collected(objs)
            return []
        if kwargs:
            return self._notify_recorded(self._commit_alone(ProcessingEvent(), objs, kwargs))
        entry = _Pending(_collected(objs))
        with self._queue_lock:
            self._queue.append(entry)
        with self._committing:
            if not entry.done:
                self._commit_queued()
        if entry.error is not None:
            raise entry.error
        return entry.recordings

    def _commit_alone(
        self, processing: ProcessingEvent[UUID], objs: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> list[Recording[UUID]]:
        processing.collect_events(*objs, **kwargs)
        return self._store(processing)

    def _store(self, processing: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        try:
            recordings = self._record(processing)
        except IntegrityError as error:
            raise ConcurrentChange(str(error)) from error
        self._take_snapshots(processing)
        return recordings

    def _commit_group(self, batch: list[_Pending]) -> None:
        self._commands_per_commit.observe(len(batch))
        if len(batch) > 1:
            together: ProcessingEvent[UUID] = ProcessingEvent()
            for entry in batch:
                together.events += entry.processing.events
                together.aggregates |= entry.processing.aggregates
            try:
                recordings = self._store(together)
            except ConcurrentChange:
                pass  # commit each on its own below, to find the one that conflicts
            except Exception as error:  # e.g. the store is busy: none of them is stored
                for entry in batch:
                    entry.error, entry.done = error, True
                return
            else:
                for entry in batch:
                    mine = {id(event) for event in entry.processing.events}
                    entry.recordings = [r for r in recordings if id(r.domain_event) in mine]
                    entry.done = True
                self._notify_recorded(recordings)
                return
        for entry in batch:
            try:
                entry.recordings = self._notify_recorded(self._store(entry.processing))
            except Exception as error:
                entry.error = error
            entry.done = True

    def _notify_recorded(self, recordings: list[Recording[UUID]]) -> list[Recording[UUID]]:
        if recordings:
            for listener in self.on_recorded:
                listener(recordings)
        return recordings

    def _load(self, kind: type[A], aggregate_id: UUID) -> A:
        aggregate: Any
        if kind in self.snapshotting_intervals:
            try:
                aggregate = self.repository.get(aggregate_id, projector_func=_replay)
            except AggregateNotFoundError:
                raise NotFound(kind.__name__.lower(), aggregate_id) from None
        else:
            # Never snapshotted: its events alone, without the repository's query of the
            # snapshot store first (a second SQL transaction for every command on a case).
            aggregate = _replay(None, self.repository.event_store.get(aggregate_id))
        if not isinstance(aggregate, kind):
            raise NotFound(kind.__name__.lower(), aggregate_id)
        return aggregate

    def _change(self, kind: type[A], aggregate_id: UUID, action: Callable[[A], None]) -> A:
        command_id = current_command().command_id
        aggregate = self._load(kind, aggregate_id)
        if not aggregate.has_handled(command_id):
            if _lost_race():  # its change was refused: another command's came first
                raise ConcurrentChange(f"{kind.__name__.lower()} {aggregate_id} changed meanwhile")
            action(aggregate)
            try:
                self.save(aggregate)
            except ConcurrentChange:
                # A retry racing with its own first attempt: that one's result is the answer.
                aggregate = self._load(kind, aggregate_id)
                if not aggregate.has_handled(command_id):
                    raise
        return aggregate

    def id_for(self, kind: str, idempotency_key: str | None) -> UUID:
        """A new aggregate's id: derived from the client's Idempotency-Key, so a retry finds it."""
        if idempotency_key is None:
            return uuid.uuid4()
        return uuid.uuid5(NAMESPACE, f"{self.province}/{kind}/{idempotency_key}")

    def _create_once(
        self, kind: type[A], aggregate_id: UUID, fingerprint: str | None, create: Callable[[], A]
    ) -> tuple[A, bool]:
        """Create, unless a retry of the same request already did (then return what it made).

        The insert is tried first: the event store refuses a second aggregate with the same id,
        and only then is the existing one read, so a first request costs one write.
        """
        if not _lost_race():
            try:
                created = create()
                self.save(created)
                return created, True
            except ConcurrentChange:
                pass
        aggregate = self._load(kind, aggregate_id)
        if getattr(aggregate, "request_fingerprint", fingerprint) != fingerprint:
            raise IdempotencyKeyReused()
        return aggregate, False

    def pseudonym_for(self, applicant: Applicant) -> str:
        return pseudonym(
            self._secret, id_number=applicant.id_number, phone=applicant.phone, name=applicant.name
        )

    # -- cases ---------------------------------------------------------------------------------

    def open_case(
        self,
        *,
        idempotency_key: str | None = None,
        fingerprint: str | None = None,
        applicant: Applicant,
        received_at: datetime | None = None,
        **fields: Any,
    ) -> tuple[Case, bool]:
        case_id = self.id_for("case", idempotency_key)
        return self._create_once(
            Case,
            case_id,
            fingerprint,
            lambda: Case.open(
                id=case_id,
                province=self.province,
                applicant=applicant,
                applicant_id=self.pseudonym_for(applicant),
                received_at=received_at or datetime.now(UTC),
                request_fingerprint=fingerprint,
                **fields,
            ),
        )

    def get_case(self, case_id: UUID) -> Case:
        return self._load(Case, case_id)

    def case_history(self, case_id: UUID) -> list[Any]:
        return self.case_with_history(case_id)[1]

    def case_with_history(self, case_id: UUID) -> tuple[Case, list[Any]]:
        """A case and the events it was made from, read from the store once."""
        history = list(self.repository.event_store.get(case_id))
        case = _replay(None, history)
        if not isinstance(case, Case):
            raise NotFound("case", case_id)
        return case, history

    def accept_case(self, case_id: UUID) -> Case:
        return self._change(Case, case_id, lambda case: case.accept())

    def reject_case(self, case_id: UUID, reason: str, note: str | None = None) -> Case:
        return self._change(Case, case_id, lambda case: case.reject(reason, note))

    def assign_case(self, case_id: UUID, agency_id: UUID, person_id: str | None = None) -> Case:
        self._require_agency(agency_id, person_id)
        return self._change(Case, case_id, lambda case: case.assign(str(agency_id), person_id))

    def start_case(self, case_id: UUID) -> Case:
        return self._change(Case, case_id, lambda case: case.start())

    def transfer_case_to_agency(
        self, case_id: UUID, agency_id: UUID, note: str | None = None
    ) -> Case:
        self._require_agency(agency_id, None)
        return self._change(
            Case, case_id, lambda case: case.transfer_to_agency(str(agency_id), note)
        )

    def transfer_case_to_province(
        self, case_id: UUID, province: str, note: str | None = None
    ) -> Case:
        return self._change(Case, case_id, lambda case: case.transfer_to_province(province, note))

    def conclude_case(self, case_id: UUID, outcome: str, note: str | None = None) -> Case:
        return self._change(Case, case_id, lambda case: case.conclude(outcome, note))

    def record_callback(self, case_id: UUID, result: str, note: str | None = None) -> Case:
        return self._change(Case, case_id, lambda case: case.record_callback(result, note))

    def rate_case(self, case_id: UUID, **scores: Any) -> Case:
        return self._change(Case, case_id, lambda case: case.rate(**scores))

    def reopen_case(self, case_id: UUID, reason: str, note: str | None = None) -> Case:
        return self._change(Case, case_id, lambda case: case.reopen(reason, note))

    # -- agencies ------------------------------------------------------------------------------

    def _require_agency(self, agency_id: UUID, person_id: str | None) -> Agency:
        try:
            agency = self._load(Agency, agency_id)
        except NotFound:
            raise ReferenceNotFound(
                "agency_id", f"no agency {agency_id} in this province"
            ) from None
        if person_id is not None and person_id not in agency.personnel:
            raise ReferenceNotFound(
                "person_id", f"{person_id} is not on the staff of agency {agency_id}"
            )
        return agency

    def _require_case(self, case_id: str) -> None:
        try:
            self._load(Case, UUID(str(case_id)))
        except (NotFound, ValueError):
            raise ReferenceNotFound("case_id", f"no case {case_id} in this province") from None

    def register_agency(
        self,
        *,
        idempotency_key: str | None = None,
        profile: dict[str, Any],
        registered_at: datetime | None = None,
    ) -> tuple[Agency, bool]:
        agency_id = self.id_for("agency", idempotency_key)
        return self._create_once(
            Agency,
            agency_id,
            None,
            lambda: Agency.register(
                id=agency_id,
                province=self.province,
                profile=profile,
                registered_at=registered_at or datetime.now(UTC),
            ),
        )

    def get_agency(self, agency_id: UUID) -> Agency:
        return self._load(Agency, agency_id)

    def update_agency(self, agency_id: UUID, profile: dict[str, Any]) -> Agency:
        return self._change(Agency, agency_id, lambda agency: agency.update(profile))

    def suspend_licence(
        self, agency_id: UUID, action: str, until: datetime | None, note: str | None = None
    ) -> Agency:
        now = datetime.now(UTC)
        return self._change(
            Agency, agency_id, lambda agency: agency.suspend_licence(action, now, until, note)
        )

    def revoke_licence(self, agency_id: UUID, action: str, note: str | None = None) -> Agency:
        now = datetime.now(UTC)
        return self._change(
            Agency, agency_id, lambda agency: agency.revoke_licence(action, now, note)
        )

    def restore_licence(self, agency_id: UUID, action: str, note: str | None = None) -> Agency:
        now = datetime.now(UTC)
        return self._change(
            Agency, agency_id, lambda agency: agency.restore_licence(action, now, note)
        )

    def close_agency(self, agency_id: UUID) -> Agency:
        now = datetime.now(UTC)
        return self._change(Agency, agency_id, lambda agency: agency.close(now))

    def add_person(
        self,
        agency_id: UUID,
        *,
        person_id: str | None,
        name: str,
        role: str,
        licence_number: str | None,
    ) -> tuple[Agency, str]:
        person = person_id or str(uuid.uuid4())
        agency = self._change(
            Agency, agency_id, lambda agency: agency.add_person(person, name, role, licence_number)
        )
        return agency, person

    def remove_person(self, agency_id: UUID, person_id: str) -> Agency:
        return self._change(Agency, agency_id, lambda agency: agency.remove_person(person_id))

    # -- complaints ----------------------------------------------------------------------------

    def file_complaint(
        self,
        *,
        idempotency_key: str | None = None,
        complainant: Applicant,
        received_at: datetime | None = None,
        agency_id: UUID | None = None,
        person_id: str | None = None,
        **fields: Any,
    ) -> tuple[Complaint, bool]:
        if agency_id is not None:
            self._require_agency(agency_id, person_id)
        if fields.get("case_id") is not None:
            self._require_case(fields["case_id"])
        complaint_id = self.id_for("complaint", idempotency_key)
        return self._create_once(
            Complaint,
            complaint_id,
            None,
            lambda: Complaint.file(
                id=complaint_id,
                province=self.province,
                agency_id=str(agency_id) if agency_id else None,
                person_id=person_id,
                complainant=complainant.as_dict(),
                complainant_id=self.pseudonym_for(complainant),
                received_at=received_at or datetime.now(UTC),
                **fields,
            ),
        )

    def get_complaint(self, complaint_id: UUID) -> Complaint:
        return self._load(Complaint, complaint_id)

    def change_complaint_status(
        self, complaint_id: UUID, status: str, at: datetime | None = None, **particulars: Any
    ) -> Complaint:
        """Move a complaint to its next status, stating what that step must state."""
        effective = self._effective(at)
        return self._change(
            Complaint, complaint_id, lambda c: c.change_status(status, effective, **particulars)
        )

    @staticmethod
    def _effective(at: datetime | None) -> datetime:
        """When a step took effect: now, or an earlier time it is recorded for."""
        now = datetime.now(UTC)
        if at is None:
            return now
        if at - now > CLOCK_SKEW:
            raise StepInTheFuture(f"{StepInTheFuture.rule} ({at.isoformat()})")
        return at

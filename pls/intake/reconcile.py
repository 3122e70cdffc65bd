"""Reconciliation: what a consumer applied, compared with each province's own journal.

The bus may lose the last events of a province (a purged or truncated stream) and then nothing
later ever reveals a gap; a forged or corrupted message may take a place in the sequence. So
every `interval` seconds, for each source with a province node, the consumer reads the journal's
head together with the running hash at its own committed sequence, and judges:

- diverged: the hashes differ, the consumer is past the journal's end (a province restored from
  a backup), or a checkpoint disagreed. The source is reset and its history applied again from
  the journal (at most once per back-off period, doubling while it keeps diverging);
- behind: the journal has more and the consumer made no progress since the last look (or only
  progressed through the journal, its stream delivering nothing new): the rest is fetched from
  the journal, so the national view converges even while the bus is down. While the stream keeps
  delivering, a consumer behind a busy province waits for it rather than reading every event
  twice (once from the journal, once from the stream);
- complete: what was applied is verified against the journal and keeps up with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from prometheus_client import Counter, Gauge

from pls.intake.applier import Applier
from pls.intake.backfill import JournalClient
from pls.tasks import cancel_and_wait

log = structlog.get_logger(__name__)

STATUSES = ("complete", "behind", "diverged", "unreachable", "unknown")
STATUS = Gauge(
    "pls_hub_source_status",
    "1 for each source's reconciliation status against its journal",
    ["origin", "status"],
)
BEHIND = Gauge(
    "pls_hub_behind_events", "Events in a province's journal not yet applied", ["origin"]
)
JOURNAL_ERRORS = Counter(
    "pls_hub_journal_errors_total", "Failed reads of a province's journal head", ["origin"]
)


@dataclass
class Reconciliation:
    """The last comparison of one source with its province's journal."""

    origin: str
    status: str = "unknown"
    reason: str = "not checked yet"
    head: int | None = None
    lag: int | None = None
    verified_through: int | None = None
    verified_at: str | None = None
    checked_at: str | None = None
    error: str | None = None
    resyncs: int = 0
    resyncing: bool = False
    _last_sequence: int | None = None
    _last_stream_position: int | None = None
    _previous_head: int | None = None
    _fetched: bool = False
    _last_resync: float | None = None
    _backoff: float = 0.0


class Reconciler:
    def __init__(
        self,
        applier: Applier,
        journal: JournalClient,
        origins: list[str],
        *,
        interval: float = 5.0,
        resync_backoff: float = 60.0,
        max_resync_backoff: float = 3600.0,
    ) -> None:
        self.applier = applier
        self.journal = journal
        self.origins = origins
        self.interval = interval
        self.resync_backoff = resync_backoff
        self.max_resync_backoff = max_resync_backoff
        self.states = {
            origin: Reconciliation(origin, _backoff=resync_backoff) for origin in origins
        }
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="reconcile")

    async def stop(self) -> None:
        await cancel_and_wait([self._task])

    async def run(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                await self.check_all()
            await asyncio.sleep(self.interval)

    async def check_all(self) -> None:
        await asyncio.gather(
            *(self.check(origin) for origin in self.origins if self.journal.knows(origin))
        )

    async def check(self, origin: str) -> Reconciliation:
        record = self.states.setdefault(
            origin, Reconciliation(origin, _backoff=self.resync_backoff)
        )
        state = self.applier.state_of(origin)
        try:
            head = await self.journal.head(origin, at=state.sequence)
        except Exception as error:
            JOURNAL_ERRORS.labels(origin).inc()
            record.error = repr(error)
            self._set(record, "unreachable", f"the province's journal cannot be read: {error!r}")
            return record
        record.error = None
        record.checked_at = datetime.now(UTC).isoformat()
        record.head = head.sequence
        record.lag = max(0, head.sequence - state.sequence)
        BEHIND.labels(origin).set(record.lag)
        resynced = False
        if state.checkpoint_status == "diverged":
            resynced = await self._diverged(
                record,
                f"the checkpoint through {state.diverged_at} does not match what was applied",
            )
        elif state.sequence > head.sequence:
            resynced = await self._diverged(
                record,
                f"applied through sequence {state.sequence}, but the province's journal ends at "
                f"{head.sequence}",
            )
        elif head.at_hash is not None and head.at_hash != state.running_hash:
            resynced = await self._diverged(
                record,
                f"the running hash through sequence {state.sequence} differs from the province's",
            )
        else:
            self._consistent(record, state.sequence, head.sequence, state.stream_position)
        record._last_sequence = None if resynced else state.sequence
        record._last_stream_position = state.stream_position
        return record

    def _consistent(
        self, record: Reconciliation, sequence: int, head: int, stream_position: int
    ) -> None:
        record.verified_through = sequence
        record.verified_at = record.checked_at
        progressed = record._last_sequence is not None and sequence > record._last_sequence
        stream_delivering = (
            record._last_stream_position is not None
            and stream_position > record._last_stream_position
        )
        # Under load the journal is always a little ahead: reaching the head seen at the last
        # look is keeping up; what is newer is in flight.
        keeping_up = record._previous_head is not None and sequence >= record._previous_head
        record._previous_head = head
        if sequence >= head or (keeping_up and not record.resyncing):
            record._fetched = False
            record._backoff = self.resync_backoff
            if sequence >= head:
                record.resyncing = False
            in_flight = f"; {head - sequence} newer in flight" if head > sequence else ""
            self._set(
                record, "complete", f"verified against the journal through {sequence}{in_flight}"
            )
            return
        if record._last_sequence is not None and (
            not progressed or (record._fetched and not stream_delivering)
        ):
            record._fetched = self.applier.fetch_from_journal(
                record.origin, sequence, head
            ) or self.applier.fetching(record.origin)
        what = "re-applying its history" if record.resyncing else "behind its journal"
        self._set(record, "behind", f"{what}: {sequence} of {head}, verified so far")

    async def _diverged(self, record: Reconciliation, reason: str) -> bool:
        """Report the divergence and, unless one was just tried, repair it by a resync."""
        self._set(record, "diverged", reason)
        now = time.monotonic()
        if record._last_resync is not None and now - record._last_resync < record._backoff:
            return False
        log.warning("source diverged from its journal", origin=record.origin, reason=reason)
        if not await self.applier.resync(record.origin):
            return False
        if record._last_resync is not None:
            record._backoff = min(record._backoff * 2, self.max_resync_backoff)
        record._last_resync = now
        record.resyncs += 1
        record.resyncing = True
        record._fetched = self.applier.fetch_from_journal(record.origin, 0, None)
        self._set(record, "behind", f"re-applying its history from the journal ({reason})")
        return True

    @staticmethod
    def _set(record: Reconciliation, status: str, reason: str) -> None:
        record.status, record.reason = status, reason
        for name in STATUSES:
            STATUS.labels(record.origin, name).set(1 if name == status else 0)

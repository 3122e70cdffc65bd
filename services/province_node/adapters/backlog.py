"""A node shares its time between taking commands and publishing them.

Given more commands than its machine can carry, a node would go on taking them as fast as it
can while its journal writer and relay fell behind: what it stored would reach the national view
later and later (a minute late, in the freshness benchmark at 1,000 commands/s offered on two
cores). So while the oldest of its events not yet published was stored more than `max_delay`
seconds ago, and the relay is publishing (connected, its last batch went through), a new command
waits until publication is back within that delay, for at most `max_wait` seconds, and then goes
ahead anyway. Under overload the clients see slower answers, and the national view stays close
behind.

The bound is a delay, not a count of events, because the national view's freshness is a delay:
a busy node may have hundreds of events in flight that are all a few milliseconds old, while a
quiet one's few events may be waiting for a relay starved of CPU.

A relay that cannot publish (NATS unreachable, the stream refusing) never holds a command up:
the province's own record comes first, and the backlog is published once the relay can.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Sequence
from uuid import UUID

from eventsourcing.persistence import Recording
from prometheus_client import Histogram

from pls.publication.journal import JournalEntry
from services.province_node.adapters.relay import Relay
from services.province_node.application.publication import PublicationProjection

HELD = Histogram(
    "pls_node_command_held_seconds",
    "How long commands waited for the node's publication backlog to shrink",
    ["province"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class _Marks:
    """Positions reached in a log and when, oldest first (appended by one thread, read by
    another: `deque` appends and pops are atomic)."""

    def __init__(self) -> None:
        self._marks: deque[tuple[int, float]] = deque()

    def reached(self, position: int, at: float) -> None:
        self._marks.append((position, at))

    def first_after(self, position: int) -> tuple[int, float] | None:
        """The oldest mark beyond `position` (those up to it are forgotten)."""
        marks = self._marks
        while marks and marks[0][0] <= position:
            marks.popleft()
        return marks[0] if marks else None

    @property
    def last(self) -> int:
        return self._marks[-1][0] if self._marks else 0


class PublicationBacklog:
    """How far publication is behind the event store, and the wait it imposes on commands."""

    def __init__(
        self,
        relay: Relay,
        projection: PublicationProjection,
        *,
        max_delay: float,
        max_wait: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.relay = relay
        self._held = HELD.labels(relay.origin)
        self.projection = projection
        self.max_delay = max_delay
        self.max_wait = max_wait
        self._clock = clock
        self._stored = _Marks()  # notification ids, when committed
        self._journalled = _Marks()  # journal sequences, when appended
        self._progress = asyncio.Event()

    # -- told by the node --------------------------------------------------------------------

    def resume(self, stored: int) -> None:
        """At start, once the relay knows the journal's end: what an earlier run of the node
        left unpublished (up to notification `stored`, and the relay's lag) counts as stored
        now. Its real age is not known; without this it would not count at all, and a node
        restarted with a backlog would take commands as fast as it could while the backlog
        waited behind them."""
        now = self._clock()
        if self.relay.lag:
            self._journalled.reached(self.relay.position + self.relay.lag, now)
        if stored > self.projection.position:
            self._stored.reached(stored, now)

    def recorded(self, recordings: Sequence[Recording[UUID]]) -> None:
        """These events are stored (called from the thread that committed them)."""
        self._stored.reached(max(r.notification.id or 0 for r in recordings), self._clock())

    def journalled(self, entries: Sequence[JournalEntry]) -> None:
        """These entries are in the journal (called from the journal writer's thread)."""
        self._journalled.reached(entries[-1].sequence, self._clock())

    def progressed(self) -> None:
        """The relay finished a batch or its connection changed (called on the event loop)."""
        event, self._progress = self._progress, asyncio.Event()
        event.set()

    # -- asked by commands -------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Stored events not yet journalled, and journalled ones not yet published."""
        unjournalled = max(0, self._stored.last - self.projection.position)
        return unjournalled + self.relay.lag

    @property
    def delay(self) -> float:
        """Seconds since the oldest event not yet published was stored (journalled, once it
        is: a journal entry is appended milliseconds after its event is stored); 0 when
        everything is published."""
        unpublished = self._journalled.first_after(self.relay.position)
        if unpublished is None:  # the relay has published the journal: anything unjournalled?
            unpublished = self._stored.first_after(self.projection.position)
        return self._clock() - unpublished[1] if unpublished is not None else 0.0

    def holding(self) -> bool:
        relay = self.relay
        return relay.connected and relay.last_error is None and self.delay > self.max_delay

    async def admit(self) -> float:
        """Wait while publication is behind by more than `max_delay` (at most `max_wait`
        seconds); how long this command waited."""
        if not self.holding():
            return 0.0
        started = time.monotonic()
        deadline = started + self.max_wait
        while self.holding():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), remaining)
        waited = time.monotonic() - started
        self._held.observe(waited)
        return waited

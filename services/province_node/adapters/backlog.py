"""A node shares its time between taking commands and publishing them.

Given more commands than its machine can carry, a node would go on taking them as fast as it
can while its journal writer and relay fell behind: what it stored would reach the national view
later and later (a minute late, in the freshness benchmark at 1,000 commands/s offered on two
cores). So while more than `limit` of its events wait to be journalled or published, and the
relay is publishing (connected, its last batch went through), a new command waits until the
backlog is back under the limit, for at most `max_wait` seconds, and then goes ahead anyway.
Under overload the clients see slower answers, and the national view stays close behind.

A relay that cannot publish (NATS unreachable, the stream refusing) never holds a command up:
the province's own record comes first, and the backlog is published once the relay can.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from uuid import UUID

from eventsourcing.persistence import Recording
from prometheus_client import Histogram

from services.province_node.adapters.relay import Relay
from services.province_node.application.publication import PublicationProjection

HELD = Histogram(
    "pls_node_command_held_seconds",
    "How long commands waited for the node's publication backlog to shrink",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class PublicationBacklog:
    """How far publication is behind the event store, and the wait it imposes on commands."""

    def __init__(
        self, relay: Relay, projection: PublicationProjection, *, limit: int, max_wait: float
    ) -> None:
        self.relay = relay
        self.projection = projection
        self.limit = limit
        self.max_wait = max_wait
        self._recorded = 0
        self._progress = asyncio.Event()

    # -- told by the node --------------------------------------------------------------------

    def recorded(self, recordings: Sequence[Recording[UUID]]) -> None:
        """These events are stored (called from the worker thread that committed them)."""
        position = max(r.notification.id or 0 for r in recordings)
        if position > self._recorded:
            self._recorded = position

    def progressed(self) -> None:
        """The relay finished a batch or its connection changed (called on the event loop)."""
        event, self._progress = self._progress, asyncio.Event()
        event.set()

    # -- asked by commands -------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Stored events not yet journalled, and journalled ones not yet published."""
        unjournalled = max(0, self._recorded - self.projection.position)
        return unjournalled + self.relay.lag

    def holding(self) -> bool:
        relay = self.relay
        return relay.connected and relay.last_error is None and self.pending > self.limit

    async def admit(self) -> float:
        """Wait while the backlog is over the limit and shrinking (at most `max_wait` seconds);
        how long this command waited."""
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
        HELD.observe(waited)
        return waited

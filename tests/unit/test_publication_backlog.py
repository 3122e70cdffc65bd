"""Under overload a node's commands wait while publication is behind by more than its delay
limit; never for a relay that cannot publish, and never longer than the bound."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

import pytest

from services.province_node.adapters.backlog import PublicationBacklog


class _Relay:
    """A relay that has published the journal through `position`, of `journal` entries."""

    origin = "440000"

    def __init__(self, lag: int) -> None:
        self.position = 0
        self.journal = lag
        self.connected = True
        self.last_error: str | None = None

    @property
    def lag(self) -> int:
        return self.journal - self.position

    @lag.setter
    def lag(self, value: int) -> None:
        self.position = self.journal - value


class _Projection:
    position = 0


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _backlog(
    lag: int, *, age: float = 1.0, max_wait: float = 5.0
) -> tuple[PublicationBacklog, _Relay]:
    """A backlog whose relay has `lag` journal entries to publish, journalled `age` seconds ago
    (the delay limit is 0.25 s)."""
    relay = _Relay(lag)
    clock = _Clock()
    backlog = PublicationBacklog(
        relay,  # type: ignore[arg-type]
        _Projection(),  # type: ignore[arg-type]
        max_delay=0.25,
        max_wait=max_wait,
        clock=clock,
    )
    if lag:
        backlog.journalled([_entry(relay.journal)])
    clock.now += age
    return backlog, relay


def _entry(sequence: int) -> Any:
    return SimpleNamespace(sequence=sequence)


def _recordings(*ids: int) -> Any:
    return [SimpleNamespace(notification=SimpleNamespace(id=n)) for n in ids]


async def _timed(backlog: PublicationBacklog) -> tuple[float, float]:
    started = time.monotonic()
    waited = await backlog.admit()
    return waited, time.monotonic() - started


async def test_a_command_goes_straight_in_while_publication_is_within_the_limit() -> None:
    for backlog, _ in (_backlog(lag=0), _backlog(lag=500, age=0.2)):  # many, but recent
        waited, took = await _timed(backlog)
        assert waited == 0.0 and took < 0.05


async def test_the_delay_is_the_age_of_the_oldest_event_not_yet_published() -> None:
    backlog, relay = _backlog(lag=0)
    clock: Any = backlog._clock
    backlog.recorded(_recordings(3))  # stored, not yet journalled
    clock.now += 0.1
    backlog.recorded(_recordings(5))
    clock.now += 0.1
    assert backlog.delay == pytest.approx(0.2) and backlog.pending == 5
    backlog.projection.position = 3  # type: ignore[misc]  # the first commit is journalled...
    relay.journal = 2
    backlog.journalled([_entry(1), _entry(2)])
    clock.now += 0.3
    assert backlog.delay == pytest.approx(0.3)  # ...and waits for the relay since then
    assert backlog.holding()
    relay.position = 2
    assert backlog.delay == pytest.approx(0.4)  # published: the second commit is the oldest
    backlog.projection.position = 5  # type: ignore[misc]
    assert backlog.delay == 0.0 and backlog.pending == 0 and not backlog.holding()


async def test_a_command_waits_until_the_relay_has_published_the_backlog() -> None:
    backlog, relay = _backlog(lag=50)

    async def relay_catches_up() -> None:
        await asyncio.sleep(0.2)
        relay.lag = 20  # a batch published, still over the limit: keep waiting
        backlog.progressed()
        await asyncio.sleep(0.2)
        relay.lag = 0
        backlog.progressed()

    catching_up = asyncio.create_task(relay_catches_up())
    waits = await asyncio.gather(*(_timed(backlog) for _ in range(3)))
    await catching_up
    for waited, took in waits:
        assert 0.35 < waited < 1.0 and 0.35 < took < 1.0  # released by the second batch


async def test_events_stored_but_not_yet_journalled_count_too() -> None:
    backlog, _ = _backlog(lag=0, max_wait=0.2)
    backlog.recorded(_recordings(29, 30))  # the journal writer is at 0
    backlog._clock.now += 0.3  # type: ignore[attr-defined]
    assert backlog.pending == 30 and backlog.holding()
    backlog.projection.position = 30  # type: ignore[misc]
    assert backlog.pending == 0 and not backlog.holding()


async def test_a_relay_that_cannot_publish_holds_nothing_up() -> None:
    disconnected, relay = _backlog(lag=10_000)
    relay.connected = False
    failing, other = _backlog(lag=10_000)
    other.last_error = "publish: no stream answered"
    for backlog in (disconnected, failing):
        waited, took = await _timed(backlog)
        assert waited == 0.0 and took < 0.05


async def test_a_command_never_waits_longer_than_the_bound() -> None:
    backlog, _ = _backlog(lag=10_000, max_wait=0.3)  # publishing, but not getting anywhere
    waited, took = await _timed(backlog)
    assert 0.3 <= waited < 0.6 and took < 0.6


async def test_a_connection_change_wakes_waiting_commands() -> None:
    backlog, relay = _backlog(lag=10_000)

    async def disconnect() -> None:
        await asyncio.sleep(0.1)
        relay.connected = False
        backlog.progressed()

    task = asyncio.create_task(disconnect())
    waited = await backlog.admit()
    await task
    assert 0.05 < waited < 1.0  # not the 5 s bound


async def test_what_an_earlier_run_left_unpublished_counts_from_the_restart() -> None:
    backlog, relay = _backlog(lag=0)
    clock: Any = backlog._clock
    relay.journal = 40  # journalled by the run before, none of it published
    backlog.projection.position = 40  # type: ignore[misc]
    backlog.resume(stored=45)  # and five events stored but not yet journalled
    assert backlog.pending == 45 and backlog.delay == 0.0
    clock.now += 0.3
    assert backlog.delay == pytest.approx(0.3) and backlog.holding()
    relay.position = 40
    assert backlog.delay == pytest.approx(0.3)  # the unjournalled ones still wait
    backlog.projection.position = 45  # type: ignore[misc]
    assert backlog.delay == 0.0 and not backlog.holding()

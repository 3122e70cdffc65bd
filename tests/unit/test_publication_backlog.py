"""Under overload a node's commands wait for its publication backlog; never for a relay that
cannot publish, and never longer than the bound."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

from services.province_node.adapters.backlog import PublicationBacklog


class _Relay:
    def __init__(self, lag: int) -> None:
        self.lag = lag
        self.connected = True
        self.last_error: str | None = None


class _Projection:
    position = 0


def _backlog(lag: int, *, max_wait: float = 5.0) -> tuple[PublicationBacklog, _Relay]:
    relay = _Relay(lag)
    backlog = PublicationBacklog(
        relay,  # type: ignore[arg-type]
        _Projection(),  # type: ignore[arg-type]
        limit=8,
        max_wait=max_wait,
    )
    return backlog, relay


async def _timed(backlog: PublicationBacklog) -> tuple[float, float]:
    started = time.monotonic()
    waited = await backlog.admit()
    return waited, time.monotonic() - started


async def test_a_command_goes_straight_in_while_the_backlog_is_within_the_limit() -> None:
    backlog, _ = _backlog(lag=8)
    waited, took = await _timed(backlog)
    assert waited == 0.0 and took < 0.05


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
    recordings: Any = [SimpleNamespace(notification=SimpleNamespace(id=n)) for n in (29, 30)]
    backlog.recorded(recordings)  # the journal writer is at 0
    assert backlog.pending == 30 and backlog.holding()
    backlog.projection.position = 25  # type: ignore[misc]
    assert backlog.pending == 5 and not backlog.holding()


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

"""When the hub reads a province's journal instead of waiting for its stream, and how much of it
it holds at once."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from pls.intake.applier import Applier
from pls.intake.backfill import JournalHead, JournalPage
from pls.intake.intake import Batch, Delivery, SourceState
from pls.intake.reconcile import Reconciler
from tests.support import until


class _NoReadModel:
    def commit(self, batch: Batch) -> None: ...

    def sources(self) -> list[SourceState]:
        return []


async def _nothing(handles: list[Any]) -> None: ...


async def test_at_most_a_few_journal_pages_are_read_and_held_at_once() -> None:
    reading = 0
    most = 0

    async def page(origin: str, after: int, limit: int) -> JournalPage:
        nonlocal reading, most
        reading += 1
        most = max(most, reading)
        await asyncio.sleep(0.01)
        reading -= 1
        deliveries = [Delivery(origin, None, b"{}", via="backfill") for _ in range(limit)]
        return JournalPage(deliveries, head=after + limit)

    queue: asyncio.Queue[Delivery] = asyncio.Queue()
    applier = Applier(
        _NoReadModel(), queue, _nothing, backfill=page, backfill_limit=10, max_journal_reads=3
    )
    origins = [f"{code}0000" for code in range(11, 23)]
    for origin in origins:
        assert applier.fetch_from_journal(origin, 0, 30)
    await until(lambda: not any(applier.fetching(o) for o in origins), message="pages read")
    assert most == 3
    assert queue.qsize() == 12 * 30  # every page was still read, a few at a time


@dataclass
class _Hub:
    """The applier as the reconciler sees it: committed positions, and journal reads asked."""

    state: SourceState
    asked: list[tuple[int, int]] = field(default_factory=list)

    def state_of(self, origin: str) -> SourceState:
        return self.state

    def fetch_from_journal(self, origin: str, after: int, through: int | None) -> bool:
        self.asked.append((after, through or 0))
        return True

    def fetching(self, origin: str) -> bool:
        return False


class _Journal:
    def __init__(self) -> None:
        self.sequence = 100

    def knows(self, origin: str) -> bool:
        return True

    async def head(self, origin: str, at: int | None = None) -> JournalHead:
        return JournalHead(self.sequence, "f" * 64, at, None)


async def test_a_province_behind_is_read_from_its_journal_only_while_its_stream_is_silent() -> None:
    hub = _Hub(SourceState("440000", sequence=10, stream_position=10))
    journal = _Journal()
    reconciler = Reconciler(hub, journal, ["440000"])  # type: ignore[arg-type]

    async def look(sequence: int, stream_position: int) -> None:
        hub.state = SourceState("440000", sequence=sequence, stream_position=stream_position)
        journal.sequence += 50  # a busy province: its journal keeps growing
        await reconciler.check("440000")

    await look(10, 10)
    assert hub.asked == []  # first look: nothing to compare with yet
    await look(10, 10)
    assert hub.asked == [(10, 200)]  # no progress at all: read the journal
    await look(60, 10)
    assert len(hub.asked) == 2  # progress only through the journal: go on reading it
    await look(120, 70)
    assert len(hub.asked) == 2  # the stream delivers again: wait for it, do not read twice
    await look(120, 70)
    assert len(hub.asked) == 3  # silent again, and no progress: read the journal
    assert reconciler.states["440000"].status == "behind"

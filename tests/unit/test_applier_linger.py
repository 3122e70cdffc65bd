"""How long a consumer's batch waits for more events after its first (`linger`): events arriving
meanwhile are committed and acknowledged together."""

from __future__ import annotations

import asyncio
from typing import Any

from pls.intake.applier import Applier
from pls.intake.intake import Batch, Delivery, SourceState
from tests.support import until
from tests.unit.test_intake import applied_sequences, delivery


class _Commits:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    def commit(self, batch: Batch) -> None:
        self.batches.append(applied_sequences(batch.events))

    def sources(self) -> list[SourceState]:
        return []


async def _commits_of_two_events_apart(linger: float, apart: float) -> list[list[int]]:
    read_model = _Commits()
    queue: asyncio.Queue[Delivery] = asyncio.Queue()
    acknowledged: list[Any] = []

    async def acknowledge(handles: list[Any]) -> None:
        acknowledged.append(len(handles))

    applier = Applier(read_model, queue, acknowledge, linger=linger)
    await applier.start()
    try:
        queue.put_nowait(delivery(1))
        await asyncio.sleep(apart)
        queue.put_nowait(delivery(2))
        await until(lambda: sum(acknowledged) == 2, message="both acknowledged")
    finally:
        await applier.stop()
    assert len(acknowledged) == len(read_model.batches)  # one acknowledgement a commit
    return read_model.batches


async def test_events_within_the_linger_are_committed_together() -> None:
    assert await _commits_of_two_events_apart(linger=0.5, apart=0.1) == [[1, 2]]


async def test_events_further_apart_than_the_linger_are_committed_one_by_one() -> None:
    assert await _commits_of_two_events_apart(linger=0.005, apart=0.1) == [[1], [2]]

"""How long a consumer's batch waits for more events after its first (`linger`): events arriving
meanwhile are committed and acknowledged together."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import ValidationError

from pls.intake.applier import Applier
from pls.intake.intake import Batch, Delivery, SourceState
from services.complaints.settings import ComplaintsSettings
from services.directory.settings import DirectorySettings
from services.ministry_hub.settings import HubSettings
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


def test_each_consumer_lingers_as_its_settings_say(monkeypatch: pytest.MonkeyPatch) -> None:
    # The national view should not wait; the directory and supervision can.
    assert HubSettings().linger == 0.005
    assert DirectorySettings().linger == ComplaintsSettings().linger == 0.25
    monkeypatch.setenv("PLS_HUB_LINGER", "0.05")
    assert HubSettings().linger == 0.05
    monkeypatch.setenv("PLS_DIRECTORY_LINGER", "60")
    with pytest.raises(ValidationError, match="linger"):
        DirectorySettings()

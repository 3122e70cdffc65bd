"""Several services in one process (`pls node --province a,b`): they start and stop together."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest
from fastapi import FastAPI

from pls.serve import serve_many
from tests.conftest import free_port


@pytest.fixture(autouse=True)
def _collector_as_it_was() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_a_service_that_cannot_start_stops_its_siblings_and_fails_the_process() -> None:
    lived: list[str] = []

    @asynccontextmanager
    async def fine(_: FastAPI) -> AsyncIterator[None]:
        lived.append("started")
        yield
        lived.append("stopped")

    @asynccontextmanager
    async def broken(_: FastAPI) -> AsyncIterator[None]:
        raise RuntimeError("the event store cannot be opened")
        yield  # pragma: no cover

    apps = [
        (FastAPI(lifespan=fine), "127.0.0.1", free_port()),
        (FastAPI(lifespan=broken), "127.0.0.1", free_port()),
    ]
    with pytest.raises(SystemExit) as exited:
        serve_many(apps)
    assert exited.value.code == 3  # uvicorn's startup failure, so a supervisor restarts it
    assert lived == ["started", "stopped"]  # the sibling was shut down, not left running

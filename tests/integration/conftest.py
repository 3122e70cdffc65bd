"""Each integration test starts with no federation streams on the session's nats-server."""

from __future__ import annotations

import pytest

from tests.support import jetstream


@pytest.fixture(autouse=True)
async def empty_streams(nats_server, trust) -> None:
    async with jetstream(nats_server.url, trust) as js:
        for info in await js.streams_info():
            if info.config.name.startswith("PLS_"):
                await js.delete_stream(info.config.name)

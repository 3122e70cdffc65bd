"""Each integration test starts with no federation streams on the session's nats-server."""

from __future__ import annotations

import nats
import pytest


@pytest.fixture(autouse=True)
async def empty_streams(nats_server) -> None:
    client = await nats.connect(nats_server.url)
    js = client.jetstream()
    for info in await js.streams_info():
        if info.config.name.startswith("PLS_"):
            await js.delete_stream(info.config.name)
    await client.close()

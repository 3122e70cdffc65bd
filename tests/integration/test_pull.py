"""Pulling a durable consumer with a request always in flight, on a real nats-server."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from contracts.subjects import stream_name
from pls.bus import ensure_stream
from pls.intake.pull import Puller, PullFailed, stream_sequence_of
from tests.support import connected

ORIGIN = "650000"
SUBJECT = f"pls.{ORIGIN}.case.opened"


@asynccontextmanager
async def pulling(
    nats_server, trust, **options: float | int
) -> AsyncIterator[tuple[JetStreamContext, Puller, str]]:  # type: ignore[no-untyped-def]
    """A fresh durable consumer of the origin's stream (new messages only) and a started
    `Puller` on it: (JetStream, the puller, the consumer's name); stopped afterwards. Options go
    to `Puller`."""
    async with connected(nats_server.url, trust) as bus:
        js = bus.jetstream(timeout=5)
        await ensure_stream(js, ORIGIN)
        durable = f"pull-{uuid.uuid4().hex[:8]}"
        await js.add_consumer(
            stream_name(ORIGIN),
            ConsumerConfig(
                durable_name=durable,
                ack_policy=AckPolicy.NONE,
                deliver_policy=DeliverPolicy.NEW,
                inactive_threshold=60,
            ),
        )
        puller = Puller(bus, stream_name(ORIGIN), durable, **options)  # type: ignore[arg-type]
        try:
            yield js, puller, durable
        finally:
            await puller.stop()


async def test_every_message_arrives_once_in_order_across_batches(nats_server, trust) -> None:
    async with pulling(nats_server, trust, batch=10) as (js, puller, _):
        for n in range(25):
            await js.publish(SUBJECT, f"{n}".encode())
        await puller.start()
        got: list[bytes] = []
        while len(got) < 25:
            messages = await puller.next(timeout=2.0)
            assert messages, "a pull came back empty while messages were waiting"
            assert len(messages) <= 20  # at most the batch asked for and the one after it
            got.extend(m.data for m in messages)
        assert got == [f"{n}".encode() for n in range(25)]
        positions = [stream_sequence_of(m.reply) for m in messages]
        assert positions == sorted(positions)
        assert await puller.next(timeout=0.3) == []  # nothing more


async def test_a_message_published_while_a_request_waits_is_handed_over_at_once(
    nats_server, trust
) -> None:
    async with pulling(nats_server, trust, batch=500, expires=5.0) as (js, puller, _):
        await puller.start()
        assert await puller.next(timeout=0.2) == []
        waiting = asyncio.create_task(puller.next(timeout=4.0))
        await asyncio.sleep(0.1)
        sent = time.monotonic()
        await js.publish(SUBJECT, b"now")
        messages = await waiting
        assert [m.data for m in messages] == [b"now"]
        # handed over as it arrived, not when the request of 500 expires
        assert time.monotonic() - sent < 1.0


async def test_a_deleted_consumer_ends_the_pull(nats_server, trust) -> None:
    async with pulling(nats_server, trust, batch=100, expires=1.0) as (js, puller, durable):
        await puller.start()
        await js.delete_consumer(stream_name(ORIGIN), durable)

        async def pull_until_it_fails() -> None:
            for _ in range(10):
                await puller.next(timeout=0.5)

        with pytest.raises(PullFailed, match=durable):
            await pull_until_it_fails()

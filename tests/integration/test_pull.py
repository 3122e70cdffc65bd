"""Pulling a durable consumer with a request always in flight, on a real nats-server."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from contracts.subjects import stream_name
from pls.bus import ensure_stream
from pls.intake.pull import Puller, PullFailed
from pls.intake.streams import stream_position_of
from tests.support import connected

ORIGIN = "650000"


async def _consumer(js, durable: str) -> None:  # type: ignore[no-untyped-def]
    await js.add_consumer(
        stream_name(ORIGIN),
        ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.NONE,
            deliver_policy=DeliverPolicy.NEW,
            inactive_threshold=60,
        ),
    )


async def test_every_message_arrives_once_in_order_across_batches(nats_server, trust) -> None:
    async with connected(nats_server.url, trust) as bus:
        js = bus.jetstream(timeout=5)
        await ensure_stream(js, ORIGIN)
        durable = f"pull-{uuid.uuid4().hex[:8]}"
        await _consumer(js, durable)
        for n in range(25):
            await js.publish(f"pls.{ORIGIN}.case.opened", f"{n}".encode())
        puller = Puller(bus, stream_name(ORIGIN), durable, batch=10)
        await puller.start()
        try:
            got: list[bytes] = []
            while len(got) < 25:
                messages = await puller.next(timeout=2.0)
                assert messages, "a pull came back empty while messages were waiting"
                assert len(messages) <= 20  # at most the batch asked for and the one after it
                got.extend(m.data for m in messages)
            assert got == [f"{n}".encode() for n in range(25)]
            positions = [stream_position_of(m.reply)[1] for m in messages]
            assert positions == sorted(positions)
            assert await puller.next(timeout=0.3) == []  # nothing more
        finally:
            await puller.stop()


async def test_a_message_published_while_a_request_waits_is_handed_over_at_once(
    nats_server, trust
) -> None:
    async with connected(nats_server.url, trust) as bus:
        js = bus.jetstream(timeout=5)
        await ensure_stream(js, ORIGIN)
        durable = f"pull-{uuid.uuid4().hex[:8]}"
        await _consumer(js, durable)
        puller = Puller(bus, stream_name(ORIGIN), durable, batch=500, expires=5.0)
        await puller.start()
        try:
            assert await puller.next(timeout=0.2) == []
            waiting = asyncio.create_task(puller.next(timeout=4.0))
            await asyncio.sleep(0.1)
            sent = time.monotonic()
            await js.publish(f"pls.{ORIGIN}.case.opened", b"now")
            messages = await waiting
            assert [m.data for m in messages] == [b"now"]
            # handed over as it arrived, not when the request of 500 expires
            assert time.monotonic() - sent < 1.0
        finally:
            await puller.stop()


async def test_a_deleted_consumer_ends_the_pull(nats_server, trust) -> None:
    async with connected(nats_server.url, trust) as bus:
        js = bus.jetstream(timeout=5)
        await ensure_stream(js, ORIGIN)
        durable = f"pull-{uuid.uuid4().hex[:8]}"
        await _consumer(js, durable)
        puller = Puller(bus, stream_name(ORIGIN), durable, batch=100, expires=1.0)
        await puller.start()
        try:
            await js.delete_consumer(stream_name(ORIGIN), durable)

            async def pull_until_it_fails() -> None:
                for _ in range(10):
                    await puller.next(timeout=0.5)

            with pytest.raises(PullFailed, match=durable):
                await pull_until_it_fails()
        finally:
            await puller.stop()

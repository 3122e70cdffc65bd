"""A relay batch counts as published only when the stream acknowledged every event in it."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import prometheus_client
import pytest
from nats.js.errors import APIError

from pls.publication.journal import RELAY, Journal, JournalEntry
from pls.publication.relay import AcknowledgementsLate, BatchAcks, Relay
from pls.sqlstore import SQLiteDatabase

REPLIES = {"_INBOX.r.7.1", "_INBOX.r.7.2", "_INBOX.r.7.3"}


async def test_the_batch_is_done_when_every_event_was_acknowledged() -> None:
    acks = BatchAcks(set(REPLIES))
    acks.acknowledged("_INBOX.r.7.2", b'{"stream":"PLS_440000","seq":2}')
    acks.acknowledged("_INBOX.r.7.1", b'{"stream":"PLS_440000","seq":1}')
    assert not acks.done.done()
    acks.acknowledged("_INBOX.r.7.3", b'{"stream":"PLS_440000","seq":2,"duplicate":true}')
    await asyncio.wait_for(acks.done, 1)
    assert acks.duplicates == 1


async def test_an_answer_to_an_earlier_attempt_does_not_count() -> None:
    acks = BatchAcks(set(REPLIES))
    for sequence in (1, 2, 3):
        acks.acknowledged(f"_INBOX.r.6.{sequence}", b'{"stream":"PLS_440000","seq":1}')
    acks.acknowledged("_INBOX.r.7.1", b'{"stream":"PLS_440000","seq":1}')
    acks.acknowledged("_INBOX.r.7.1", b'{"stream":"PLS_440000","seq":1}')
    assert not acks.done.done()
    assert acks.waiting == {"_INBOX.r.7.2", "_INBOX.r.7.3"}


async def test_a_refusal_by_the_stream_fails_the_whole_batch() -> None:
    acks = BatchAcks(set(REPLIES))
    acks.acknowledged("_INBOX.r.7.1", b'{"stream":"PLS_440000","seq":1}')
    acks.acknowledged(
        "_INBOX.r.7.2", b'{"error":{"code":503,"err_code":10077,"description":"resource limits"}}'
    )
    acks.acknowledged("_INBOX.r.7.3", b'{"stream":"PLS_440000","seq":3}')
    with pytest.raises(APIError):
        await acks.done


class _SlowStream:
    """A client whose stream acknowledges only the first `answered` publishes of each batch."""

    def __init__(self, relay: Relay, answered: int) -> None:
        self.relay, self.answered, self.sent = relay, answered, 0

    async def publish(self, subject: str, body: bytes, *, reply: str, headers: object) -> None:
        self.sent += 1
        if self.sent <= self.answered:
            await self.relay._answered(_Answer(reply))


class _Answer:
    def __init__(self, subject: str) -> None:
        self.subject, self.headers = subject, None
        self.data = b'{"stream":"PLS_440000","seq":1}'


def _entries(first: int, count: int) -> list[JournalEntry]:
    return [
        JournalEntry(n, f"id-{n}", "pls.440000.case.opened", "t", b"{}", "0" * 64)
        for n in range(first, first + count)
    ]


async def test_what_was_acknowledged_in_time_counts_and_the_next_batch_is_smaller(
    tmp_path: Path,
) -> None:
    db = SQLiteDatabase(tmp_path / "node.db")
    relay = Relay(
        Journal(db),
        origin="440000",
        nats_url="nats://127.0.0.1:1",
        ack_timeout=0.2,
        save_interval=0,  # saved after every batch
    )
    relay._replies = "_INBOX.r"
    relay._client = _SlowStream(relay, answered=6)  # type: ignore[assignment]
    with pytest.raises(AcknowledgementsLate) as late:
        await relay.publish_batch(_entries(1, 10))
    assert (late.value.done, late.value.total) == (6, 10)
    assert relay.position == 6
    assert Journal(db).position(RELAY) == 6  # saved: a restart publishes from 7
    assert relay.batch_limit == 5  # half the batch that was late

    relay._client = _SlowStream(relay, answered=4)  # type: ignore[assignment]
    await relay.publish_batch(_entries(7, 4))  # all acknowledged
    assert relay.position == 10
    assert relay.batch_limit == 10  # doubled back towards 1,000 with each batch in time
    db.close()


async def test_the_position_is_saved_when_due_and_when_the_relay_stops(tmp_path: Path) -> None:
    db = SQLiteDatabase(tmp_path / "node.db")
    relay = Relay(Journal(db), origin="440000", nats_url="nats://127.0.0.1:1", save_interval=60)
    relay._replies = "_INBOX.r"
    relay._client = _SlowStream(relay, answered=100)  # type: ignore[assignment]
    await relay.publish_batch(_entries(1, 4))
    await relay.publish_batch(_entries(5, 4))
    assert relay.position == 8
    assert Journal(db).position(RELAY) == 0  # not due: a crash now publishes 1-8 again
    relay._client = None
    await relay.stop()
    assert Journal(db).position(RELAY) == 8
    db.close()


async def test_how_far_behind_its_province_the_stream_is_is_measured(tmp_path: Path) -> None:
    db = SQLiteDatabase(tmp_path / "node.db")
    relay = Relay(Journal(db), origin="440000", nats_url="nats://127.0.0.1:1")
    relay._replies = "_INBOX.r"
    relay._client = _SlowStream(relay, answered=100)  # type: ignore[assignment]
    stored = datetime.now(UTC) - timedelta(seconds=3)
    entries = [
        replace(entry, body=orjson.dumps({"time": (stored + timedelta(seconds=n)).isoformat()}))
        for n, entry in enumerate(_entries(1, 3))
    ]
    before = _delays()
    await relay.publish_batch(entries)
    count, total = (a - b for a, b in zip(_delays(), before, strict=True))
    assert count == 1  # one batch, measured by its oldest event
    assert 3.0 <= total < 10.0
    db.close()


def _delays() -> tuple[float, float]:
    labels = {"origin": "440000"}
    count = prometheus_client.REGISTRY.get_sample_value(
        "pls_relay_publish_delay_seconds_count", labels
    )
    total = prometheus_client.REGISTRY.get_sample_value(
        "pls_relay_publish_delay_seconds_sum", labels
    )
    return count or 0.0, total or 0.0

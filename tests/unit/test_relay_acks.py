"""A relay batch counts as published only when the stream acknowledged every event in it."""

from __future__ import annotations

import asyncio

import pytest
from nats.js.errors import APIError

from pls.publication.relay import BatchAcks

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

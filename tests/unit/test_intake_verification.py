"""The intake lets only the province's journal decide what takes a place in its sequence."""

from __future__ import annotations

import time

import orjson

from contracts.envelope import canonical_bytes
from pls.intake.intake import Delivery, Intake, SourceState
from tests.unit.samples import running_hash
from tests.unit.test_intake import GD, applied_sequences, bodies, delivery, offer, write


def unknown_version(sequence: int) -> bytes:
    event = orjson.loads(bodies(sequence)[0])
    event["type"] = "cn.gov.moj.pls.case.accepted.v9"
    return canonical_bytes(event)


def from_journal(body: bytes) -> Delivery:
    return Delivery(origin=GD, subject=None, body=body, via="backfill")


def test_a_doubtful_event_waits_for_the_journal() -> None:
    intake = Intake([], verify_doubtful=True)
    offer(intake, delivery(1), delivery(2, body=unknown_version(2)), delivery(3))

    batch = write(intake)

    assert applied_sequences(batch.events) == [1]
    assert batch.dead_letters == []
    (gap,) = intake.gaps()
    assert (gap.expected, gap.doubtful) == (2, True)


def test_the_journal_holding_another_event_refuses_the_doubtful_one() -> None:
    intake = Intake([], verify_doubtful=True)
    offer(intake, delivery(1), delivery(2, body=unknown_version(2)), delivery(3))
    write(intake)

    intake.offer(from_journal(bodies(2)[0]))
    batch = intake.take()

    assert applied_sequences(batch.events) == [2, 3]
    (letter,) = batch.dead_letters
    assert "v9" in letter.reason and "another event at sequence 2" in letter.reason
    assert batch.sources[GD].running_hash == running_hash(bodies(1, 2, 3))
    assert intake.gaps() == []


def test_the_journal_holding_the_same_event_lets_it_take_its_place() -> None:
    # A province that upgraded before the hub: its new version is genuine, so it keeps its place.
    intake = Intake([], verify_doubtful=True)
    genuine = unknown_version(2)
    offer(intake, delivery(1), delivery(2, body=genuine))
    write(intake)

    intake.offer(from_journal(genuine))
    batch = intake.take()

    (letter,) = batch.dead_letters
    assert "another event" not in letter.reason
    assert batch.sources[GD].sequence == 2
    assert batch.sources[GD].running_hash == running_hash([bodies(1)[0], genuine])


def test_another_stream_copy_does_not_settle_a_doubt() -> None:
    intake = Intake([], verify_doubtful=True)
    offer(intake, delivery(1), delivery(2, body=unknown_version(2)), delivery(2, stream_sequence=9))
    assert applied_sequences(intake.take().events) == [1]
    assert intake.gaps()[0].doubtful


def test_held_events_beyond_the_journal_are_refused() -> None:
    intake = Intake([], verify_doubtful=True)
    offer(intake, delivery(1), delivery(1000), delivery(2, body=unknown_version(2)))
    write(intake)
    asked = time.monotonic()
    offer(intake, delivery(1001))  # held after the journal was read: not judged by that read

    assert intake.refuse_beyond(GD, 1, held_before=asked) == 2
    batch = intake.take()

    reasons = sorted(letter.reason for letter in batch.dead_letters)
    assert len(reasons) == 2
    assert all("beyond the province's journal, which ends at 1" in r for r in reasons)
    assert any("v9" in r for r in reasons)
    assert intake.held_count(GD) == 1


def test_without_a_journal_an_unknown_version_keeps_its_place() -> None:
    intake = Intake([])
    offer(intake, delivery(1, body=unknown_version(1)), delivery(2))
    batch = intake.take()
    assert len(batch.dead_letters) == 1
    assert applied_sequences(batch.events) == [2]


def test_a_redelivery_that_cannot_be_what_was_applied_is_refused() -> None:
    intake = Intake([])
    offer(intake, delivery(1), delivery(2))
    write(intake)
    offer(intake, delivery(1, body=unknown_version(1)), delivery(2, stream_sequence=7))

    batch = intake.take()

    (letter,) = batch.dead_letters
    assert "v9" in letter.reason and "sequence 1 was already applied" in letter.reason
    assert batch.sources[GD].duplicates == 1


def test_a_sequence_below_one_is_refused() -> None:
    event = orjson.loads(bodies(1)[0])
    event["sequence"] = "0" * 20
    intake = Intake([])
    offer(intake, delivery(1, body=canonical_bytes(event)))
    (letter,) = intake.take().dead_letters
    assert letter.reason.startswith("sequence:")


def test_a_forgotten_source_starts_again() -> None:
    intake = Intake([])
    offer(intake, delivery(1), delivery(2), delivery(5))
    write(intake)

    intake.forget(SourceState(GD, stream_position=2))
    offer(intake, from_journal(bodies(1)[0]), from_journal(bodies(2)[0]))

    batch = intake.take()
    assert applied_sequences(batch.events) == [1, 2]
    assert batch.sources[GD].stream_position == 2
    assert intake.held_count(GD) == 0


def test_what_is_held_is_bounded_across_sources() -> None:
    intake = Intake([], max_held=2)
    offer(intake, delivery(3), delivery(5, origin="110000"), delivery(4))

    assert intake.held_count() == 2
    assert intake.held_count(GD) == 1
    assert len(intake.take().handles) == 1  # let go, to be fetched from the journal later

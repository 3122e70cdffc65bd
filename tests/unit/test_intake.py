"""The hub's intake: order, duplicates, gaps, refusals and checkpoint verification per source."""

from __future__ import annotations

from typing import Any

import orjson

from contracts.envelope import ZERO_HASH, canonical_bytes
from contracts.events.base import EventData
from contracts.events.case import CaseAccepted, CaseConcluded
from contracts.events.checkpoint import CheckpointPublished
from contracts.registry import REGISTRY
from pls.intake.intake import Batch, Delivery, Intake, SourceState
from tests.unit.samples import event_body, running_hash

GD = "440000"
BJ = "110000"


def payload(sequence: int) -> EventData:
    return CaseAccepted(case_id=f"case-{sequence}")


def delivery(
    sequence: int,
    data: EventData | None = None,
    *,
    origin: str = GD,
    published_by: str | None = None,
    subject: str | None = "",
    stream_sequence: int | None = -1,
    body: bytes | None = None,
) -> Delivery:
    """A message as it arrives on `origin`'s stream (stream sequence = `sequence` by default)."""
    data = data or payload(sequence)
    if body is None:
        body = event_body(data, sequence, origin=published_by or origin)
    return Delivery(
        origin=origin,
        subject=REGISTRY.of(data).subject(origin) if subject == "" else subject,
        body=body,
        stream_sequence=sequence if stream_sequence == -1 else stream_sequence,
        handle=("ack", origin, sequence, stream_sequence),
    )


def bodies(*sequences: int, origin: str = GD) -> list[bytes]:
    return [event_body(payload(n), n, origin=origin) for n in sequences]


def applied_sequences(events: list[Any]) -> list[int]:
    return [event.envelope.sequence_number for event in events]


def offer(intake: Intake, *deliveries: Delivery) -> None:
    for item in deliveries:
        intake.offer(item)


def write(intake: Intake) -> Batch:
    """What the applier does with a batch: take it, write it, and mark it committed."""
    batch = intake.take()
    intake.committed(batch)
    return batch


# -- in order --------------------------------------------------------------------------------


def test_deliveries_in_order_are_applied_in_order() -> None:
    intake = Intake([])
    offer(intake, delivery(1), delivery(2), delivery(3))

    batch = intake.take()

    assert applied_sequences(batch.events) == [1, 2, 3]
    assert [event.data for event in batch.events] == [payload(1), payload(2), payload(3)]
    assert all(event.origin == GD for event in batch.events)
    state = batch.sources[GD]
    assert state.sequence == 3
    assert state.applied == 3
    assert state.running_hash == running_hash(bodies(1, 2, 3))
    assert state.stream_position == 3
    assert state.last_event_time is not None
    assert len(batch.handles) == 3
    assert batch.dead_letters == []


def test_committed_positions_carry_over_to_the_next_batch() -> None:
    intake = Intake([])
    offer(intake, delivery(1), delivery(2))
    write(intake)
    offer(intake, delivery(3))

    batch = intake.take()

    assert applied_sequences(batch.events) == [3]
    assert batch.sources[GD].running_hash == running_hash(bodies(1, 2, 3))
    assert intake.sources[GD].sequence == 2  # not committed yet
    intake.committed(batch)
    assert intake.sources[GD].sequence == 3


def test_sources_are_independent() -> None:
    intake = Intake([])
    offer(intake, delivery(1), delivery(1, origin=BJ), delivery(2, origin=BJ), delivery(2))
    batch = intake.take()
    assert batch.sources[GD].sequence == 2
    assert batch.sources[BJ].sequence == 2
    assert batch.sources[BJ].running_hash == running_hash(bodies(1, 2, origin=BJ))
    assert batch.sources[GD].running_hash != batch.sources[BJ].running_hash


def test_an_intake_resumes_from_stored_positions() -> None:
    stored = SourceState(
        GD, sequence=2, running_hash=running_hash(bodies(1, 2)), applied=2, stream_position=2
    )
    intake = Intake([stored])
    offer(intake, delivery(2), delivery(3))

    batch = intake.take()

    assert applied_sequences(batch.events) == [3]
    assert batch.sources[GD].running_hash == running_hash(bodies(1, 2, 3))
    assert batch.sources[GD].applied == 3
    assert batch.sources[GD].duplicates == 1


# -- duplicates ------------------------------------------------------------------------------


def test_a_redelivered_event_is_dropped_and_counted() -> None:
    intake = Intake([])
    offer(intake, delivery(1), delivery(2), delivery(2, stream_sequence=3), delivery(1))

    batch = intake.take()

    assert applied_sequences(batch.events) == [1, 2]
    assert intake.duplicates_dropped == 2
    assert batch.sources[GD].duplicates == 2
    assert batch.sources[GD].applied == 2
    assert batch.sources[GD].running_hash == running_hash(bodies(1, 2))
    assert len(batch.handles) == 4  # duplicates are acknowledged so they stop coming


def test_a_redelivery_after_a_commit_is_dropped() -> None:
    intake = Intake([])
    offer(intake, delivery(1))
    write(intake)
    offer(intake, delivery(1, stream_sequence=7))

    batch = intake.take()

    assert batch.events == []
    assert batch.sources[GD].duplicates == 1
    assert batch.sources[GD].sequence == 1
    assert batch.sources[GD].stream_position == 7


# -- gaps ------------------------------------------------------------------------------------


def test_an_event_after_a_gap_is_held_until_the_gap_fills() -> None:
    intake = Intake([])
    offer(intake, delivery(1), delivery(3), delivery(4))

    first = write(intake)

    assert applied_sequences(first.events) == [1]
    assert first.sources[GD].sequence == 1
    assert intake.held_count(GD) == 2
    assert intake.held_count() == 2
    (gap,) = intake.gaps()
    assert (gap.origin, gap.expected, gap.first_held, gap.missing) == (GD, 2, 3, 1)

    offer(intake, delivery(2, stream_sequence=5))
    second = write(intake)

    assert applied_sequences(second.events) == [2, 3, 4]
    assert second.sources[GD].sequence == 4
    assert second.sources[GD].running_hash == running_hash(bodies(1, 2, 3, 4))
    assert intake.gaps() == []
    assert intake.held_count(GD) == 0


def test_a_gap_before_anything_arrived_is_reported() -> None:
    intake = Intake([])
    offer(intake, delivery(4), delivery(6))
    assert intake.take().events == []
    (gap,) = intake.gaps()
    assert (gap.expected, gap.first_held, gap.missing) == (1, 4, 3)


def test_backfilled_events_fill_a_gap() -> None:
    intake = Intake([])
    offer(intake, delivery(1), delivery(3))
    write(intake)
    backfilled = Delivery(origin=GD, subject=None, body=bodies(2)[0], via="backfill")

    intake.offer(backfilled)
    batch = intake.take()

    assert applied_sequences(batch.events) == [2, 3]
    assert batch.sources[GD].running_hash == running_hash(bodies(1, 2, 3))


def test_a_held_event_delivered_twice_is_held_once() -> None:
    intake = Intake([])
    offer(intake, delivery(1), delivery(3), delivery(3, stream_sequence=4))
    assert intake.held_count(GD) == 1
    offer(intake, delivery(2, stream_sequence=5))
    assert applied_sequences(intake.take().events) == [1, 2, 3]


def test_the_stream_position_stays_before_the_first_held_event() -> None:
    # A restart resumes the stream after `stream_position`; held events are not written yet,
    # so the position must not pass them even when later deliveries were handled.
    intake = Intake([])
    offer(
        intake,
        delivery(1, stream_sequence=1),
        delivery(3, stream_sequence=2),  # held: sequence 2 is missing
        delivery(1, stream_sequence=3),  # a duplicate, handled
        delivery(9, published_by=BJ, stream_sequence=4),  # refused, handled
    )

    batch = intake.take()

    assert batch.sources[GD].stream_position == 1
    assert batch.sources[GD].sequence == 1


def test_the_stream_position_advances_over_handled_deliveries() -> None:
    intake = Intake([])
    offer(intake, delivery(1, stream_sequence=10), delivery(1, stream_sequence=11))
    assert intake.take().sources[GD].stream_position == 11


# -- refusals --------------------------------------------------------------------------------


def test_an_event_published_in_another_origins_name_is_refused() -> None:
    intake = Intake([])
    offer(intake, delivery(1, published_by=BJ))

    batch = intake.take()

    assert batch.events == []
    (letter,) = batch.dead_letters
    assert letter.origin == GD
    assert "source" in letter.reason
    assert "/pls/110000/" in letter.reason
    assert letter.stream_sequence == 1
    state = batch.sources[GD]
    assert state.sequence == 0
    assert state.running_hash == ZERO_HASH
    assert state.dead_letters == 1
    assert state.applied == 0
    assert len(batch.handles) == 1
    # The real sequence 1 is still expected, and applies.
    intake.committed(batch)
    offer(intake, delivery(1, stream_sequence=2))
    assert applied_sequences(intake.take().events) == [1]


def test_an_event_whose_type_does_not_match_its_subject_is_refused() -> None:
    intake = Intake([])
    offer(intake, delivery(1, subject="pls.440000.case.concluded"))
    batch = intake.take()
    assert batch.events == []
    (letter,) = batch.dead_letters
    assert letter.reason.startswith("type:")
    assert batch.sources[GD].sequence == 0


def test_an_event_on_another_origins_subject_is_refused() -> None:
    intake = Intake([])
    offer(intake, delivery(1, subject="pls.110000.case.accepted"))
    batch = intake.take()
    (letter,) = batch.dead_letters
    assert letter.reason.startswith("subject:")
    assert batch.sources[GD].sequence == 0


def test_a_source_that_names_no_origin_is_refused() -> None:
    event = orjson.loads(bodies(1)[0])
    event["source"] = "/elsewhere/province-node"
    intake = Intake([])
    offer(intake, delivery(1, body=canonical_bytes(event)))
    (letter,) = intake.take().dead_letters
    assert letter.reason.startswith("source:")


def test_a_message_that_is_not_a_cloudevent_is_refused() -> None:
    intake = Intake([])
    offer(intake, delivery(1, body=b"hello"), delivery(2, body=b'{"specversion": "1.0"}'))
    batch = intake.take()
    assert len(batch.dead_letters) == 2
    assert "not JSON" in batch.dead_letters[0].reason
    assert batch.sources[GD].sequence == 0
    assert batch.sources[GD].dead_letters == 2


def test_an_invalid_payload_is_refused_but_keeps_its_place_in_the_sequence() -> None:
    bad = orjson.loads(event_body(CaseConcluded(case_id="case-1", outcome="withdrawn"), 1))
    bad["data"]["outcome"] = "vanished"
    bad_body = canonical_bytes(bad)
    intake = Intake([])
    offer(
        intake,
        delivery(1, CaseConcluded(case_id="case-1", outcome="withdrawn"), body=bad_body),
        delivery(2),
    )

    batch = intake.take()

    (letter,) = batch.dead_letters
    assert letter.reason.startswith("data:")
    assert "outcome" in letter.reason
    assert (letter.sequence, letter.event_id) == (1, "440000-1")
    assert applied_sequences(batch.events) == [2]
    state = batch.sources[GD]
    assert state.sequence == 2
    assert state.running_hash == running_hash([bad_body, bodies(2)[0]])
    assert (state.applied, state.dead_letters) == (1, 1)


def test_an_unknown_event_version_keeps_its_place_in_the_sequence() -> None:
    future = orjson.loads(bodies(1)[0])
    future["type"] = "cn.gov.moj.pls.case.accepted.v7"
    body = canonical_bytes(future)
    intake = Intake([])
    offer(intake, delivery(1, body=body), delivery(2))
    batch = intake.take()
    (letter,) = batch.dead_letters
    assert "v7" in letter.reason
    assert applied_sequences(batch.events) == [2]
    assert batch.sources[GD].running_hash == running_hash([body, bodies(2)[0]])


# -- checkpoints -----------------------------------------------------------------------------


def checkpoint(sequence: int, through: int, hash_value: str) -> Delivery:
    return delivery(
        sequence, CheckpointPublished(through_sequence=through, running_hash=hash_value)
    )


def test_a_checkpoint_matching_what_was_applied_is_verified() -> None:
    intake = Intake([])
    offer(
        intake,
        delivery(1),
        delivery(2),
        delivery(3),
        checkpoint(4, 3, running_hash(bodies(1, 2, 3))),
    )

    batch = intake.take()

    state = batch.sources[GD]
    assert state.checkpoint_status == "verified"
    assert state.checkpoint_sequence == 3
    assert state.diverged_at is None
    assert applied_sequences(batch.events) == [1, 2, 3]  # the checkpoint itself counts nothing
    assert state.sequence == 4
    assert state.applied == 3


def test_a_checkpoint_that_disagrees_is_diverged() -> None:
    intake = Intake([])
    offer(intake, delivery(1), delivery(2), delivery(3), checkpoint(4, 3, "f" * 64))

    state = intake.take().sources[GD]

    assert state.checkpoint_status == "diverged"
    assert state.diverged_at == 3
    assert state.checkpoint_sequence == 3


def test_a_checkpoint_of_a_different_length_is_diverged() -> None:
    intake = Intake([])
    offer(intake, delivery(1), delivery(2), checkpoint(3, 1, running_hash(bodies(1))))
    assert intake.take().sources[GD].checkpoint_status == "diverged"


def test_a_checkpoint_is_verified_when_a_gap_before_it_fills() -> None:
    intake = Intake([])
    offer(intake, delivery(1), checkpoint(3, 2, running_hash(bodies(1, 2))))
    assert write(intake).sources[GD].checkpoint_status == "none"
    offer(intake, delivery(2))
    assert write(intake).sources[GD].checkpoint_status == "verified"


def test_a_checkpoint_is_verified_after_a_refused_payload() -> None:
    # The province hashes what it published, refused or not; so does the hub.
    bad = orjson.loads(bodies(1)[0])
    bad["data"] = {}
    bad_body = canonical_bytes(bad)
    intake = Intake([])
    offer(
        intake,
        delivery(1, body=bad_body),
        delivery(2),
        checkpoint(3, 2, running_hash([bad_body, bodies(2)[0]])),
    )
    batch = intake.take()
    assert len(batch.dead_letters) == 1
    assert batch.sources[GD].checkpoint_status == "verified"


# -- failures --------------------------------------------------------------------------------


def test_a_failed_write_starts_again_from_the_stored_positions() -> None:
    stored = SourceState(GD, sequence=1, running_hash=running_hash(bodies(1)))
    intake = Intake([stored])
    offer(intake, delivery(2), delivery(4))
    intake.take()  # the write of this batch fails

    intake.rolled_back([stored])

    assert intake.gaps() == []
    assert intake.held_count() == 0
    offer(intake, delivery(2), delivery(3))
    batch = intake.take()
    assert applied_sequences(batch.events) == [2, 3]
    assert batch.sources[GD].running_hash == running_hash(bodies(1, 2, 3))


def test_an_empty_batch_is_falsy() -> None:
    intake = Intake([])
    assert not intake.take()
    offer(intake, delivery(1))
    assert intake.take()

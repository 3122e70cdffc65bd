"""One signature vouches for a whole run of a province's events, through the hash chain; anything
that breaks the chain is still checked, and refused, event by event."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from contracts.envelope import CHAIN_HASH, ZERO_HASH, build_event, canonical_bytes, chain_hash
from contracts.events.case import CaseOpened
from pls.intake.intake import Delivery, Intake, Prepared
from pls.trust.keys import SigningKey
from pls.trust.local import LocalTrust, province_member
from pls.trust.registry import FederationRegistry
from pls.trust.signing import sign_event, signature_problem

GD = "440000"
START = datetime(2026, 3, 2, 9, tzinfo=UTC)


def journal(key: SigningKey, count: int, *, chained: bool = True) -> list[bytes]:
    """What the province's journal writer publishes: numbered, signed, hash-chained events."""
    bodies, running = [], ZERO_HASH
    for sequence in range(1, count + 1):
        bodies.append(event(key, sequence, running if chained else None))
        running = chain_hash(running, bodies[-1])
    return bodies


def event(key: SigningKey | None, sequence: int, chain: str | None, **data: Any) -> bytes:
    payload = CaseOpened(
        case_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{sequence}")),
        service_type=data.get("service_type", "legal_aid"),
        channel="web",
        county="440106",
        received_at=START,
        applicant_id="ab" * 16,
    )
    built = build_event(
        payload,
        origin=GD,
        service="province-node",
        subject=payload.case_id,
        event_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"event-{sequence}-{data}")),
        sequence=sequence,
        time=START + timedelta(seconds=sequence),
        extensions={CHAIN_HASH: chain} if chain is not None else None,
    )
    return canonical_bytes(sign_event(built, key) if key else built)


def deliveries(bodies: list[bytes]) -> list[Delivery]:
    return [
        Delivery(GD, "pls.440000.case.opened", body, stream_sequence=i + 1)
        for i, body in enumerate(bodies)
    ]


class Counting:
    """Checks signatures as the intake would, counting how many it had to check."""

    def __init__(self, registry: FederationRegistry) -> None:
        self.registry = registry
        self.checked = 0

    def __call__(self, items: list[tuple[dict[str, Any], str]]) -> list[str | None]:
        self.checked += len(items)
        return [signature_problem(value, origin, self.registry) for value, origin in items]


@pytest.fixture
def registry(trust: LocalTrust) -> FederationRegistry:
    return trust.registry()


@pytest.fixture
def key(trust: LocalTrust) -> SigningKey:
    return SigningKey.from_file(trust.signing_seed(province_member(GD)))


def offer_all(intake: Intake, batch: list[Delivery], prepared: list[Prepared]) -> None:
    for delivery, item in zip(batch, prepared, strict=True):
        intake.offer(delivery, item)


def test_one_signature_vouches_for_a_chained_batch(registry, key) -> None:
    intake = Intake([], registry=registry)
    verify = Counting(registry)
    batch = deliveries(journal(key, 50))

    prepared = intake.prepare_batch(batch, verify)
    offer_all(intake, batch, prepared)

    assert verify.checked == 1
    assert [p.problem for p in prepared] == [None] * 50
    taken = intake.take()
    assert len(taken.events) == 50 and taken.dead_letters == []
    assert taken.sources[GD].running_hash == chain_hash_of(journal(key, 50))


def chain_hash_of(bodies: list[bytes]) -> str:
    running = ZERO_HASH
    for body in bodies:
        running = chain_hash(running, body)
    return running


@pytest.mark.parametrize("forgery", ["altered", "unsigned", "another member", "stranger"])
def test_a_forged_event_in_the_middle_of_a_batch_is_refused_with_its_reason(
    registry, key, trust: LocalTrust, forgery: str
) -> None:
    genuine = journal(key, 10)
    forged: bytes
    if forgery == "altered":
        value = orjson.loads(genuine[4])
        value["data"]["service_type"] = "mediation"  # changed after signing
        forged = canonical_bytes(value)
    else:
        signer = {
            "unsigned": None,
            "another member": SigningKey.from_file(trust.signing_seed(province_member("110000"))),
            "stranger": SigningKey.generate(),
        }[forgery]
        forged = event(signer, 5, orjson.loads(genuine[4])[CHAIN_HASH], service_type="mediation")
    intake = Intake([], registry=registry)
    # The forged event takes the place of the fifth one in the batch; the real one comes later.
    batch = deliveries([*genuine[:4], forged, *genuine[5:]])

    prepared = intake.prepare_batch(batch, Counting(registry))
    offer_all(intake, batch, prepared)

    alone = Intake([], registry=registry).prepare(batch[4]).problem
    assert alone is not None
    assert prepared[4].problem == alone  # the very reason it would get on its own
    assert [p.problem for i, p in enumerate(prepared) if i != 4] == [None] * 9
    taken = intake.take()
    (letter,) = taken.dead_letters
    assert letter.reason == alone and letter.body == forged
    assert [e.envelope.sequence_number for e in taken.events] == [1, 2, 3, 4]
    assert intake.held_count(GD) == 5  # after the gap the forgery leaves, until the real one

    real = Delivery(GD, "pls.440000.case.opened", genuine[4], stream_sequence=11)
    offer_all(intake, [real], intake.prepare_batch([real]))
    taken = intake.take()
    assert [e.envelope.sequence_number for e in taken.events] == [5, 6, 7, 8, 9, 10]
    assert taken.sources[GD].running_hash == chain_hash_of(genuine)


def test_a_forged_copy_beside_the_real_event_is_refused_and_nothing_is_lost(registry, key) -> None:
    genuine = journal(key, 8)
    value = orjson.loads(genuine[3])
    value["data"]["service_type"] = "mediation"
    batch = deliveries([*genuine[:3], canonical_bytes(value), *genuine[3:]])
    intake = Intake([], registry=registry)

    offer_all(intake, batch, intake.prepare_batch(batch, Counting(registry)))

    taken = intake.take()
    assert [e.envelope.sequence_number for e in taken.events] == list(range(1, 9))
    (letter,) = taken.dead_letters
    assert "does not match the event" in letter.reason


def test_events_without_a_chain_hash_are_each_checked(registry, key) -> None:
    intake = Intake([], registry=registry)
    verify = Counting(registry)
    batch = deliveries(journal(key, 20, chained=False))

    prepared = intake.prepare_batch(batch, verify)

    assert verify.checked == 20
    assert [p.problem for p in prepared] == [None] * 20


def test_a_chain_that_does_not_start_from_what_was_applied_vouches_for_nothing(
    registry, key
) -> None:
    genuine = journal(key, 12)
    intake = Intake([], registry=registry)
    first = deliveries(genuine[:6])
    offer_all(intake, first, intake.prepare_batch(first))
    intake.committed(intake.take())
    verify = Counting(registry)
    # Redelivered events and a sequence gap: only the run continuing what was applied is chained.
    later = deliveries([genuine[2], *genuine[6:9], genuine[10], genuine[11]])

    prepared = intake.prepare_batch(later, verify)

    assert [p.problem for p in prepared] == [None] * 6
    assert verify.checked == 1 + 1 + 2  # the redelivery, the run's last event, after the gap

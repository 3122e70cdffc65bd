"""The journal writer's event ids and signatures are the ones every other party recomputes."""

from __future__ import annotations

import os
import uuid

import pytest

from pls.publication.writer import stable_id
from pls.trust.keys import SigningKey, verify

NAMESPACE = uuid.UUID("6f1c1d2e-5b8a-4c4e-9a57-2f0b7e5d9c11")


@pytest.mark.parametrize(
    "name",
    [
        "440000/0b1c9b5e-8a1f-4a8e-9d8e-3a5b2c1d0e9f/1",
        "440000/0b1c9b5e-8a1f-4a8e-9d8e-3a5b2c1d0e9f/3/1",
        "440000/checkpoint/42",
        "广东/案件/7",
        "",
    ],
)
def test_an_event_id_is_the_uuid5_of_its_name(name: str) -> None:
    assert stable_id(NAMESPACE, name) == str(uuid.uuid5(NAMESPACE, name))


def test_event_ids_agree_with_uuid5_for_any_name() -> None:
    for _ in range(500):
        name = os.urandom(12).hex()
        namespace = uuid.uuid4()
        assert stable_id(namespace, name) == str(uuid.uuid5(namespace, name))


def test_a_signature_verifies_under_the_public_key_and_only_for_its_bytes() -> None:
    key = SigningKey.generate()
    body = b'{"data":{"case_id":"1"},"id":"e1"}'
    signature = key.sign(body)
    assert len(signature) == 64
    assert verify(key.public_key, body, signature)
    assert not verify(key.public_key, body.replace(b"e1", b"e2"), signature)
    assert not verify(SigningKey.generate().public_key, body, signature)

"""Signed events: each publisher signs the canonical form of every event it publishes.

The signature travels in the CloudEvents extension attribute `signature` (base64url, Ed25519)
beside `signingkey` (the public nkey it was made with). What is signed is the canonical form of the
event without `signature` itself (`signingkey` included), so neither the payload nor the claimed
key can be changed. A consumer accepts the signature only if the key is one the registry lists for
the event's origin: its current key, or its previous one during a rotation.
"""

from __future__ import annotations

import base64
from typing import Any

from contracts.envelope import canonical_bytes
from pls.trust.keys import SigningKey, verify
from pls.trust.registry import FederationRegistry

SIGNATURE = "signature"
SIGNING_KEY = "signingkey"


def sign_event(event: dict[str, Any], key: SigningKey) -> dict[str, Any]:
    """The event with `signingkey` and `signature` added."""
    signed = {**event, SIGNING_KEY: key.public_key}
    signed.pop(SIGNATURE, None)
    signature = key.sign(canonical_bytes(signed))
    signed[SIGNATURE] = base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
    return signed


def signature_problem(
    event: dict[str, Any], origin: str, registry: FederationRegistry
) -> str | None:
    """Why the event's signature cannot be accepted for `origin`, or None when it can."""
    signature = event.get(SIGNATURE)
    key = event.get(SIGNING_KEY)
    if not isinstance(signature, str) or not isinstance(key, str):
        return "signature: the event is not signed"
    allowed = registry.signing_keys_for(origin)
    if key not in allowed:
        signer = registry.signer(key)
        if signer is not None:
            return f"signature: signed by {signer.id}, which does not publish for {origin}"
        return f"signature: key {key[:12]}… is not a key of {origin} in the registry"
    unsigned = {k: v for k, v in event.items() if k != SIGNATURE}
    try:
        raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    except ValueError:
        return "signature: not base64url"
    if not verify(key, canonical_bytes(unsigned), raw):
        return "signature: does not match the event (altered, or signed with another key)"
    return None

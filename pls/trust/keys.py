"""Ed25519 keys in the NATS nkey encoding: one key pair per member identity.

A member's seed (its secret) lives in its credential file; the registry holds only public keys.
The same key type authenticates a member to nats-server and signs the events it publishes.
"""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import nacl.bindings
import nacl.exceptions
import nacl.signing
import nkeys


class KeyError_(ValueError):
    """A key or seed that is not a valid nkey."""


@dataclass(frozen=True)
class SigningKey:
    """A member's key pair, from its seed."""

    seed: bytes

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(bytes(nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)))

    @classmethod
    def from_file(cls, path: Path) -> SigningKey:
        seed = path.read_bytes().strip()
        try:
            nkeys.from_seed(bytearray(seed))
        except Exception as error:
            raise KeyError_(f"{path}: not an nkey seed ({error})") from None
        return cls(seed)

    @property
    def public_key(self) -> str:
        return _key_pair(self.seed)[1]

    def sign(self, data: bytes) -> bytes:
        # libsodium directly: a publisher signs every event, and the wrappers' message objects
        # cost a tenth of the signature itself.
        return nacl.bindings.crypto_sign(data, _secret_key(self.seed))[
            : nacl.bindings.crypto_sign_BYTES
        ]

    def write(self, path: Path) -> None:
        """Write the seed readable by its owner only."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.seed + b"\n")
        path.chmod(0o600)


@lru_cache(maxsize=64)
def _key_pair(seed: bytes) -> tuple[nkeys.KeyPair, str]:
    """The key pair of a seed and its public key, derived once: a publisher signs every event."""
    pair = nkeys.from_seed(bytearray(seed))
    return pair, str(pair.public_key.decode())


@lru_cache(maxsize=64)
def _secret_key(seed: bytes) -> bytes:
    """libsodium's 64-byte Ed25519 secret key for a seed."""
    _, raw_seed = nkeys.decode_seed(bytearray(seed))
    return bytes(nacl.bindings.crypto_sign_seed_keypair(bytes(raw_seed))[1])


def _raw_public_key(public_key: str) -> bytes:
    text = public_key.strip()
    try:
        raw = base64.b32decode(text + "=" * (-len(text) % 8))
    except Exception:
        raise KeyError_(f"{public_key!r} is not base32") from None
    if len(raw) != 35 or raw[0] != nkeys.PREFIX_BYTE_USER:
        raise KeyError_(f"{public_key!r} is not a user public nkey")
    body, checksum = raw[:-2], raw[-2:]
    if bytes(nkeys.crc16_checksum(body)) != checksum:
        raise KeyError_(f"{public_key!r} has a bad checksum")
    return raw[1:33]


def is_public_key(value: str) -> bool:
    try:
        _raw_public_key(value)
    except KeyError_:
        return False
    return True


@lru_cache(maxsize=1024)
def _verify_key(public_key: str) -> nacl.signing.VerifyKey:
    return nacl.signing.VerifyKey(_raw_public_key(public_key))


def verify(public_key: str, data: bytes, signature: bytes) -> bool:
    """Whether `signature` over `data` was made with the seed of `public_key`."""
    try:
        _verify_key(public_key).verify(data, signature)
    except (nacl.exceptions.BadSignatureError, KeyError_, ValueError):
        return False
    return True

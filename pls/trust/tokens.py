"""Bearer tokens: JWTs with standard OIDC claims, so a real identity provider can issue them.

`pls token` issues them for local use with the federation's own Ed25519 issuer key; services verify
them against the issuer's public keys (or its JWKS endpoint). Claims: `iss`, `aud`, `sub`, `iat`,
`nbf`, `exp`, `jti`, `name`, and two of ours: `roles` (also read from Keycloak's
`realm_access.roles`) and `province` for province operators.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pls.trust.registry import Issuer


class Role(StrEnum):
    PROVINCE_OPERATOR = "province_operator"
    MINISTRY_STAFF = "ministry_staff"
    SUBSCRIBER_ADMIN = "subscriber_admin"
    FEDERATION_SERVICE = "federation_service"
    FEDERATION_OPERATOR = "federation_operator"
    PUBLIC = "public"


class TokenRejected(Exception):
    """The token cannot be accepted; the message says why (expired, wrong issuer, ...)."""


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: frozenset[str]
    province: str | None = None
    name: str | None = None
    claims: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def has(self, role: Role) -> bool:
        return role.value in self.roles


def generate_issuer_key() -> tuple[bytes, bytes]:
    """A new Ed25519 issuer key: (private PEM, public PEM)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


@dataclass
class TokenIssuer:
    issuer: str
    audience: str
    private_key_pem: bytes

    @classmethod
    def from_file(cls, path: Path, issuer: str, audience: str = "pls") -> TokenIssuer:
        return cls(issuer, audience, path.read_bytes())

    def issue(
        self,
        subject: str,
        roles: list[str],
        *,
        province: str | None = None,
        name: str | None = None,
        ttl: timedelta = timedelta(hours=8),
        now: datetime | None = None,
    ) -> str:
        moment = now or datetime.now(UTC)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "jti": str(uuid.uuid4()),
            "iat": moment,
            "nbf": moment,
            "exp": moment + ttl,
            "roles": roles,
        }
        if province:
            claims["province"] = province
        if name:
            claims["name"] = name
        return jwt.encode(claims, self.private_key_pem, algorithm="EdDSA")


class TokenVerifier:
    """Checks bearer tokens. A token whose signature was verified once is remembered until it
    expires (a client sends the same token with every request, and checking an Ed25519 or RSA
    signature costs more than the rest of a small command's HTTP handling)."""

    def __init__(self, issuer: Issuer, *, leeway: float = 30.0, remember: int = 4096) -> None:
        self.issuer = issuer
        self.leeway = leeway
        self._keys = [serialization.load_pem_public_key(k.encode()) for k in issuer.public_keys]
        self._jwks = jwt.PyJWKClient(issuer.jwks_url) if issuer.jwks_url else None
        self._remember = remember
        self._verified: dict[str, tuple[Principal, float]] = {}

    def remembered(self, token: str) -> Principal | None:
        """The token's principal if its signature was verified before and it has not expired."""
        known = self._verified.get(token)
        if known is None:
            return None
        principal, expires = known
        if time.time() < expires + self.leeway:
            return principal
        self._verified.pop(token, None)
        return None

    def verify(self, token: str) -> Principal:
        principal = self.remembered(token)
        if principal is not None:
            return principal
        principal = self._verify(token)
        if len(self._verified) >= self._remember:
            self._verified.clear()
        self._verified[token] = (principal, float(principal.claims["exp"]))
        return principal

    def _verify(self, token: str) -> Principal:
        keys: list[Any] = list(self._keys)
        if self._jwks is not None:
            try:
                keys.insert(0, self._jwks.get_signing_key_from_jwt(token).key)
            except jwt.PyJWKClientError as error:
                raise TokenRejected(f"no signing key for this token: {error}") from None
        last: Exception | None = None
        for key in keys:
            try:
                claims = jwt.decode(
                    token,
                    key,
                    algorithms=["EdDSA", "RS256", "ES256"],
                    audience=self.issuer.audience,
                    issuer=self.issuer.issuer,
                    leeway=self.leeway,
                    options={"require": ["exp", "iat", "sub", "iss", "aud"]},
                )
            except jwt.ExpiredSignatureError:
                raise TokenRejected("the token has expired") from None
            except jwt.InvalidAudienceError:
                raise TokenRejected("the token is for another audience") from None
            except jwt.InvalidIssuerError:
                raise TokenRejected("the token is from another issuer") from None
            except jwt.InvalidSignatureError as error:
                last = error
                continue
            except jwt.PyJWTError as error:
                raise TokenRejected(f"the token is not valid: {error}") from None
            roles = claims.get("roles") or claims.get("realm_access", {}).get("roles") or []
            return Principal(
                subject=str(claims["sub"]),
                roles=frozenset(str(r) for r in roles),
                province=claims.get("province"),
                name=claims.get("name") or claims.get("preferred_username"),
                claims=claims,
            )
        raise TokenRejected(f"the token's signature is not the issuer's ({last})")

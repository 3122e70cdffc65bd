"""A complete trust setup for one machine: registry, keys, secrets and tokens under `var/trust/`.

`pls up` and the test suite use it, so the local federation runs with the same authentication as a
real one: every member has its own NATS key and credential file, provinces and the complaints
service sign what they publish, province nodes have their own pseudonymisation secret and event
store encryption key, and the HTTP APIs need tokens from the local issuer.
"""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from contracts.subjects import MINISTRY, PROVINCES
from pls.trust.keys import SigningKey
from pls.trust.natsconfig import authorization_block
from pls.trust.registry import FederationRegistry, Issuer, Member, MemberKind
from pls.trust.tokens import Role, TokenIssuer, generate_issuer_key

LOCAL_ISSUER = "https://id.pls.local"
HUB = "ministry-hub"
DIRECTORY = "ministry-directory"
COMPLAINTS = "ministry-complaints"
OPERATOR = "operator"
SAMPLE_SUBSCRIBER = "gov-12345-hotline"


def province_member(code: str) -> str:
    return f"province-{code}"


@dataclass(frozen=True)
class LocalTrust:
    directory: Path

    @property
    def registry_path(self) -> Path:
        return self.directory / "federation.yaml"

    @property
    def nats_config_path(self) -> Path:
        return self.directory / "nats-authorization.conf"

    def registry(self) -> FederationRegistry:
        return FederationRegistry.load(self.registry_path)

    def creds(self, member: str) -> Path:
        """The member's NATS credential (its nkey seed)."""
        return self.directory / "creds" / f"{member}.nk"

    def signing_seed(self, member: str, *, previous: bool = False) -> Path:
        return self.directory / "signing" / f"{member}{'.previous' if previous else ''}.nk"

    def pseudonym_secret(self, province: str) -> Path:
        return self.directory / "secrets" / f"{province}.pseudonym"

    def cipher_key(self, province: str) -> Path:
        return self.directory / "secrets" / f"{province}.cipher"

    @property
    def issuer_key(self) -> Path:
        return self.directory / "issuer.pem"

    def token_issuer(self) -> TokenIssuer:
        registry = self.registry()
        return TokenIssuer.from_file(
            self.issuer_key, registry.issuer.issuer, registry.issuer.audience
        )

    def token(
        self,
        subject: str,
        roles: list[Role],
        *,
        province: str | None = None,
        ttl: timedelta = timedelta(days=1),
    ) -> str:
        return self.token_issuer().issue(
            subject, [r.value for r in roles], province=province, ttl=ttl
        )

    def operator_token(self, province: str) -> str:
        return self.token(f"operator@{province}", [Role.PROVINCE_OPERATOR], province=province)

    def staff_token(self) -> str:
        return self.token("staff@moj", [Role.MINISTRY_STAFF])

    def federation_operator_token(self) -> str:
        return self.token("operator@moj", [Role.FEDERATION_OPERATOR])

    def service_token(self, member: str) -> str:
        return self.token(member, [Role.FEDERATION_SERVICE])


def _secret_file(path: Path, value: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(value)
    path.chmod(0o600)


def create_local_trust(directory: Path, name: str = "pls-local") -> LocalTrust:
    """Create (or reuse) keys and the registry for every origin and the ministry's services."""
    trust = LocalTrust(directory)
    if trust.registry_path.exists():
        return trust
    directory.mkdir(parents=True, exist_ok=True)
    members: list[Member] = []

    def keys(member: str, *, signs: bool) -> tuple[str, list[str]]:
        nats_key = SigningKey.generate()
        nats_key.write(trust.creds(member))
        signing: list[str] = []
        if signs:
            current, previous = SigningKey.generate(), SigningKey.generate()
            current.write(trust.signing_seed(member))
            previous.write(trust.signing_seed(member, previous=True))
            signing = [current.public_key, previous.public_key]
        return nats_key.public_key, signing

    nats_key, _ = keys(OPERATOR, signs=False)
    members.append(
        Member(id=OPERATOR, kind=MemberKind.OPERATOR, name="Bus operator", nats_key=nats_key)
    )
    for code, province in PROVINCES.items():
        member = province_member(code)
        nats_key, signing = keys(member, signs=True)
        members.append(
            Member(
                id=member,
                kind=MemberKind.PROVINCE,
                name=province,
                origin=code,
                nats_key=nats_key,
                signing_keys=signing,
            )
        )
        _secret_file(trust.pseudonym_secret(code), secrets.token_hex(32).encode())
        _secret_file(trust.cipher_key(code), base64.b64encode(os.urandom(32)))
    for member, label, origin in (
        (HUB, "Ministry hub", None),
        (DIRECTORY, "National directory", None),
        (COMPLAINTS, "Complaints supervision", MINISTRY),
    ):
        nats_key, signing = keys(member, signs=origin is not None)
        members.append(
            Member(
                id=member,
                kind=MemberKind.MINISTRY_SERVICE,
                name=label,
                origin=origin,
                nats_key=nats_key,
                signing_keys=signing,
            )
        )
    nats_key, _ = keys(SAMPLE_SUBSCRIBER, signs=False)
    members.append(
        Member(
            id=SAMPLE_SUBSCRIBER,
            kind=MemberKind.SUBSCRIBER,
            name="12345政务服务便民热线",
            nats_key=nats_key,
            grants=["pls.*.case.opened", "pls.*.case.transferred"],
        )
    )

    private, public = generate_issuer_key()
    _secret_file(trust.issuer_key, private)
    registry = FederationRegistry(
        federation=name,
        issuer=Issuer(issuer=LOCAL_ISSUER, audience="pls", public_keys=[public.decode()]),
        members=members,
    )
    registry.save(trust.registry_path)
    trust.nats_config_path.write_text(authorization_block(registry))
    return trust

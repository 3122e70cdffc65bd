"""The federation registry: one YAML file naming every member, its public keys and its grants.

Provinces publish their own origin's events; ministry services read the province streams (and the
complaints service publishes the ministry's `moj` events); subscribing systems read the subjects
they were granted; operators administer the bus. Secrets are never in the registry: each member
keeps its seed in its own credential file.
"""

from __future__ import annotations

import re
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from contracts.subjects import MINISTRY, PROVINCES
from pls.trust.keys import is_public_key

MemberId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{1,62}$")]
_GRANT = re.compile(r"^pls\.(\*|>|[0-9]{6}|moj)(\.(\*|>|[a-z_]+)){0,2}$")


class MemberKind(StrEnum):
    PROVINCE = "province"
    MINISTRY_SERVICE = "ministry_service"
    SUBSCRIBER = "subscriber"
    OPERATOR = "operator"


class Member(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: MemberId
    kind: MemberKind
    name: str
    origin: str | None = Field(
        default=None, description="The origin it publishes: a province code or moj."
    )
    nats_key: str = Field(description="Public nkey the member authenticates to NATS with.")
    signing_keys: list[str] = Field(
        default_factory=list,
        max_length=2,
        description="Public nkeys its events are signed with: the current key first, then the previous one.",
    )
    grants: list[str] = Field(default_factory=list, description="Subjects a subscriber may read.")

    @field_validator("nats_key")
    @classmethod
    def _nats_key(cls, value: str) -> str:
        if not is_public_key(value):
            raise ValueError("not a public user nkey")
        return value

    @field_validator("signing_keys")
    @classmethod
    def _signing_keys(cls, value: list[str]) -> list[str]:
        for key in value:
            if not is_public_key(key):
                raise ValueError(f"{key!r} is not a public user nkey")
        return value

    @field_validator("grants")
    @classmethod
    def _grants(cls, value: list[str]) -> list[str]:
        for grant in value:
            if not _GRANT.match(grant):
                raise ValueError(f"{grant!r} is not a pls.<origin>.<aggregate>.<event> pattern")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Member:
        if self.kind is MemberKind.PROVINCE:
            if self.origin not in PROVINCES:
                raise ValueError(f"{self.id}: a province member names its province code as origin")
            if not self.signing_keys:
                raise ValueError(f"{self.id}: a province signs its events; give its signing_keys")
        elif self.origin is not None and self.origin != MINISTRY:
            raise ValueError(f"{self.id}: only provinces publish a province origin")
        if self.kind is MemberKind.SUBSCRIBER and not self.grants:
            raise ValueError(f"{self.id}: a subscriber needs at least one grant")
        if self.kind is not MemberKind.SUBSCRIBER and self.grants:
            raise ValueError(f"{self.id}: only subscribers have grants")
        return self

    @property
    def publishes(self) -> bool:
        return self.origin is not None


class Issuer(BaseModel):
    """Who issues the bearer tokens the HTTP APIs accept (an OIDC provider, or `pls token`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    issuer: str
    audience: str = "pls"
    public_keys: list[str] = Field(
        default_factory=list, description="PEM public keys, current first."
    )
    jwks_url: str | None = None

    @model_validator(mode="after")
    def _has_keys(self) -> Issuer:
        if not self.public_keys and not self.jwks_url:
            raise ValueError("the issuer needs public_keys or a jwks_url")
        return self


class FederationRegistry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    federation: str
    issuer: Issuer
    members: list[Member]

    @model_validator(mode="after")
    def _unique(self) -> FederationRegistry:
        ids = [m.id for m in self.members]
        if len(ids) != len(set(ids)):
            raise ValueError("member ids must be unique")
        keys = [m.nats_key for m in self.members]
        if len(keys) != len(set(keys)):
            raise ValueError("each member needs its own NATS key")
        origins = [m.origin for m in self.members if m.origin is not None]
        if len(origins) != len(set(origins)):
            raise ValueError("each origin is published by exactly one member")
        return self

    def member(self, member_id: str) -> Member:
        for member in self.members:
            if member.id == member_id:
                return member
        raise LookupError(f"no member {member_id!r} in the registry")

    def publisher_of(self, origin: str) -> Member | None:
        return next((m for m in self.members if m.origin == origin), None)

    @cached_property
    def _keys_by_origin(self) -> dict[str, frozenset[str]]:
        return {m.origin: frozenset(m.signing_keys) for m in self.members if m.origin is not None}

    def signing_keys_for(self, origin: str) -> frozenset[str]:
        """The keys an origin's events may be signed with (looked up for every event consumed)."""
        return self._keys_by_origin.get(origin, frozenset())

    def signer(self, public_key: str) -> Member | None:
        return next((m for m in self.members if public_key in m.signing_keys), None)

    @classmethod
    def load(cls, path: Path) -> FederationRegistry:
        return cls.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            yaml.safe_dump(
                self.model_dump(mode="json", exclude_defaults=False),
                sort_keys=False,
                allow_unicode=True,
            ),
            encoding="utf-8",
        )

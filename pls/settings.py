"""Settings every service shares, read from `PLS_*` environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from contracts.subjects import PROVINCES
from pls import ports
from pls.trust.registry import FederationRegistry

DEVELOPMENT_SECRET = "development-only-secret"
Settings = TypeVar("Settings", bound=BaseSettings)


class CommonSettings(BaseSettings):
    """Federation-wide settings: where the bus is, how to log and trace, where files go."""

    model_config = SettingsConfigDict(env_prefix="PLS_", extra="ignore")

    environment: Literal["development", "production"] = "development"
    nats_url: str = "nats://127.0.0.1:14222"
    nats_creds: Path | None = None
    member_id: str | None = None
    trust_registry: Path | None = None
    var_dir: Path = Path("var")
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["console", "json"] = "console"
    otel_exporter: Literal["none", "console", "otlp"] = "none"
    otel_endpoint: str | None = None

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    def registry(self) -> FederationRegistry:
        """The federation registry; every service needs it (nothing runs unauthenticated)."""
        if self.trust_registry is None:
            raise SystemExit(
                "PLS_TRUST_REGISTRY is not set: give the federation registry (see `pls nats-config`)"
            )
        return FederationRegistry.load(self.trust_registry)

    def require_member(self) -> str:
        if not self.member_id or self.nats_creds is None:
            raise SystemExit("PLS_MEMBER_ID and PLS_NATS_CREDS name this service's NATS identity")
        return self.member_id

    def require_real_secret(self, name: str, value: SecretStr) -> None:
        """Outside development a service refuses to run on a default secret."""
        if self.is_production and value.get_secret_value() == DEVELOPMENT_SECRET:
            raise SystemExit(f"{name} must be set to a real secret when PLS_ENVIRONMENT=production")


Linger = Annotated[
    float,
    Field(
        ge=0,
        le=5,
        description="Seconds a batch waits for more events after its first: at low rates, "
        "fewer and larger commits and acknowledgements for that much more delay.",
    ),
]


class ProvinceConsumerSettings(BaseSettings):
    """What every service consuming the province streams shares: which provinces, where their
    nodes are, and the token shown to a node when backfilling from its journal."""

    provinces: Annotated[list[str], NoDecode] = list(PROVINCES)
    node_urls: dict[str, str] = {}
    node_url_template: str = "http://127.0.0.1:{port}"
    node_token: SecretStr | None = None
    node_token_file: Path | None = None
    linger: Linger = 0.005

    def journal_token(self) -> str | None:
        """The bearer token shown to province nodes when backfilling from their journals."""
        if self.node_token_file is not None:
            return self.node_token_file.read_text().strip()
        return self.node_token.get_secret_value() if self.node_token else None

    def node_url(self, province: str) -> str:
        if province in self.node_urls:
            return self.node_urls[province].rstrip("/")
        return self.node_url_template.format(province=province, port=ports.node_port(province))

    @field_validator("provinces", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value.strip().lower() == "all":
                return list(PROVINCES)
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("provinces")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = [code for code in value if code not in PROVINCES]
        if unknown:
            raise ValueError(f"not provincial platform codes: {', '.join(unknown)}")
        return value


def for_province(
    model: type[Settings],
    province: str,
    values: Mapping[str, Any] | None = None,
) -> Settings:
    """`model`'s settings as one province of several hosted in one process sees them: a
    variable `PLS_<code>_<NAME>` stands, for that province only, for `PLS_<NAME>`
    (`PLS_440000_MEMBER_ID`, `PLS_440000_NODE_SIGNING_SEED`); every other setting is read as
    usual, and `values` override both."""
    prefix = str(model.model_config.get("env_prefix", "")).upper()
    own = f"PLS_{province}_" + prefix.removeprefix("PLS_")
    specific = {
        name: os.environ[own + name.upper()]
        for name in model.model_fields
        if own + name.upper() in os.environ
    }
    return model(**(specific | dict(values or {})))

"""Settings of the ministry hub, from `PLS_HUB_*` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from contracts.subjects import PROVINCES
from pls import ports


class HubSettings(BaseSettings):
    """The hub. Defaults consume all 32 provinces of the local federation."""

    model_config = SettingsConfigDict(env_prefix="PLS_HUB_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = ports.HUB
    database: str | None = None
    schema_name: str = "hub"
    provinces: Annotated[list[str], NoDecode] = list(PROVINCES)
    node_urls: dict[str, str] = {}
    node_url_template: str = "http://127.0.0.1:{port}"
    durable: str = "ministry-hub"
    max_batch: int = 2000
    fetch_batch: int = 500
    gap_timeout: float = 3.0
    silent_after: float = 900.0
    deadline_rules: Path | None = None
    reconcile_interval: float = 5.0
    resync_backoff: float = 60.0
    bus_grace: float = 30.0
    ready_gap_grace: float = 5.0
    queue_size: int = 20_000
    max_held: int = 50_000
    node_token: SecretStr | None = None
    node_token_file: Path | None = None

    def journal_token(self) -> str | None:
        """The bearer token the hub shows province nodes when it backfills from their journals."""
        if self.node_token_file is not None:
            return self.node_token_file.read_text().strip()
        return self.node_token.get_secret_value() if self.node_token else None

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

    def database_url(self, var_dir: Path) -> str:
        return self.database or str(var_dir / "hub" / "national.db")

    def node_url(self, province: str) -> str:
        if province in self.node_urls:
            return self.node_urls[province].rstrip("/")
        return self.node_url_template.format(province=province, port=ports.node_port(province))

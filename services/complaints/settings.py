"""Settings of the complaints supervision service, from `PLS_COMPLAINTS_*` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import AwareDatetime, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from contracts.subjects import PROVINCES
from pls import ports
from pls.sqlstore import eventsourcing_env


class ComplaintsSettings(BaseSettings):
    """National complaints supervision. Defaults supervise all 32 provinces of the local federation."""

    model_config = SettingsConfigDict(env_prefix="PLS_COMPLAINTS_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = ports.COMPLAINTS
    database: str | None = None
    schema_name: str = "complaints"
    provinces: Annotated[list[str], NoDecode] = list(PROVINCES)
    node_urls: dict[str, str] = {}
    node_url_template: str = "http://127.0.0.1:{port}"
    durable: str = "complaints-supervision"
    rules: Path | None = None
    time_scale: float = Field(
        default=1.0,
        gt=0,
        description="Supervised seconds per real second: 17280 makes a day pass every 5 s.",
    )
    epoch: AwareDatetime | None = Field(
        default=None, description="Where a compressed timeline starts (default: first start)."
    )
    check_interval: float = 5.0
    max_batch: int = 2000
    fetch_batch: int = 500
    gap_timeout: float = 3.0
    relay_enabled: bool = True
    relay_batch: int = 1000
    relay_ack_timeout: float = 10.0
    checkpoint_interval: float = 30.0
    signing_seed: Path | None = None
    node_token: SecretStr | None = None
    node_token_file: Path | None = None

    def journal_token(self) -> str | None:
        """The bearer token shown to province nodes when backfilling from their journals."""
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
        return self.database or str(var_dir / "complaints" / "supervision.db")

    def eventsourcing_env(self, var_dir: Path) -> dict[str, str]:
        return eventsourcing_env(self.database_url(var_dir), self.schema_name)

    def node_url(self, province: str) -> str:
        if province in self.node_urls:
            return self.node_urls[province].rstrip("/")
        return self.node_url_template.format(province=province, port=ports.node_port(province))

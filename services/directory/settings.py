"""Settings of the national directory, from `PLS_DIRECTORY_*` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from contracts.subjects import MINISTRY, PROVINCES
from pls import ports


class DirectorySettings(BaseSettings):
    """The directory. Defaults consume all 32 provinces and the ministry's own stream."""

    model_config = SettingsConfigDict(env_prefix="PLS_DIRECTORY_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = ports.DIRECTORY
    database: str | None = None
    schema_name: str = "directory"
    provinces: Annotated[list[str], NoDecode] = list(PROVINCES)
    ministry: bool = True
    node_urls: dict[str, str] = {}
    node_url_template: str = "http://127.0.0.1:{port}"
    durable: str = "directory"
    max_batch: int = 5000
    fetch_batch: int = 500
    gap_timeout: float = 3.0
    max_radius_m: float = 100_000.0
    default_radius_m: float = 10_000.0
    max_per_page: int = 100
    rate_limit_per_second: float = 20.0
    rate_limit_burst: int = 60
    trust_forwarded_for: bool = False
    node_token: SecretStr | None = None
    node_token_file: Path | None = None
    ministry_journal_url: str | None = Field(
        default=None,
        description="The complaints service, whose journal fills what the ministry's stream lost.",
    )

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

    @property
    def origins(self) -> list[str]:
        """Every stream the directory reads: the provinces', and the ministry's for credit events."""
        return [*self.provinces, *([MINISTRY] if self.ministry else [])]

    def database_url(self, var_dir: Path) -> str:
        return self.database or str(var_dir / "directory" / "directory.db")

    def journal_urls(self) -> dict[str, str]:
        """Where each source's journal is read: the province nodes', and the ministry's."""
        urls = {p: self.node_url(p) for p in self.provinces}
        if self.ministry and self.ministry_journal_url:
            urls[MINISTRY] = self.ministry_journal_url.rstrip("/")
        return urls

    def node_url(self, province: str) -> str:
        if province in self.node_urls:
            return self.node_urls[province].rstrip("/")
        return self.node_url_template.format(province=province, port=ports.node_port(province))

"""Settings of the national directory, from `PLS_DIRECTORY_*` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from contracts.subjects import MINISTRY
from pls import ports
from pls.settings import Linger, ProvinceConsumerSettings


class DirectorySettings(ProvinceConsumerSettings):
    """The directory. Defaults consume all 32 provinces and the ministry's own stream."""

    model_config = SettingsConfigDict(env_prefix="PLS_DIRECTORY_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = ports.DIRECTORY
    database: str | None = None
    schema_name: str = "directory"
    ministry: bool = True
    durable: str = "directory"
    max_batch: int = 5000
    linger: Linger = 0.25  # a quarter second later changes nothing here; batches cost less
    fetch_batch: int = 500
    gap_timeout: float = 3.0
    max_radius_m: float = 100_000.0
    default_radius_m: float = 10_000.0
    max_per_page: int = 100
    rate_limit_per_second: float = 20.0
    rate_limit_burst: int = 60
    trust_forwarded_for: bool = False
    ministry_journal_url: str | None = Field(
        default=None,
        description="The complaints service, whose journal fills what the ministry's stream lost.",
    )

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

"""Settings of the ministry hub, from `PLS_HUB_*` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import SettingsConfigDict

from pls import ports
from pls.settings import ProvinceConsumerSettings


class HubSettings(ProvinceConsumerSettings):
    """The hub. Defaults consume all 32 provinces of the local federation."""

    model_config = SettingsConfigDict(env_prefix="PLS_HUB_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = ports.HUB
    database: str | None = None
    schema_name: str = "hub"
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

    def database_url(self, var_dir: Path) -> str:
        return self.database or str(var_dir / "hub" / "national.db")

"""Settings of the complaints supervision service, from `PLS_COMPLAINTS_*` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import AwareDatetime, Field
from pydantic_settings import SettingsConfigDict

from pls import ports
from pls.settings import Linger, ProvinceConsumerSettings
from pls.sqlstore import eventsourcing_env


class ComplaintsSettings(ProvinceConsumerSettings):
    """National complaints supervision. Defaults supervise all 32 provinces of the local federation."""

    model_config = SettingsConfigDict(env_prefix="PLS_COMPLAINTS_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = ports.COMPLAINTS
    database: str | None = None
    schema_name: str = "complaints"
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
    linger: Linger = 0.25  # a quarter second later changes nothing here; batches cost less
    fetch_batch: int = 500
    gap_timeout: float = 3.0
    relay_enabled: bool = True
    relay_batch: int = 1000
    relay_ack_timeout: float = 10.0
    checkpoint_interval: float = 30.0
    signing_seed: Path | None = None

    def database_url(self, var_dir: Path) -> str:
        return self.database or str(var_dir / "complaints" / "supervision.db")

    def eventsourcing_env(self, var_dir: Path) -> dict[str, str]:
        return eventsourcing_env(self.database_url(var_dir), self.schema_name)

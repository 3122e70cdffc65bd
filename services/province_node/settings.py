"""Settings of a province node, from `PLS_NODE_*` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from contracts.subjects import PROVINCES
from pls import ports
from pls.settings import DEVELOPMENT_SECRET


class NodeSettings(BaseSettings):
    """One province node. Defaults run it in the local federation."""

    model_config = SettingsConfigDict(env_prefix="PLS_NODE_", extra="ignore")

    province: str = "440000"
    host: str = "127.0.0.1"
    port: int | None = None
    database: str | None = None
    schema_name: str | None = None
    pseudonym_secret: SecretStr = SecretStr(DEVELOPMENT_SECRET)
    pseudonym_secret_file: Path | None = None
    signing_seed: Path | None = None
    cipher_key: SecretStr | None = None
    cipher_key_file: Path | None = None
    relay_enabled: bool = True
    relay_batch: int = 1000
    relay_ack_timeout: float = 10.0
    relay_port: int | None = None
    # While the oldest event not yet published was stored more than this many seconds ago, and
    # the relay is publishing, a new command waits for publication to catch up (at most
    # `command_max_wait` seconds); 0 turns this off. See services/province_node/adapters/backlog.py.
    publish_delay_limit: float = 0.1
    command_max_wait: float = 5.0
    projection_batch: int = 500
    checkpoint_interval: float = 30.0
    max_page_size: int = 200

    @field_validator("province")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in PROVINCES:
            raise ValueError(f"{value!r} is not one of the 32 provincial platform codes")
        return value

    def pseudonym_key(self) -> SecretStr:
        """The province's pseudonymisation secret (from a file when one is given)."""
        if self.pseudonym_secret_file is not None:
            return SecretStr(self.pseudonym_secret_file.read_text().strip())
        return self.pseudonym_secret

    def encryption_key(self) -> str | None:
        """The event store's AES key (base64), when encryption at rest is configured."""
        if self.cipher_key_file is not None:
            return self.cipher_key_file.read_text().strip()
        return self.cipher_key.get_secret_value() if self.cipher_key else None

    def listen_port(self) -> int:
        return self.port if self.port is not None else ports.node_port(self.province)

    def relay_listen_port(self) -> int:
        """A relay running as its own process serves health and metrics here."""
        return self.relay_port if self.relay_port is not None else ports.relay_port(self.province)

    def database_url(self, var_dir: Path) -> str:
        return self.database or str(var_dir / "nodes" / self.province / "node.db")

    def eventsourcing_env(self, var_dir: Path) -> dict[str, str]:
        """The eventsourcing persistence settings for this node's event store."""
        url = self.database_url(var_dir)
        cipher: dict[str, str] = {}
        key = self.encryption_key()
        if key:
            cipher = {"CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher", "CIPHER_KEY": key}
        if url.startswith(("postgresql://", "postgres://")):
            from urllib.parse import urlparse

            parsed = urlparse(url)
            return {
                "PERSISTENCE_MODULE": "eventsourcing.postgres",
                "POSTGRES_DBNAME": parsed.path.lstrip("/") or "postgres",
                "POSTGRES_HOST": parsed.hostname or "127.0.0.1",
                "POSTGRES_PORT": str(parsed.port or 5432),
                "POSTGRES_USER": parsed.username or "postgres",
                "POSTGRES_PASSWORD": parsed.password or "",
                "POSTGRES_SCHEMA": self.schema_in_use,
                "CREATE_TABLE": "y",
                **cipher,
            }
        Path(url).parent.mkdir(parents=True, exist_ok=True)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": url,
            "SQLITE_LOCK_TIMEOUT": "30",
            **cipher,
        }

    @property
    def schema_in_use(self) -> str:
        """The PostgreSQL schema of this node's event store and views."""
        return self.schema_name or f"node_{self.province}"

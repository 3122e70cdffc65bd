"""federation.json: what `pls up` writes about a running local federation (URLs, stores, trust,
which process serves each node), read by the commands that work on it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pls.settings import CommonSettings


def simulator_report(var_dir: Path) -> Path:
    """Where `pls up`'s traffic simulator writes what it was asked and did (see
    `pls.simulator.traffic.Simulator.write_report`), under the federation's var directory."""
    return var_dir / "simulator.json"


@dataclass
class Manifest:
    """What a `pls up` federation.json says about where things are and who a service is."""

    data: dict[str, Any]

    @classmethod
    def read(cls, path: Path) -> Manifest:
        return cls(json.loads(path.read_text()))

    @property
    def provinces(self) -> list[str]:
        return list(self.data["provinces"])

    def node_urls(self) -> dict[str, str]:
        return {code: entry["url"] for code, entry in self.data["provinces"].items()}

    def token_file(self, name: str) -> Path | None:
        tokens = self.data.get("trust", {}).get("tokens")
        return Path(tokens) / f"{name}.jwt" if tokens else None

    def operator_token(self) -> str | None:
        return self.token("federation-operator")

    def common(self, member: str) -> CommonSettings:
        trust = self.data.get("trust", {})
        return CommonSettings(
            nats_url=self.data["nats"]["url"],
            var_dir=Path(self.data["var_dir"]),
            trust_registry=Path(trust["registry"]) if trust.get("registry") else None,
            member_id=member,
            nats_creds=Path(trust["nats_credentials"]) / f"{member}.nk"
            if trust.get("nats_credentials")
            else None,
        )

    def simulator_report(self) -> Path:
        return simulator_report(Path(self.data["var_dir"]))

    def token(self, name: str) -> str | None:
        path = self.token_file(name)
        return path.read_text().strip() if path and path.exists() else None

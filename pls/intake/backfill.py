"""Backfill: fetching what the bus lost from a province node's own journal over HTTP."""

from __future__ import annotations

import httpx
import orjson

from contracts.envelope import canonical_bytes
from pls.intake.intake import Delivery


class JournalClient:
    """Reads `GET /v1/journal` of province nodes; events come back exactly as published."""

    def __init__(
        self, url_of: dict[str, str], *, timeout: float = 10.0, token: str | None = None
    ) -> None:
        self.url_of = url_of
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.AsyncClient(timeout=timeout, headers=headers)

    async def fetch(self, origin: str, after: int, limit: int) -> list[Delivery]:
        base = self.url_of.get(origin)
        if base is None:
            raise LookupError(f"no province node URL is configured for {origin}")
        response = await self.client.get(
            f"{base}/v1/journal", params={"after": after, "limit": limit}
        )
        response.raise_for_status()
        payload = orjson.loads(response.content)
        return [
            Delivery(origin=origin, subject=None, body=canonical_bytes(event), via="backfill")
            for event in payload["events"]
        ]

    async def head(self, origin: str) -> int:
        base = self.url_of[origin]
        response = await self.client.get(f"{base}/v1/journal/head")
        response.raise_for_status()
        return int(response.json()["sequence"])

    async def close(self) -> None:
        await self.client.aclose()

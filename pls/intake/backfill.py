"""Backfill: fetching what the bus lost from a province node's own journal over HTTP.

The journal (`GET /v1/journal`) returns the province's published events in sequence order,
exactly as published, a page at a time; `GET /v1/journal/head` says where it ends and, asked
`at` a sequence, what the running hash through that sequence is, so a consumer can prove that
what it applied is what the province published. A bearer token is sent when one is configured.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import orjson

from contracts.envelope import canonical_bytes
from pls.intake.intake import Delivery


@dataclass(frozen=True)
class JournalPage:
    """Events after a sequence, and the journal's last sequence when they were read."""

    deliveries: list[Delivery]
    head: int


@dataclass(frozen=True)
class JournalHead:
    """Where a province's journal ends; `at_hash` is its running hash at the sequence asked."""

    sequence: int
    running_hash: str
    at_sequence: int | None = None
    at_hash: str | None = None


class JournalClient:
    """Reads the journals of province nodes; events come back exactly as published."""

    def __init__(
        self, url_of: dict[str, str], *, timeout: float = 10.0, token: str | None = None
    ) -> None:
        self.url_of = {origin: url.rstrip("/") for origin, url in url_of.items()}
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.client = httpx.AsyncClient(timeout=timeout, headers=headers)

    def knows(self, origin: str) -> bool:
        return origin in self.url_of

    def _base(self, origin: str) -> str:
        base = self.url_of.get(origin)
        if base is None:
            raise LookupError(f"no province node URL is configured for {origin}")
        return base

    async def page(self, origin: str, after: int, limit: int) -> JournalPage:
        response = await self.client.get(
            f"{self._base(origin)}/v1/journal", params={"after": after, "limit": limit}
        )
        response.raise_for_status()
        payload = orjson.loads(response.content)
        return JournalPage(
            [
                Delivery(origin=origin, subject=None, body=canonical_bytes(event), via="backfill")
                for event in payload["events"]
            ],
            int(payload["head"]),
        )

    async def fetch(self, origin: str, after: int, limit: int) -> list[Delivery]:
        return (await self.page(origin, after, limit)).deliveries

    async def head(self, origin: str, at: int | None = None) -> JournalHead:
        params = {"at": at} if at is not None else {}
        response = await self.client.get(f"{self._base(origin)}/v1/journal/head", params=params)
        response.raise_for_status()
        body = response.json()
        return JournalHead(
            sequence=int(body["sequence"]),
            running_hash=str(body["running_hash"]),
            at_sequence=body.get("at_sequence"),
            at_hash=body.get("at_running_hash"),
        )

    async def close(self) -> None:
        await self.client.aclose()

"""Registering a simulated directory through the province nodes' HTTP API: the path a province's
own staff take, so every agency reaches the directory through relay, stream and intake."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable
from typing import Any

import httpx
import structlog

from contracts.events import agency as ae
from contracts.events.base import EventData

log = structlog.get_logger(__name__)


async def register_through_nodes(
    events: Iterable[tuple[str, EventData]], nodes: dict[str, str], *, concurrency: int = 16
) -> int:
    """Send each agency's events, in order, to its province node; returns the requests made."""
    semaphore = asyncio.Semaphore(concurrency)
    sent = 0
    async with httpx.AsyncClient(timeout=30.0) as client:

        async def one_agency(origin: str, items: list[EventData]) -> None:
            nonlocal sent
            base = nodes[origin].rstrip("/")
            async with semaphore:
                agency: str | None = None
                for data in items:
                    request = _request(data, agency)
                    if request is None:
                        continue
                    path, body, key = request
                    response = await client.post(
                        f"{base}{path}", json=body, headers={"Idempotency-Key": key} if key else {}
                    )
                    sent += 1
                    if response.status_code >= 400:
                        log.warning("node refused", path=path, status=response.status_code)
                        return
                    if isinstance(data, ae.AgencyRegistered):
                        agency = response.json()["id"]

        tasks = []
        grouped = itertools.groupby(events, key=lambda pair: (pair[0], pair[1].agency_id))  # type: ignore[attr-defined]
        for (origin, _), pairs in grouped:
            tasks.append(asyncio.create_task(one_agency(origin, [data for _, data in pairs])))
            if len(tasks) >= concurrency * 8:
                await asyncio.gather(*tasks)
                tasks = []
        await asyncio.gather(*tasks)
    return sent


def _request(data: EventData, agency: str | None) -> tuple[str, dict[str, Any], str | None] | None:
    if isinstance(data, ae.AgencyRegistered):
        body = data.model_dump(mode="json", exclude={"agency_id", "registered_at"})
        return "/v1/agencies", body, f"directory-{data.agency_id}"
    if agency is None:
        return None
    if isinstance(data, ae.AgencyPersonnelJoined):
        body = {
            "person_id": data.person_id,
            "name": data.name,
            "role": data.role.value,
            "licence_number": data.licence_number,
        }
        return f"/v1/agencies/{agency}/personnel", body, None
    if isinstance(data, ae.AgencyLicenceSuspended):
        until = data.until.isoformat() if data.until else None
        return (
            f"/v1/agencies/{agency}/licence/suspend",
            {"action": data.action.value, "until": until},
            None,
        )
    if isinstance(data, ae.AgencyLicenceRevoked):
        return f"/v1/agencies/{agency}/licence/revoke", {"action": data.action.value}, None
    if isinstance(data, ae.AgencyClosed):
        return f"/v1/agencies/{agency}/close", {}, None
    return None

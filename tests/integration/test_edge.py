"""What every service's requests pass through: the body limit, security headers, metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI, Request
from prometheus_client import REGISTRY

from pls.web import install_common

LIMIT = 1_000


def _service() -> tuple[FastAPI, list[int]]:
    app = FastAPI()
    install_common(app, "edge-test", max_body_bytes=LIMIT)
    stored: list[int] = []

    @app.post("/v1/notes", status_code=201)
    async def add_note(request: Request) -> dict[str, int]:
        body = await request.body()
        stored.append(len(body))
        return {"size": len(body)}

    @app.get("/about")
    async def about() -> dict[str, str]:
        return {"service": "edge-test"}

    return app, stored


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://node")


def _count(route: str, status: str) -> float:
    value = REGISTRY.get_sample_value(
        "pls_http_requests_total",
        {"service": "edge-test", "method": "POST", "route": route, "status": status},
    )
    return value or 0.0


async def test_a_body_over_the_limit_is_refused_before_the_route_sees_it() -> None:
    app, stored = _service()
    refused_before = _count("/v1/notes", "413")
    async with _client(app) as client:
        declared = await client.post("/v1/notes", content=b"x" * (LIMIT + 1))

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
            for _ in range(3):
                yield b"y" * (LIMIT // 2)

        streamed = await client.post("/v1/notes", content=chunks())
        accepted = await client.post("/v1/notes", content=b"z" * LIMIT)

    for refused in (declared, streamed):
        assert refused.status_code == 413
        assert refused.json()["detail"] == f"request body over {LIMIT} bytes"
        assert refused.headers["x-content-type-options"] == "nosniff"
    assert accepted.status_code == 201
    assert stored == [LIMIT]  # only the body within the limit reached the route
    # The one refused after the route was chosen is counted under it.
    assert _count("/v1/notes", "413") == refused_before + 1


async def test_every_answer_carries_security_headers_and_api_answers_are_not_cached() -> None:
    app, _ = _service()
    created_before = _count("/v1/notes", "201")
    async with _client(app) as client:
        api = await client.post("/v1/notes", content=b"{}")
        page = await client.get("/about")
        missing = await client.get("/v1/nothing-here")

    for response in (api, page, missing):
        assert response.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert api.headers["cache-control"] == "no-store"
    assert missing.headers["cache-control"] == "no-store"
    assert "cache-control" not in page.headers
    assert _count("/v1/notes", "201") == created_before + 1

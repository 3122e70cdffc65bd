"""Property-based fuzzing of every service's OpenAPI: valid and invalid requests, never a 5xx.

Schemathesis generates requests from each operation's schema, both conforming and deliberately
malformed, and sends them with a token that is allowed to call the operation.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from pls.trust.local import LocalTrust
from services.ministry_hub.bootstrap import create_app as create_hub_app
from services.province_node.bootstrap import create_app as create_node_app
from tests.support import Hub, Node, Supervisor

EXAMPLES = 25


def fuzz(app: FastAPI, token: str) -> list[str]:
    """Every operation, positive and negative inputs; the 5xx responses found, described."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def call(case: Any) -> None:
                response = case.call(headers={"Authorization": f"Bearer {token}"})
                if response.status_code >= 500:
                    failures.append(
                        f"{case.method} {case.formatted_path} -> {response.status_code}: "
                        f"{response.text[:200]}"
                    )

            # Unsatisfiable: no malformed request exists for this operation (it takes no input).
            with contextlib.suppress(Unsatisfiable):
                call()
    return failures


@pytest.fixture
def node(tmp_path: Path, nats_server, trust: LocalTrust) -> Iterator[Node]:
    node = Node.build(tmp_path / "node", "440000", nats_server.url, trust, relay=False)
    yield node
    node.runtime.close()


def test_the_province_node_api_never_answers_5xx(node: Node, trust: LocalTrust) -> None:
    failures = fuzz(create_node_app(node.runtime), trust.operator_token("440000"))
    assert failures == []


def test_the_hub_api_never_answers_5xx(tmp_path: Path, nats_server, trust: LocalTrust) -> None:
    hub = Hub.build(str(tmp_path / "hub.db"), "hub", ["440000", "110000"], nats_server.url, trust)
    try:
        failures = fuzz(create_hub_app(hub.runtime), trust.staff_token())
    finally:
        hub.runtime.readmodel.db.close()
    assert failures == []


def test_the_complaints_supervision_api_never_answers_5xx(
    tmp_path: Path, nats_server, trust: LocalTrust
) -> None:
    from pls.clock import ManualClock
    from services.complaints.bootstrap import create_app as create_complaints_app

    supervisor = Supervisor.build(
        str(tmp_path / "s.db"),
        "complaints",
        ["440000"],
        nats_server.url,
        ManualClock(datetime(2026, 11, 26, tzinfo=UTC)),
        tmp_path,
        trust,
    )
    try:
        failures = fuzz(create_complaints_app(supervisor.runtime), trust.staff_token())
    finally:
        supervisor.runtime.app.close()
        supervisor.runtime.readmodel.db.close()
    assert failures == []


async def test_a_national_question_about_days_no_record_can_have_is_refused(
    tmp_path: Path, nats_server, trust: LocalTrust
) -> None:
    """Found by the fuzzing above: `to=0001-01-01` made the 30 days before it overflow (500)."""
    hub = Hub.build(str(tmp_path / "hub.db"), "hub", ["440000"], nats_server.url, trust)
    headers = {"Authorization": f"Bearer {trust.staff_token()}"}
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_hub_app(hub.runtime)), base_url="http://hub"
        ) as client:
            for query, field in (("to=0001-01-01", "to"), ("from=9999-12-31", "from")):
                refused = await client.get(f"/v1/national/timeseries?{query}", headers=headers)
                assert refused.status_code == 422, refused.text
                assert refused.json()["detail"][0]["field"] == field
            usual = await client.get("/v1/national/timeseries?to=2026-11-26", headers=headers)
            assert usual.status_code == 200
            # the 30 days up to `to`, by default
            assert usual.json()["scope"]["from"] == "2026-10-28"
    finally:
        hub.runtime.readmodel.db.close()

"""The province node's complaint API refuses bad input with a 4xx naming the field or rule, and
records nothing; good input records each step with who took it and when."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from pls.trust.local import LocalTrust
from pls.trust.tokens import Role
from tests.support import Node
from tests.unit.samples import LAW_FIRM

COMPLAINANT = {"name": "欧阳娜娜", "phone": "13912345678"}


class OperatorClient(httpx.Client):
    """A client holding a Guangdong operator's token; `as_operator` acts as another operator."""

    def __init__(self, trust: LocalTrust, **options: Any) -> None:
        super().__init__(**options, headers=self.as_operator_of(trust, "op-1"))
        self.trust = trust

    @staticmethod
    def as_operator_of(trust: LocalTrust, subject: str) -> dict[str, str]:
        token = trust.token(subject, [Role.PROVINCE_OPERATOR], province="440000")
        return {"Authorization": f"Bearer {token}"}

    def as_operator(self, subject: str) -> dict[str, str]:
        return self.as_operator_of(self.trust, subject)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, trust: LocalTrust) -> Iterator[OperatorClient]:
    node = Node.build(
        tmp_path_factory.mktemp("node"), "440000", "nats://127.0.0.1:1", trust, relay=False
    )
    node.serve_http()  # the node's own lifespan starts its projection
    try:
        with OperatorClient(trust, base_url=str(node.url), timeout=10) as client:
            yield client
    finally:
        node.stop_http()


@pytest.fixture(scope="module")
def agency(client: httpx.Client) -> str:
    response = client.post("/v1/agencies", json=LAW_FIRM)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def file(client: httpx.Client, **fields: Any) -> Any:
    body = {
        "against": "platform_service",
        "category": "delay",
        "channel": "hotline_12348",
        "complainant": COMPLAINANT,
        **fields,
    }
    return client.post("/v1/complaints", json=body)


def complaint_count(client: httpx.Client) -> int:
    return int(client.get("/v1/complaints").json()["total_items"])


def field_of(response: Any) -> str:
    return str(response.json()["detail"][0]["field"])


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"against": "agency", "agency_id": "6b1f0c9a-2e3d-4c5b-8a7f-9e0d1c2b3a40"}, "agency_id"),
        ({"against": "agency"}, "agency_id"),
        ({"against": "person", "person_id": "p-1"}, "person_id"),
        ({"case_id": "0d9f3c1e-6a4b-4a57-9a0e-3b9c7f1d2e99"}, "case_id"),
        ({"category": "rudeness"}, "category"),
    ],
)
def test_a_complaint_naming_what_the_province_does_not_have_is_refused(
    client: httpx.Client, fields: dict[str, Any], field: str
) -> None:
    before = complaint_count(client)
    response = file(client, **fields)
    assert response.status_code == 422, response.text
    assert field_of(response) == field
    assert complaint_count(client) == before


def test_a_complaint_against_an_unknown_person_of_a_known_agency_is_refused(
    client: httpx.Client, agency: str
) -> None:
    response = file(client, against="person", agency_id=agency, person_id="nobody")
    assert response.status_code == 422
    assert field_of(response) == "person_id"


def new_complaint(client: httpx.Client, agency: str) -> str:
    received = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    response = file(client, against="agency", agency_id=agency, received_at=received)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def status(client: httpx.Client, complaint: str, actor: str = "op-1", **body: Any) -> Any:
    assert isinstance(client, OperatorClient)
    return client.post(
        f"/v1/complaints/{complaint}/status", json=body, headers=client.as_operator(actor)
    )


def test_a_status_change_that_skips_the_process_is_refused(
    client: httpx.Client, agency: str
) -> None:
    complaint = new_complaint(client, agency)
    response = status(client, complaint, status="resolved", outcome="upheld", finding="other")
    assert response.status_code == 409
    assert response.json()["error"] == "TransitionNotAllowed"
    assert "accepted" in response.json()["detail"]
    assert client.get(f"/v1/complaints/{complaint}").json()["status"] == "received"


@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        ({"status": "not_accepted"}, "reason", "ReasonRequired"),
        ({"status": "not_accepted", "reason": "new_evidence"}, "reason", None),
        ({"status": "accepted", "outcome": "upheld"}, "outcome", None),
        ({"status": "accepted", "at": "2099-01-01T00:00:00Z"}, "at", "StepInTheFuture"),
        ({"status": "accepted", "at": "2000-01-01T00:00:00Z"}, "at", "StepBeforePreviousStep"),
    ],
)
def test_a_step_without_what_it_must_state_is_refused(
    client: httpx.Client, agency: str, body: dict[str, Any], field: str, rule: str | None
) -> None:
    complaint = new_complaint(client, agency)
    version = client.get(f"/v1/complaints/{complaint}").json()["version"]
    response = status(client, complaint, **body)
    assert response.status_code == 422, response.text
    assert field_of(response) == field
    if rule is not None:
        assert response.json()["error"] == rule
    assert client.get(f"/v1/complaints/{complaint}").json()["version"] == version


def test_a_resolution_without_a_finding_is_refused(client: httpx.Client, agency: str) -> None:
    complaint = new_complaint(client, agency)
    assert status(client, complaint, status="accepted").status_code == 200
    assert status(client, complaint, status="investigating").status_code == 200
    for body, field in (
        ({"status": "resolved", "outcome": "upheld"}, "finding"),
        ({"status": "resolved", "finding": "improper_fees"}, "outcome"),
    ):
        response = status(client, complaint, **body)
        assert response.status_code == 422
        assert field_of(response) == field
        assert response.json()["error"] in {"FindingRequired", "OutcomeRequired"}
    assert client.get(f"/v1/complaints/{complaint}").json()["status"] == "investigating"


def test_each_step_is_recorded_with_who_took_it_and_when(client: httpx.Client, agency: str) -> None:
    complaint = new_complaint(client, agency)
    accepted_at = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)
    assert (
        status(client, complaint, "op-7", status="accepted", at=accepted_at.isoformat()).status_code
        == 200
    )
    assert status(client, complaint, "op-8", status="investigating").status_code == 200
    assert (
        status(client, complaint, "op-8", status="action_taken", action="apology").status_code
        == 200
    )
    resolved = status(
        client,
        complaint,
        "op-9",
        status="resolved",
        outcome="partly_upheld",
        finding="improper_conduct",
        finding_text="接待人员态度生硬",
    )
    assert resolved.status_code == 200, resolved.text
    record = resolved.json()
    assert (record["outcome"], record["finding"]) == ("partly_upheld", "improper_conduct")
    history = record["history"]
    assert [h["status"] for h in history] == [
        "received",
        "accepted",
        "investigating",
        "action_taken",
        "resolved",
    ]
    assert [h["actor"] for h in history[1:]] == ["op-7", "op-8", "op-8", "op-9"]
    assert datetime.fromisoformat(history[1]["at"]) == accepted_at

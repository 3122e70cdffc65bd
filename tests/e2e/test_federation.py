"""The federation as a user meets it: nats-server, hub and province nodes as separate processes,
driven over HTTP and read back from NATS."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cloudevents.core.formats.json import JSONFormat

from contracts.subjects import stream_name
from pls.federation import Federation
from tests.support import FederationAuth, federation_on_free_ports, jetstream, wait_sync

PROVINCES = ["440000", "510000"]
COUNTIES = {"440000": ["440106", "440304", "441900"], "510000": ["510104", "510107"]}
CITIZEN = {
    "name": "欧阳娜娜",
    "phone": "13912345678",
    "id_number": "11010519491231002X",
    "address": "广州市天河区体育西路191号",
}


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    federation = federation_on_free_ports(
        tmp_path_factory.mktemp("federation"),
        PROVINCES,
        checkpoint_interval=2.0,
        node_processes=1,  # both nodes in one process, as `pls up` runs many provinces
    )
    federation.start()
    yield federation
    federation.stop()


def client_for(federation: Federation) -> httpx.Client:
    return httpx.Client(timeout=10, auth=FederationAuth(federation))


def post(
    client: httpx.Client, url: str, body: dict[str, Any] | None = None, **headers: str
) -> httpx.Response:
    return client.post(url, json=body or {}, headers=headers)


def run_lifecycle(client: httpx.Client, node: str, county: str, n: int, *, key: str) -> str:
    """Open a legal aid case and take it through its whole lifecycle; returns the case id."""
    body = {
        "service_type": "legal_aid",
        "channel": "walk_in",
        "platform_level": "county_centre",
        "county": county,
        "applicant": CITIZEN,
        "applicant_categories": ["low_income"],
    }
    opened = post(client, f"{node}/v1/cases", body, **{"Idempotency-Key": key})
    assert opened.status_code == 201, opened.text
    case = opened.json()["id"]
    if n % 5 == 0:
        assert (
            post(
                client, f"{node}/v1/cases/{case}/reject", {"reason": "not_eligible_financial"}
            ).status_code
            == 200
        )
        return case
    assert post(client, f"{node}/v1/cases/{case}/accept").status_code == 200
    if n % 3 == 0:
        return case
    agency = wait_sync(
        lambda: client.get(
            f"{node}/v1/agencies", params={"agency_type": "legal_aid_centre"}
        ).json()["contents"],
        20,
        f"a seeded legal aid centre listed by {node}",
    )[0]["id"]
    assert post(client, f"{node}/v1/cases/{case}/assign", {"agency_id": agency}).status_code == 200
    assert post(client, f"{node}/v1/cases/{case}/start").status_code == 200
    assert (
        post(
            client, f"{node}/v1/cases/{case}/conclude", {"outcome": "representation_completed"}
        ).status_code
        == 200
    )
    if n % 2 == 0:
        rating = {"overall": 1 + n % 5, "attitude": 4, "efficiency": 3, "competence": 5}
        assert post(client, f"{node}/v1/cases/{case}/rating", rating).status_code == 200
    return case


def register_agency(client: httpx.Client, node: str, county: str) -> None:
    body = {
        "agency_type": "legal_aid_centre",
        "name": f"{county}法律援助中心",
        "county": county,
        "address": "人民路1号",
        "services": ["legal_aid"],
        "opening_hours": [{"day": "mon", "opens": "09:00", "closes": "17:00"}],
    }
    response = post(client, f"{node}/v1/agencies", body, **{"Idempotency-Key": f"agency-{county}"})
    assert response.status_code in (200, 201), response.text


def hub_matches_provinces(client: httpx.Client, federation: Federation) -> bool:
    for province in PROVINCES:
        mine = client.get(f"{federation.node_url(province)}/v1/statistics").json()
        national = client.get(
            f"{federation.hub_url}/v1/national/summary", params={"province": province}
        )
        if national.status_code != 200:
            return False
        cases = national.json()["cases"]
        satisfaction = national.json()["satisfaction"]
        for key in ("total", "by_status", "by_service_type", "by_channel", "by_outcome"):
            if cases[key] != mine[key]:
                return False
        if satisfaction["rated"] != mine["ratings"]["count"]:
            return False
        if satisfaction["rating_sum"] != mine["ratings"]["overall_sum"]:
            return False
    return True


def national_total(client: httpx.Client, federation: Federation) -> int:
    return int(client.get(f"{federation.hub_url}/v1/national/summary").json()["cases"]["total"])


def test_national_view_equals_what_each_province_reports(federation: Federation) -> None:
    with client_for(federation) as client:
        for province in PROVINCES:
            register_agency(client, federation.node_url(province), COUNTIES[province][0])
        opened = 0
        for province in PROVINCES:
            for n in range(12):
                county = COUNTIES[province][n % len(COUNTIES[province])]
                run_lifecycle(
                    client, federation.node_url(province), county, n, key=f"e2e-{province}-{n}"
                )
                opened += 1
        wait_sync(lambda: hub_matches_provinces(client, federation), 30, "hub equals provinces")
        assert national_total(client, federation) == opened
        provinces = client.get(f"{federation.hub_url}/v1/national/provinces").json()["rows"]
        assert sum(row["total"] for row in provinces) == opened
        wait_sync(
            lambda: all(
                row["status"] == "complete"
                for row in client.get(f"{federation.hub_url}/v1/national/freshness").json()["rows"]
            ),
            30,
            "every province complete (checkpoint verified)",
        )
        freshness = client.get(f"{federation.hub_url}/v1/national/freshness").json()
        assert freshness["delay"]["events"] >= opened  # each lifecycle is several events
        assert all(row["delay"]["events"] >= 12 for row in freshness["rows"])
        assert 0 < freshness["delay"]["p50_seconds"] <= freshness["delay"]["p99_seconds"] < 60


def test_a_retried_post_opens_one_case(federation: Federation) -> None:
    node = federation.node_url("440000")
    body = {"service_type": "consultation", "channel": "hotline_12348", "county": "440106"}
    with client_for(federation) as client:
        before = client.get(f"{node}/v1/statistics").json()["total"]
        first = post(client, f"{node}/v1/cases", body, **{"Idempotency-Key": "hotline-call-778"})
        again = post(client, f"{node}/v1/cases", body, **{"Idempotency-Key": "hotline-call-778"})
        assert (first.status_code, again.status_code) == (201, 200)
        assert first.json()["id"] == again.json()["id"]
        other = post(
            client,
            f"{node}/v1/cases",
            {**body, "channel": "web"},
            **{"Idempotency-Key": "hotline-call-778"},
        )
        assert other.status_code == 422
        wait_sync(
            lambda: client.get(f"{node}/v1/statistics").json()["total"] == before + 1,
            10,
            "one case",
        )


def test_bad_requests_get_clear_4xx_and_change_nothing(federation: Federation) -> None:
    node = federation.node_url("510000")
    with client_for(federation) as client:
        before = client.get(f"{node}/v1/statistics").json()["total"]
        wrong_county = post(
            client,
            f"{node}/v1/cases",
            {"service_type": "mediation", "channel": "web", "county": "440106"},
        )
        assert wrong_county.status_code == 422
        assert wrong_county.json()["detail"][0]["field"] == "county"
        bad_id = post(
            client,
            f"{node}/v1/cases",
            {
                "service_type": "mediation",
                "channel": "web",
                "county": "510104",
                "applicant": {"id_number": "110105194912310021"},
            },
        )
        assert bad_id.status_code == 422 and "applicant.id_number" in bad_id.text
        assert post(client, f"{node}/v1/cases", {"service_type": "dancing"}).status_code == 422
        assert (
            client.post(
                f"{node}/v1/cases",
                content=b"{not json",
                headers={"content-type": "application/json"},
            ).status_code
            == 422
        )
        missing = client.get(f"{node}/v1/cases/00000000-0000-0000-0000-000000000000")
        assert missing.status_code == 404
        case = post(
            client,
            f"{node}/v1/cases",
            {"service_type": "mediation", "channel": "web", "county": "510104"},
        ).json()["id"]
        post(client, f"{node}/v1/cases/{case}/reject", {"reason": "outside_scope"})
        conflict = post(
            client, f"{node}/v1/cases/{case}/conclude", {"outcome": "agreement_reached"}
        )
        assert conflict.status_code == 409
        assert conflict.json()["error"] == "CaseAlreadyRejected"
        assert (
            client.get(
                f"{federation.hub_url}/v1/national/summary", params={"province": "999999"}
            ).status_code
            == 422
        )
        assert client.get(f"{node}/v1/cases", params={"page": 999}).status_code == 404
        wait_sync(
            lambda: client.get(f"{node}/v1/statistics").json()["total"] == before + 1,
            10,
            "only the valid case",
        )


def test_killing_the_hub_or_a_node_changes_no_national_total(federation: Federation) -> None:
    with client_for(federation) as client:
        for province in PROVINCES:  # the lifecycles assign cases to these
            register_agency(client, federation.node_url(province), COUNTIES[province][0])
        wait_sync(
            lambda: hub_matches_provinces(client, federation), 30, "settled before the faults"
        )
        hub = federation.child("hub")
        os.kill(hub.process.pid, signal.SIGKILL)
        hub.process.wait()
        for n in range(6):
            run_lifecycle(
                client, federation.node_url("440000"), "440106", n + 1, key=f"while-hub-down-{n}"
            )
        federation.spawn_hub()
        federation.wait_ready(names=["hub"])
        wait_sync(
            lambda: hub_matches_provinces(client, federation), 40, "hub caught up after kill -9"
        )

        node = federation.child(federation.node_process("510000"))
        for n in range(4):
            run_lifecycle(
                client, federation.node_url("510000"), "510104", n + 1, key=f"before-node-kill-{n}"
            )
        os.kill(node.process.pid, signal.SIGKILL)
        node.process.wait()
        federation.spawn_node("510000")
        federation.wait_ready(names=[federation.node_process("510000")])
        wait_sync(
            lambda: hub_matches_provinces(client, federation),
            40,
            "hub caught up after node kill -9",
        )


def test_every_published_message_is_a_valid_cloudevent_without_personal_data(
    federation: Federation,
) -> None:
    async def read_all() -> list[tuple[str, bytes, dict[str, Any]]]:
        messages = []
        async with jetstream(federation.nats_url, federation.trust) as js:
            for province in PROVINCES:
                info = await js.stream_info(stream_name(province))
                for sequence in range(info.state.first_seq, info.state.last_seq + 1):
                    message = await js.get_msg(stream_name(province), sequence)
                    messages.append((message.subject, message.data, dict(message.headers or {})))
        return messages

    messages = asyncio.run(read_all())
    assert len(messages) > 50
    ids = set()
    for subject, data, headers in messages:
        event = JSONFormat().read(None, data)
        assert event.get_specversion() == "1.0"
        assert subject.endswith(event.get_type().split(".")[-2])
        assert headers["Nats-Msg-Id"] == event.get_id()
        ids.add(event.get_id())
        text = data.decode()
        for secret in CITIZEN.values():
            assert secret not in text
        assert "13912345678" not in text and "欧阳" not in text
    assert len(ids) == len(messages)

    with client_for(federation) as client:
        national = client.get(f"{federation.hub_url}/v1/national/provinces").text
        assert CITIZEN["name"] not in national and CITIZEN["phone"] not in national


def test_every_service_answers_health_metrics_and_docs(federation: Federation) -> None:
    with client_for(federation) as client:
        for url in [
            federation.hub_url,
            federation.complaints_url,
            federation.directory_url,
            *(federation.node_url(p) for p in PROVINCES),
        ]:
            for path in ("/healthz", "/readyz", "/openapi.json", "/docs", "/metrics"):
                assert client.get(f"{url}{path}").status_code == 200, f"{url}{path}"
        assert "pls_hub_applied_total" in client.get(f"{federation.hub_url}/metrics").text
        # Both nodes share a process: its metrics name each one's relay.
        metrics = client.get(f"{federation.node_url('440000')}/metrics").text
        for province in PROVINCES:
            assert f'pls_relay_published_total{{origin="{province}"}}' in metrics
        dashboard = client.get(f"{federation.hub_url}/")
        assert dashboard.status_code == 200 and "全国公共法律服务" in dashboard.text


def test_a_late_complaint_is_escalated_and_an_upheld_one_enters_the_credit_record(
    federation: Federation,
) -> None:
    node = federation.node_url("510000")
    supervision = f"{federation.complaints_url}/v1/supervision"
    with client_for(federation) as client:
        agency = post(
            client,
            f"{node}/v1/agencies",
            {
                "agency_type": "law_firm",
                "name": "四川锦江律师事务所",
                "licence_number": "15101200010000009",
                "county": "510104",
                "address": "成都市锦江区红星路 1 号",
            },
        ).json()["id"]
        received = (datetime.now(UTC) - timedelta(days=30)).isoformat()
        filed = post(
            client,
            f"{node}/v1/complaints",
            {
                "against": "agency",
                "agency_id": agency,
                "category": "fees",
                "channel": "hotline_12348",
                "received_at": received,
                "complainant": CITIZEN,
                "description": "多收律师费",
            },
        )
        assert filed.status_code == 201, filed.text
        complaint = filed.json()["id"]

        def overdue() -> list[dict[str, Any]]:
            listed = client.get(f"{supervision}/overdue", params={"agency_id": agency}).json()
            return [item for item in listed["contents"] if item["escalation"] != "none"]

        # Both escalations are due: to the province first, then (on the next check) the ministry.
        (item,) = wait_sync(
            lambda: [i for i in overdue() if i["escalation"] == "ministry"], 30, "escalated"
        )
        assert (item["subject_id"], item["phase"]) == (complaint, "acceptance")
        # Thirty days late is past both the province's and the ministry's escalation.
        assert item["escalation"] == "ministry"

        for body in (
            {"status": "accepted"},
            {"status": "investigating"},
            {"status": "resolved", "outcome": "upheld", "finding": "improper_fees"},
        ):
            assert post(client, f"{node}/v1/complaints/{complaint}/status", body).status_code == 200

        def credit() -> dict[str, Any]:
            record = client.get(f"{supervision}/agencies/{agency}/credit").json()
            return record if record["upheld"] else {}

        record = wait_sync(credit, 30, "credit record")
        assert record["entries"][0]["complaint_id"] == complaint
        assert record["entries"][0]["outcome"] == "upheld"
        assert wait_sync(lambda: not overdue(), 30, "no longer overdue")


def test_an_agency_registered_at_a_province_is_found_in_the_directory_and_its_revocation_shown(
    federation: Federation,
) -> None:
    node, directory = federation.node_url("510000"), federation.directory_url
    firm = {
        "agency_type": "law_firm",
        "name": "成都锦城律师事务所",
        "licence_number": "15101200010000077",
        "county": "510104",
        "address": "成都市锦江区红星路二段1号",
        "coordinates": {"lat": 30.657, "lon": 104.083},
        "services": ["lawyer"],
        "opening_hours": [{"day": "mon", "opens": "09:00", "closes": "18:00"}],
    }
    with client_for(federation) as client:
        created = post(client, f"{node}/v1/agencies", firm, **{"Idempotency-Key": "e2e-firm"})
        assert created.status_code in (200, 201), created.text
        agency = created.json()["id"]

        def found() -> list[dict[str, Any]]:
            response = client.get(f"{directory}/organizations", params={"search": "cdls"})
            contents = response.json()["contents"] if response.status_code == 200 else []
            return [o for o in contents if o["name"] == "成都锦城律师事务所"]

        # Chengdu law firms by their pinyin initials: this one is among them.
        listed = wait_sync(found, 30, "the firm is in the directory")
        assert len(listed) == 1
        revoked = post(
            client, f"{node}/v1/agencies/{agency}/licence/revoke", {"action": "sanction"}
        )
        assert revoked.status_code == 200, revoked.text
        wait_sync(
            lambda: found()[0]["legal_profile"]["licence"]["status"] == "revoked",
            10,
            "the revocation is shown within seconds",
        )
        credit = client.get(f"{directory}/organizations/{listed[0]['id']}/credit").json()
        assert [e["kind"] for e in credit["entries"]] == ["registered", "licence_revoked"]


def test_simulated_traffic_reaches_every_node_with_its_own_token(federation: Federation) -> None:
    """`pls simulate` as it runs against a federation: each node gets its own cases, sent with
    that node's operator token (a token of another province would be refused)."""
    from pls.simulator.traffic import Simulator

    with client_for(federation) as client:

        def totals() -> dict[str, int]:
            rows = client.get(f"{federation.hub_url}/v1/national/provinces").json()["rows"]
            return {row["code"]: row["total"] for row in rows}

        before = totals()
        simulator = Simulator(
            {p: federation.node_url(p) for p in PROVINCES},
            rate=8.0,
            day_seconds=2.0,
            seed=7,
            tokens={p: federation.token(f"operator-{p}") for p in PROVINCES},
        )
        stats = asyncio.run(simulator.run(8.0))
        refused = {k: n for k, n in stats.items() if k in ("http_401", "http_403")}
        assert not refused, stats
        assert stats["http_201"] > 0, stats
        wait_sync(
            lambda: all(totals().get(p, 0) > before.get(p, 0) for p in PROVINCES),
            30,
            "new cases in both provinces",
        )


def test_pls_status_shows_the_national_delay_and_every_process_memory(
    federation: Federation,
) -> None:
    """What an operator watching a running federation reads: `pls status`."""
    from typer.testing import CliRunner

    from pls.cli import app

    with client_for(federation) as client:
        for province in PROVINCES:
            node, county = federation.node_url(province), COUNTIES[province][0]
            register_agency(client, node, county)
            run_lifecycle(client, node, county, 98, key=f"status-{province}")  # 6 events
        wait_sync(lambda: hub_matches_provinces(client, federation), 30, "hub equals provinces")
    manifest = federation.var_dir / "federation.json"
    result = CliRunner().invoke(
        app, ["status", "--federation", str(manifest), "--interval", "0.5"], env={"COLUMNS": "160"}
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "National view: 2 provinces" in out
    reached = re.search(r"Last 60 s: ([\d,]+) events; delay p50 ([\d.]+) s", out)
    assert reached is not None, out
    assert int(reached.group(1).replace(",", "")) >= 2 * 6  # the two lifecycles at least
    rows = {
        cells[0]: cells
        for cells in (re.split(r"\s{2,}", line.strip()) for line in out.splitlines())
        if cells[0]
    }
    for process in ("nats-server", "hub", "directory", "complaints", "nodes-1", "launcher"):
        assert process in rows, out
    assert "2 province nodes" in out
    total_mb = float(rows["all"][1].replace(",", ""))
    assert total_mb > 200, out  # seven processes, each well over 30 MB

    missing = CliRunner().invoke(
        app, ["status", "--federation", str(manifest) + ".missing"], env={"COLUMNS": "160"}
    )
    assert missing.exit_code == 1
    assert "is `pls up` running?" in missing.output

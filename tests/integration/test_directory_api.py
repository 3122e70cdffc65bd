"""The directory's public API over real HTTP, asked what citizens and hotline staff ask."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from pls.settings import CommonSettings
from pls.trust.local import DIRECTORY, LocalTrust
from services.directory.application.loading import load
from services.directory.bootstrap import build_runtime, create_app
from services.directory.domain import hours
from services.directory.settings import DirectorySettings
from tests.conftest import free_port
from tests.support import wait_sync
from tests.unit import directory_samples as samples


def serve(tmp: Path, trust: LocalTrust, **settings: Any) -> Iterator[str]:
    config = DirectorySettings(database=str(tmp / "directory.db"), **settings)
    common = CommonSettings(
        var_dir=tmp,
        trust_registry=trust.registry_path,
        member_id=DIRECTORY,
        nats_creds=trust.creds(DIRECTORY),
    )
    runtime = build_runtime(config, common)
    load(runtime.projection, samples.events())
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(runtime, consume=False), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_sync(lambda: server.started, message="directory HTTP up")
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(15)


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, trust: LocalTrust) -> Iterator[httpx.Client]:
    for base in serve(
        tmp_path_factory.mktemp("directory"),
        trust,
        rate_limit_per_second=1000,
        rate_limit_burst=1000,
    ):
        with httpx.Client(base_url=base, timeout=10) as client:
            yield client


def names(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["name"] for item in response.json()["contents"]]


def problem_field(response: httpx.Response) -> str:
    assert 400 <= response.status_code < 500, response.text
    detail = response.json()["detail"]
    return detail[0]["field"] if isinstance(detail, list) else detail


def test_a_name_fragment_pinyin_and_initials(api: httpx.Client) -> None:
    found = api.get("/organizations", params={"search": "正信"})
    assert names(found) == ["广州正信律师事务所", "赣州正信律师事务所"]
    page = found.json()
    assert {k: page[k] for k in ("total_items", "total_pages", "page_number", "size")} == {
        "total_items": 2,
        "total_pages": 1,
        "page_number": 1,
        "size": 2,
    }
    assert page["total_items_relation"] == "eq"
    firm = page["contents"][0]
    assert firm["legal_profile"]["agency_type"] == "law_firm"
    assert firm["legal_profile"]["licence"] == {
        "number": "14401200010000001",
        "status": "active",
        "status_label": "正常",
    }
    assert firm["locations"][0]["addresses"][0]["city"] == "天河区"
    assert firm["locations"][0]["schedules"][0]["opens_at"] == "09:00"
    assert names(api.get("/organizations", params={"search": "gzls", "region": "440000"})) == [
        "广州正信律师事务所"
    ]
    assert len(names(api.get("/organizations", params={"search": "guangzhou"}))) == 5


def test_the_nearest_legal_aid_centre_to_a_point(api: httpx.Client) -> None:
    response = api.get(
        "/locations",
        params={"proximity": "23.1247,113.3612,20000", "agency_type": "legal_aid_centre"},
    )
    locations = response.json()["contents"]
    assert [loc["name"] for loc in locations] == ["天河区法律援助中心", "越秀区法律援助中心"]
    assert locations[0]["distance"] < locations[1]["distance"]
    assert 9_000 < locations[1]["distance"] < 10_500


def test_notary_offices_in_a_prefecture_open_at_a_time_and_now(api: httpx.Client) -> None:
    monday = {
        "region": "440100",
        "agency_type": "notary_office",
        "open_at": "2026-03-02T10:00:00+08:00",
    }
    assert names(api.get("/organizations", params=monday)) == ["广州市越秀公证处"]
    now = datetime.now(UTC)
    expected = ["广州市越秀公证处"]
    if hours.is_open(hours.periods(samples.A_MINUTE_ON_MONDAY), now):
        expected.append("广州市天河公证处")
    assert (
        names(
            api.get(
                "/organizations",
                params={"region": "440100", "agency_type": "notary_office", "open_now": "true"},
            )
        )
        == expected
    )


def test_filters_combine_and_pages_say_where_they_are(api: httpx.Client) -> None:
    combined = {"service": "consultation", "region": "440106", "language": "yue"}
    assert names(api.get("/organizations", params=combined)) == ["广州正信律师事务所"]
    second = api.get("/organizations", params={"region": "440000", "page": 2, "per_page": 2}).json()
    assert (
        second["total_items"],
        second["total_pages"],
        second["page_number"],
        second["size"],
    ) == (6, 3, 2, 2)
    services = api.get("/services", params={"service": "legal_aid"}).json()
    assert [s["service_type"] for s in services["contents"]] == ["legal_aid", "legal_aid"]


def test_each_record_by_its_id_and_the_credit_record(api: httpx.Client) -> None:
    firm = api.get("/organizations", params={"search": "广州律师"}).json()["contents"][0]
    assert api.get(f"/organizations/{firm['id']}").json()["name"] == "广州正信律师事务所"
    assert (
        api.get(f"/locations/{firm['locations'][0]['id']}").json()["organization_id"] == firm["id"]
    )
    service = api.get(f"/services/{firm['services'][0]['id']}").json()
    own = api.get("/services", params={"organization_id": firm["id"]}).json()["contents"]
    assert [s["service_type"] for s in own] == ["lawyer", "consultation"]
    assert (service["organization_id"], service["service_type"]) == (firm["id"], "lawyer")
    credit = api.get(f"/organizations/{firm['id']}/credit").json()
    assert (credit["licence_status"], credit["revocations"], credit["complaints_upheld"]) == (
        "active",
        0,
        0,
    )
    assert [e["label"] for e in credit["entries"]] == ["登记设立"]
    staff = api.get(f"/organizations/{firm['id']}/personnel").json()["contents"]
    assert sorted(p["name"] for p in staff) == ["李华", "王小明"]


def test_a_lawyer_by_initials_with_their_firm(api: httpx.Client) -> None:
    people = api.get("/personnel", params={"name": "wxm"}).json()["contents"]
    assert [(p["name"], p["role_label"], p["organization"]["name"]) for p in people] == [
        ("王小明", "律师", "广州正信律师事务所")
    ]
    by_licence = api.get("/personnel", params={"licence_number": "14401201110000002"}).json()
    assert [p["name"] for p in by_licence["contents"]] == ["李华"]


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"region": "999999"}, "region", "not a province, prefecture or county"),
        ({"region": "44010"}, "region", "six-digit"),
        ({"proximity": "23.1,113.3,500000"}, "proximity", "beyond the limit"),
        ({"proximity": "north,east"}, "proximity", "not numbers"),
        ({"proximity": "95,113.3"}, "proximity", "latitude"),
        ({"proximity": "23.1"}, "proximity", "lat,lon"),
        ({"per_page": 1000}, "per_page", ""),
        ({"search": "!!!"}, "search", "Chinese characters, pinyin or digits"),
        ({"search": "广州 律"}, "search", "too short"),
        ({"agency_type": "spaceship"}, "agency_type", ""),
        ({"open_at": "2026-03-02T10:00:00"}, "open_at", "time zone"),
        ({"modified_after": "yesterday"}, "modified_after", ""),
        ({"language": "Cantonese!"}, "language", ""),
    ],
)
def test_bad_input_is_refused_naming_the_parameter(
    api: httpx.Client, params: dict[str, Any], field: str, words: str
) -> None:
    response = api.get("/organizations", params=params)
    assert response.status_code == 422
    assert problem_field(response).split(".")[0] == field
    assert words in response.json()["detail"][0]["msg"]


def test_a_page_beyond_the_end_and_unknown_ids(api: httpx.Client) -> None:
    beyond = api.get("/organizations", params={"region": "440100", "page": 9})
    assert beyond.status_code == 404
    assert beyond.json()["detail"].startswith("page: 9 is beyond the last page (1; 5 items)")
    assert api.get("/organizations/no-such-id").status_code == 404
    assert api.get("/services/not-a-uuid").status_code == 404
    assert api.get("/personnel").status_code == 422
    assert api.post("/organizations", json={"name": "x"}).status_code == 405


def test_operations_routes(api: httpx.Client) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    assert "/organizations" in api.get("/openapi.json").json()["paths"]
    assert "pls_http_requests_total" in api.get("/metrics").text
    assert "CC BY 4.0" in api.get("/").json()["attribution"]


def test_public_reads_are_rate_limited_per_client(tmp_path: Path, trust: LocalTrust) -> None:
    for base in serve(tmp_path, trust, rate_limit_per_second=0.5, rate_limit_burst=3):
        with httpx.Client(base_url=base, timeout=10) as client:
            statuses = [client.get("/organizations").status_code for _ in range(5)]
            assert statuses[:3] == [200, 200, 200]
            limited = client.get("/organizations")
            assert limited.status_code == 429
            assert int(limited.headers["Retry-After"]) >= 1
            assert client.get("/healthz").status_code == 200

"""Nobody speaks for another: NATS permissions, signed events, and who may call what over HTTP.

Each attempt is made the way an outsider holding one member's credentials would make it, against
the real nats-server with the registry's authorization, and judged by what a user would notice:
the attempt fails and the national view does not move.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import nats
import pytest
from nats.js.api import AckPolicy, ConsumerConfig

from contracts.envelope import build_event, canonical_bytes, load_json
from contracts.events.case import CaseOpened
from contracts.subjects import stream_name
from pls.trust.keys import SigningKey
from pls.trust.local import LocalTrust, province_member
from pls.trust.signing import sign_event
from pls.trust.tokens import Role
from services.province_node.domain.case import Applicant
from tests.support import Hub, Node, jetstream, until

GUANGZHOU = "440106"


def forged_case(origin: str, sequence: int, key: SigningKey | None) -> bytes:
    data = CaseOpened(
        case_id=str(uuid.uuid4()),
        service_type="legal_aid",
        channel="web",
        county=GUANGZHOU,
        received_at=datetime.now(UTC),
        applicant_id="ab" * 16,
    )
    event = build_event(
        data,
        origin=origin,
        service="province-node",
        subject=data.case_id,
        event_id=str(uuid.uuid4()),
        sequence=sequence,
        time=datetime.now(UTC),
    )
    return canonical_bytes(sign_event(event, key) if key else event)


async def test_a_province_cannot_publish_for_another_or_read_its_stream(
    nats_server, trust: LocalTrust
) -> None:
    async with jetstream(nats_server.url, trust) as admin:
        await admin.add_stream(name=stream_name("440000"), subjects=["pls.440000.>"])
    async with jetstream(nats_server.url, trust, province_member("110000")) as beijing:
        with pytest.raises(nats.errors.TimeoutError):
            await beijing.publish(
                "pls.440000.case.opened", forged_case("440000", 1, None), timeout=1
            )
        with pytest.raises(nats.errors.TimeoutError):
            await beijing.stream_info(stream_name("440000"))
    async with jetstream(nats_server.url, trust) as admin:
        assert (await admin.stream_info(stream_name("440000"))).state.messages == 0


async def test_nothing_connects_anonymously(nats_server) -> None:
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(
            nats_server.url, allow_reconnect=False, connect_timeout=2, max_reconnect_attempts=0
        )


async def test_a_subscriber_reads_only_its_grants(nats_server, trust: LocalTrust) -> None:
    subscriber = "gov-12345-hotline"  # granted pls.*.case.opened and pls.*.case.transferred
    async with jetstream(nats_server.url, trust) as admin:
        await admin.add_stream(name=stream_name("440000"), subjects=["pls.440000.>"])
        await admin.publish("pls.440000.case.opened", b"{}")
        await admin.publish("pls.440000.complaint.filed", b"{}")
    async with jetstream(nats_server.url, trust, subscriber) as js:
        await js.add_consumer(
            stream_name("440000"),
            ConsumerConfig(
                name=subscriber,
                filter_subject="pls.440000.case.opened",
                ack_policy=AckPolicy.EXPLICIT,
            ),
        )
        granted = await js.pull_subscribe_bind(durable=subscriber, stream=stream_name("440000"))
        messages = await granted.fetch(5, timeout=2)
        assert [m.subject for m in messages] == ["pls.440000.case.opened"]
        with pytest.raises(nats.errors.TimeoutError):
            await js.add_consumer(
                stream_name("440000"),
                ConsumerConfig(
                    name=subscriber, filter_subject="pls.440000.>", ack_policy=AckPolicy.EXPLICIT
                ),
                timeout=1,
            )
        stolen = await js.pull_subscribe_bind(durable="ministry-hub", stream=stream_name("440000"))
        with pytest.raises(nats.errors.TimeoutError):  # nor may it pull from the hub's consumer
            await stolen.fetch(1, timeout=1)


async def test_forged_and_unsigned_events_are_refused_and_counted_nowhere(
    tmp_path: Path, nats_server, trust: LocalTrust
) -> None:
    node = await Node.build(tmp_path / "node", "440000", nats_server.url, trust).start()
    hub = await Hub.build(
        str(tmp_path / "hub.db"), "hub", ["440000"], nats_server.url, trust, durable="hub-forgery"
    ).start()
    try:
        node.open_cases(3, GUANGZHOU)
        await hub.caught_up(node)
        before = hub.totals("440000")
        sequence = node.head() + 1
        beijing_key = SigningKey.from_file(trust.signing_seed(province_member("110000")))
        stranger = SigningKey.generate()
        own_key = SigningKey.from_file(trust.signing_seed(province_member("440000")))
        altered = load_json(forged_case("440000", sequence, own_key))
        altered["data"]["service_type"] = "mediation"  # changed after signing
        async with jetstream(nats_server.url, trust) as js:  # a compromised bus account
            for body in (
                forged_case("440000", sequence, None),
                forged_case("440000", sequence, beijing_key),
                forged_case("440000", sequence, stranger),
                canonical_bytes(altered),
            ):
                await js.publish("pls.440000.case.opened", body)
        letters = await until(
            lambda: (
                (rows := hub.runtime.queries.dead_letters("440000", 0, 10)[1])
                and len(rows) == 4
                and rows
            ),
            message="four refusals",
        )
        reasons = sorted(row["reason"] for row in letters)
        assert any("not signed" in r for r in reasons)
        assert any("province-110000" in r and "does not publish for 440000" in r for r in reasons)
        assert any("is not a key of 440000" in r for r in reasons)
        assert any("does not match the event" in r for r in reasons)
        # The province's real next event is still applied in its place: nothing was skipped.
        node.open_cases(1, GUANGZHOU)
        await hub.caught_up(node)
        assert hub.totals("440000")["total"] == before["total"] + 1
    finally:
        await hub.stop()
        await node.stop()


async def test_events_signed_with_the_previous_key_verify_during_a_rotation(
    tmp_path: Path, nats_server, trust: LocalTrust
) -> None:
    previous = trust.signing_seed(province_member("510000"), previous=True)
    node = await Node.build(
        tmp_path / "node", "510000", nats_server.url, trust, signing_seed=previous
    ).start()
    hub = await Hub.build(
        str(tmp_path / "hub.db"), "hub", ["510000"], nats_server.url, trust, durable="hub-rotation"
    ).start()
    try:
        node.open_cases(4, "510104")
        await hub.caught_up(node)
        assert hub.totals("510000")["total"] == 4
        assert hub.runtime.queries.dead_letters("510000", 0, 10)[0] == 0
    finally:
        await hub.stop()
        await node.stop()


def test_a_node_refuses_to_start_with_a_key_the_registry_does_not_list(
    tmp_path: Path, nats_server, trust: LocalTrust
) -> None:
    stranger = tmp_path / "stranger.nk"
    SigningKey.generate().write(stranger)
    with pytest.raises(SystemExit, match="not a key of 440000"):
        Node.build(tmp_path / "node", "440000", nats_server.url, trust, signing_seed=stranger)


async def test_http_needs_a_valid_token_with_the_right_role_and_province(
    tmp_path: Path, nats_server, trust: LocalTrust
) -> None:
    node = Node.build(tmp_path / "node", "440000", nats_server.url, trust).serve_http()
    body = {"service_type": "consultation", "channel": "web", "county": GUANGZHOU}
    try:
        async with httpx.AsyncClient(base_url=node.url) as client:

            def bearer(token: str) -> dict[str, str]:
                return {"Authorization": f"Bearer {token}"}

            missing = await client.post("/v1/cases", json=body)
            assert missing.status_code == 401
            assert missing.headers["www-authenticate"].startswith("Bearer")
            expired = trust.token_issuer().issue(
                "op",
                [Role.PROVINCE_OPERATOR.value],
                province="440000",
                now=datetime.now(UTC) - timedelta(hours=2),
                ttl=timedelta(minutes=5),
            )
            response = await client.post("/v1/cases", json=body, headers=bearer(expired))
            assert response.status_code == 401 and "expired" in response.json()["detail"]
            assert (
                await client.post("/v1/cases", json=body, headers=bearer("not.a.jwt"))
            ).status_code == 401
            beijing = trust.operator_token("110000")
            wrong_province = await client.post("/v1/cases", json=body, headers=bearer(beijing))
            assert wrong_province.status_code == 403 and "110000" in wrong_province.json()["detail"]
            staff = trust.staff_token()
            assert (
                await client.post("/v1/cases", json=body, headers=bearer(staff))
            ).status_code == 403
            # Staff and the ministry's services may read what the province published.
            assert (await client.get("/v1/journal", headers=bearer(staff))).status_code == 200
            assert (await client.get("/v1/statistics", headers=bearer(staff))).status_code == 200
            assert (await client.get("/v1/journal")).status_code == 401
            operator = trust.operator_token("440000")
            created = await client.post("/v1/cases", json=body, headers=bearer(operator))
            assert created.status_code == 201
            case = (
                await client.get(f"/v1/cases/{created.json()['id']}", headers=bearer(operator))
            ).json()
            assert case["history"][0]["actor"] == "operator@440000"
            assert created.headers["x-content-type-options"] == "nosniff"
            assert created.headers["cache-control"] == "no-store"
            assert (await client.get("/healthz")).status_code == 200  # operations need no token
    finally:
        node.stop_http()


async def test_national_views_need_ministry_staff(
    tmp_path: Path, nats_server, trust: LocalTrust
) -> None:
    hub = Hub.build(str(tmp_path / "hub.db"), "hub", ["440000"], nats_server.url, trust)
    with hub.serve_http() as client:
        assert client.get("/v1/national/summary").status_code == 401
        operator = {"Authorization": f"Bearer {trust.operator_token('440000')}"}
        assert client.get("/v1/national/summary", headers=operator).status_code == 403
        assert client.get("/v1/dead-letters", headers=operator).status_code == 403
        staff = {"Authorization": f"Bearer {trust.staff_token()}"}
        assert client.get("/v1/national/summary", headers=staff).status_code == 200
        assert client.get("/v1/dead-letters", headers=staff).status_code == 200


async def test_personal_data_never_leaves_the_province(
    tmp_path: Path, nats_server, trust: LocalTrust
) -> None:
    citizen = Applicant(
        name="司马相如",
        phone="13987654321",
        id_number="11010519491231002X",
        address="广州市越秀区中山五路219号",
    )
    node = await Node.build(tmp_path / "node", "440000", nats_server.url, trust).start()
    hub_db = tmp_path / "hub.db"
    hub = await Hub.build(
        str(hub_db), "hub", ["440000"], nats_server.url, trust, durable="hub-pii"
    ).start()
    try:
        for _ in range(3):
            case, _ = node.app.open_case(
                applicant=citizen,
                service_type="legal_aid",
                channel="walk_in",
                platform_level="county_centre",
                county=GUANGZHOU,
                applicant_categories=["low_income"],
                detained=False,
                summary=f"{citizen.name}称其被拖欠工资",
            )
            node.app.reject_case(case.id, "outside_scope", note=f"已电话告知{citizen.phone}")
        assert node.runtime.projection.wait_for(node.app.recorder.max_notification_id(), 10)
        await hub.caught_up(node)
        secrets = [citizen.name, citizen.phone, citizen.id_number, citizen.address, "拖欠工资"]
        published = b""
        async with jetstream(nats_server.url, trust) as js:
            info = await js.stream_info(stream_name("440000"))
            for seq in range(info.state.first_seq, info.state.last_seq + 1):
                published += (await js.get_msg(stream_name("440000"), seq)).data
        assert published
        await asyncio.to_thread(hub.runtime.readmodel.db.close)
        national = b"".join(p.read_bytes() for p in tmp_path.glob("hub.db*"))
        for secret in secrets:
            for encoding in (secret.encode(), secret.encode("utf-16-le")):
                assert encoding not in published, f"{secret} published"
                assert encoding not in national, f"{secret} in the national read model"
        # At rest the province's own store is encrypted: the name is not in the file either.
        stored = b"".join(p.read_bytes() for p in (tmp_path / "node").rglob("node.db*"))
        assert citizen.name.encode() not in stored and citizen.id_number.encode() not in stored
        # ... yet the province itself reads it back.
        assert node.app.get_case(case.id).applicant.name == citizen.name
        # The pseudonym is stable within the province and not the citizen's number in disguise.
        pseudonym = node.app.get_case(case.id).applicant_id
        assert citizen.id_number not in pseudonym and len(pseudonym) == 32
        assert base64.b16encode(citizen.id_number.encode()).lower().decode() not in pseudonym
    finally:
        await hub.stop()
        await node.stop()

"""A subscriber administrator sees each subscribing system's grants and how far it has read."""

from __future__ import annotations

import time
from pathlib import Path

from nats.js.api import AckPolicy, ConsumerConfig

from contracts.subjects import stream_name
from pls.trust.local import SAMPLE_SUBSCRIBER, LocalTrust
from pls.trust.tokens import Role
from tests.support import Hub, jetstream


async def test_subscriptions_show_grants_and_progress(
    tmp_path: Path, nats_server, trust: LocalTrust
) -> None:
    stream = stream_name("440000")
    async with jetstream(nats_server.url, trust) as admin:
        await admin.add_stream(name=stream, subjects=["pls.440000.>"])
        for _ in range(3):
            await admin.publish("pls.440000.case.opened", b"{}")
        await admin.publish("pls.440000.complaint.filed", b"{}")
    async with jetstream(nats_server.url, trust, SAMPLE_SUBSCRIBER) as js:
        await js.add_consumer(
            stream,
            ConsumerConfig(
                name=SAMPLE_SUBSCRIBER,
                filter_subject="pls.440000.case.opened",
                ack_policy=AckPolicy.EXPLICIT,
            ),
        )
        reader = await js.pull_subscribe_bind(durable=SAMPLE_SUBSCRIBER, stream=stream)
        for message in await reader.fetch(2, timeout=2):
            await message.ack_sync()

    hub = Hub.build(str(tmp_path / "hub.db"), "hub", ["440000"], nats_server.url, trust)
    with hub.serve_http() as client:
        deadline = time.monotonic() + 10
        while not hub.runtime.connected and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.get("/v1/subscriptions").status_code == 401
        operator = {"Authorization": f"Bearer {trust.operator_token('440000')}"}
        assert client.get("/v1/subscriptions", headers=operator).status_code == 403

        admin_token = trust.token("zhao.min", [Role.SUBSCRIBER_ADMIN])
        headers = {"Authorization": f"Bearer {admin_token}"}
        listing = client.get("/v1/subscriptions", headers=headers)
        assert listing.status_code == 200
        hotline = next(s for s in listing.json() if s["member_id"] == SAMPLE_SUBSCRIBER)
        assert hotline["grants"] == ["pls.*.case.opened", "pls.*.case.transferred"]
        assert hotline["bus_reachable"] is True
        assert len(hotline["streams"]) == 33  # `pls.*` covers every province and the ministry
        guangdong = next(r for r in hotline["streams"] if r["origin"] == "440000")
        assert guangdong["subjects"] == ["pls.440000.case.opened", "pls.440000.case.transferred"]
        assert guangdong["consumer"] is True
        assert guangdong["acknowledged"] == 2  # through stream sequence 2
        assert guangdong["pending"] == 1  # one granted message left; the complaint is not its
        beijing = next(r for r in hotline["streams"] if r["origin"] == "110000")
        assert beijing["consumer"] is False

        one = client.get(f"/v1/subscriptions/{SAMPLE_SUBSCRIBER}", headers=headers)
        assert one.status_code == 200 and one.json()["member_id"] == SAMPLE_SUBSCRIBER
        missing = client.get("/v1/subscriptions/ministry-hub", headers=headers)
        assert missing.status_code == 404 and "ministry-hub" in missing.json()["detail"]

"""A node's commands wait for its publication backlog only while its relay can publish.

Real nats-server (one of this test's own, stopped and started again), a real SQLite event store,
the node's relay and its HTTP application."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from contracts.subjects import stream_name
from pls.natsserver import NatsServer
from pls.trust.local import LocalTrust
from services.province_node.adapters.views import CaseFilter
from services.province_node.bootstrap import create_app
from tests.conftest import free_port
from tests.support import Node, jetstream, until

CASE = {
    "service_type": "consultation",
    "channel": "hotline_12348",
    "county": "440106",
    "applicant": {"name": "张三", "phone": "13800138000"},
}


async def _open_cases(client: httpx.AsyncClient, node: Node, count: int) -> list[float]:
    """Open `count` cases one after another; how long each took to be answered."""
    took = []
    for _ in range(count):
        started = time.monotonic()
        response = await client.post("/v1/cases", json=CASE, headers=node.headers())
        assert response.status_code == 201, response.text
        took.append(time.monotonic() - started)
    return took


async def _stream_length(url: str, trust: LocalTrust) -> int:
    async with jetstream(url, trust) as js:
        return (await js.stream_info(stream_name("440000"))).state.last_seq


@pytest.fixture
def nats(tmp_path: Path, trust: LocalTrust) -> Iterator[NatsServer]:
    """A nats-server of the test's own, which it stops and starts again."""
    server = NatsServer(
        tmp_path / "nats", free_port(), free_port(), extra_config=trust.nats_config_path.read_text()
    ).start()
    yield server
    server.stop()


async def test_a_relay_cut_off_from_nats_holds_no_command_up(
    tmp_path: Path, trust: LocalTrust, nats: NatsServer
) -> None:
    node = await Node.build(tmp_path / "node", "440000", nats.url, trust).start()
    runtime = node.runtime
    assert runtime.backlog is not None and runtime.relay is not None
    runtime.backlog.max_delay = 0.05
    runtime.backlog.max_wait = 30.0  # a command held by mistake would show
    app = create_app(runtime)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://node", timeout=60
        ) as client:
            await _open_cases(client, node, 3)
            await until(lambda: runtime.relay.lag == 0, message="first cases published")

            nats.stop()
            await until(lambda: not runtime.relay.connected, message="relay sees NATS gone")
            while_down = await _open_cases(client, node, 12)
            assert runtime.backlog.delay > runtime.backlog.max_delay  # over the limit all along
            assert max(while_down) < 2.0, while_down  # and no command waited for it
            ready = await client.get("/readyz")
            assert ready.status_code == 200  # a node without NATS still takes commands
            assert ready.json()["relay_connected"] is False
            assert ready.json()["publish_backlog"] >= 12
            assert ready.json()["publish_delay"] > ready.json()["publish_delay_limit"]

            nats.start()
            await until(lambda: runtime.relay.connected, timeout=30, message="relay back")
            # Publishing again: new commands are taken as the backlog is published.
            after = await _open_cases(client, node, 3)
            assert max(after) < 10.0, after
            assert runtime.projection.wait_for(runtime.app.recorder.max_notification_id(), 10)
            journalled = node.head()

            async def all_published() -> bool:
                return await _stream_length(nats.url, trust) == journalled

            await until(all_published, timeout=30, message="the backlog published")
            assert runtime.views.case_statistics(CaseFilter())["total"] == 18
    finally:
        await node.stop()


async def test_a_backlog_left_by_an_earlier_run_counts_as_waiting_from_the_restart(
    tmp_path: Path, trust: LocalTrust, nats: NatsServer
) -> None:
    node = await Node.build(tmp_path / "node", "440000", nats.url, trust).start()
    runtime = node.runtime
    assert runtime.relay is not None
    app = create_app(runtime)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://node", timeout=60
        ) as client:
            nats.stop()
            await until(lambda: not runtime.relay.connected, message="relay sees NATS gone")
            await _open_cases(client, node, 12)
            assert runtime.projection.wait_for(runtime.app.recorder.max_notification_id(), 10)
    finally:
        await node.stop()

    # The node restarts with 12 events unpublished, NATS still down.
    again = Node.build(tmp_path / "node", "440000", nats.url, trust)
    app = create_app(again.runtime)
    async with app.router.lifespan_context(app):
        started = time.monotonic()
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://node", timeout=60
        ) as client:
            await asyncio.sleep(0.5)
            ready = (await client.get("/readyz")).json()
    assert ready["publish_backlog"] >= 12
    # Its operators see the backlog waiting since the restart, not "no delay".
    assert 0.4 < ready["publish_delay"] <= time.monotonic() - started

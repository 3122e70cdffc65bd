"""Helpers for tests that run real components: waiting, nodes and hubs in this process."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
import uvicorn
from nats.js import JetStreamContext

from pls.settings import CommonSettings
from services.ministry_hub.bootstrap import HubRuntime
from services.ministry_hub.bootstrap import build_runtime as build_hub
from services.ministry_hub.settings import HubSettings
from services.province_node.bootstrap import NodeRuntime, create_app
from services.province_node.bootstrap import build_runtime as build_node
from services.province_node.domain.case import Applicant
from services.province_node.settings import NodeSettings
from tests.conftest import free_port


async def until(
    condition: Callable[[], Any],
    timeout: float = 20.0,
    interval: float = 0.05,
    message: str = "condition",
) -> Any:
    """Poll `condition` (sync or async) until it is truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if isinstance(last, Awaitable):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"{message} not reached within {timeout} s (last: {last!r})")


def wait_sync(
    condition: Callable[[], Any], timeout: float = 20.0, message: str = "condition"
) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"{message} not reached within {timeout} s (last: {last!r})")


@asynccontextmanager
async def jetstream(url: str) -> AsyncIterator[JetStreamContext]:
    """A NATS connection for the duration of a block, closed however the block ends."""
    client = await nats.connect(url)
    try:
        yield client.jetstream()
    finally:
        await client.close()


@dataclass
class Node:
    """A province node in this process: application, projection and relay, optionally over HTTP."""

    province: str
    runtime: NodeRuntime
    url: str | None = None
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    @classmethod
    def build(
        cls,
        tmp: Path,
        province: str,
        nats_url: str,
        *,
        database: str | None = None,
        schema: str | None = None,
        checkpoint_interval: float = 3600.0,
        relay: bool = True,
        journal_token: str | None = None,
        port: int | None = None,
    ) -> Node:
        settings = NodeSettings(
            province=province,
            database=database,
            schema_name=schema,
            port=port or free_port(),
            checkpoint_interval=checkpoint_interval,
            relay_enabled=relay,
            journal_token=journal_token,
        )
        common = CommonSettings(var_dir=tmp, nats_url=nats_url)
        return cls(province, build_node(settings, common))

    @property
    def app(self) -> Any:
        return self.runtime.app

    async def start(self) -> Node:
        self.runtime.projection.start()
        if self.runtime.relay is not None:
            await self.runtime.relay.start()
        return self

    async def stop(self) -> None:
        if self.runtime.relay is not None:
            await self.runtime.relay.stop()
        await asyncio.to_thread(self.runtime.close)

    def serve_http(self) -> Node:
        """Run the node's HTTP API (and with it projection and relay) in a thread of its own."""
        port = self.runtime.settings.listen_port()
        config = uvicorn.Config(
            create_app(self.runtime),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            lifespan="on",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        wait_sync(lambda: self._server is not None and self._server.started, message="node HTTP up")
        self.url = f"http://127.0.0.1:{port}"
        return self

    def stop_http(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(15)

    def head(self) -> int:
        return self.runtime.views.journal_head()[0]

    def open_cases(
        self,
        count: int,
        county: str,
        *,
        service_type: str = "consultation",
        conclude: bool = True,
        name: str = "张三",
    ) -> list[Any]:
        cases = []
        for _ in range(count):
            case, _ = self.app.open_case(
                applicant=Applicant(name=name, phone="13800138000"),
                service_type=service_type,
                channel="hotline_12348",
                platform_level=None,
                county=county,
                applicant_categories=[],
                detained=False,
            )
            if conclude:
                self.app.conclude_case(case.id, "advice_given")
            cases.append(case)
        # Like a client that reads its own writes: the journal includes them before we return.
        assert self.runtime.projection.wait_for(self.app.recorder.max_notification_id(), 10)
        return cases


@dataclass
class Hub:
    runtime: HubRuntime
    provinces: list[str] = field(default_factory=list)

    @classmethod
    def build(
        cls,
        database: str,
        schema: str,
        provinces: list[str],
        nats_url: str,
        node_urls: dict[str, str] | None = None,
        *,
        gap_timeout: float = 1.0,
        durable: str = "ministry-hub",
        reconcile_interval: float = 0.5,
        resync_backoff: float = 5.0,
        journal_token: str | None = None,
        bus_grace: float = 30.0,
    ) -> Hub:
        # Provinces without a URL get one nobody listens on: never a real node on a default port.
        urls = {p: (node_urls or {}).get(p, "http://127.0.0.1:9") for p in provinces}
        settings = HubSettings(
            database=database,
            schema_name=schema,
            provinces=provinces,
            node_urls=urls,
            gap_timeout=gap_timeout,
            durable=durable,
            reconcile_interval=reconcile_interval,
            resync_backoff=resync_backoff,
            journal_token=journal_token,
            bus_grace=bus_grace,
        )
        return cls(build_hub(settings, CommonSettings(nats_url=nats_url)), provinces)

    async def start(self) -> Hub:
        await self.runtime.start()
        return self

    async def stop(self) -> None:
        await self.runtime.stop()

    def sequence(self, origin: str) -> int:
        state = self.runtime.applier.intake.sources.get(origin)
        return state.sequence if state else 0

    async def caught_up(self, node: Node, timeout: float = 30.0) -> None:
        await until(
            lambda: node.head() > 0 and self.sequence(node.province) >= node.head(),
            timeout,
            message=f"hub caught up with {node.province}",
        )

    def state(self, origin: str) -> Any:
        return self.runtime.applier.state_of(origin)

    async def row(self, origin: str) -> Any:
        freshness = await self.runtime.freshness()
        return next(r for r in freshness.rows if r.province == origin)

    def totals(self, province: str | None = None) -> dict[str, Any]:
        from services.ministry_hub.adapters.queries import Scope

        return self.runtime.queries.case_totals(Scope(province=province))

"""Helpers for tests that run real components: waiting, nodes and hubs in this process."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import nats
import uvicorn
from nats.js import JetStreamContext

from pls.federation import Federation
from pls.settings import CommonSettings
from pls.trust.local import COMPLAINTS, DIRECTORY, HUB, OPERATOR, LocalTrust, province_member
from pls.trust.natsconfig import inbox_prefix
from services.ministry_hub.bootstrap import HubRuntime
from services.ministry_hub.bootstrap import build_runtime as build_hub
from services.ministry_hub.bootstrap import create_app as create_hub_app
from services.ministry_hub.settings import HubSettings
from services.province_node.bootstrap import NodeRuntime, create_app
from services.province_node.bootstrap import build_runtime as build_node
from services.province_node.domain.case import Applicant
from services.province_node.settings import NodeSettings
from tests.conftest import free_port


def federation_on_free_ports(var_dir: Path, provinces: list[str], **options: Any) -> Federation:
    """A `pls up` federation (not started) whose every service listens on a free port."""
    return Federation(
        var_dir=var_dir,
        provinces=provinces,
        nats_port=free_port(),
        nats_monitor_port=free_port(),
        hub_port=free_port(),
        complaints_port=free_port(),
        directory_port=free_port(),
        node_ports={p: free_port() for p in provinces},
        **options,
    )


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


class FederationAuth(httpx.Auth):
    """The token a user of each service would hold: ministry staff at the hub, an operator of the
    province at its node."""

    def __init__(self, federation: Any) -> None:
        self.by_url = {
            federation.hub_url: federation.token("staff"),
            federation.complaints_url: federation.token("staff"),
        }
        for province in federation.provinces:
            self.by_url[federation.node_url(province)] = federation.token(f"operator-{province}")

    def auth_flow(self, request: httpx.Request) -> Iterator[httpx.Request]:
        for url, token in self.by_url.items():
            if str(request.url).startswith(url):
                request.headers["Authorization"] = f"Bearer {token}"
        yield request


@asynccontextmanager
async def connected(
    url: str, trust: LocalTrust, member: str = OPERATOR
) -> AsyncIterator[nats.NATS]:
    """A NATS connection as a registry member (the bus operator by default), closed afterwards."""
    client = await nats.connect(
        url,
        nkeys_seed=str(trust.creds(member)),
        inbox_prefix=inbox_prefix(member),
        connect_timeout=2,
        allow_reconnect=False,
    )
    try:
        yield client
    finally:
        await client.close()


@asynccontextmanager
async def jetstream(
    url: str, trust: LocalTrust, member: str = OPERATOR
) -> AsyncIterator[JetStreamContext]:
    """JetStream over `connected`."""
    async with connected(url, trust, member) as client:
        yield client.jetstream(timeout=3)


@dataclass
class Served:
    """An ASGI app served over real HTTP by uvicorn, in a thread of this process, its lifespan
    included (what starting the service's runtime takes)."""

    server: uvicorn.Server
    thread: threading.Thread
    url: str

    @classmethod
    def start(cls, app: Any, port: int | None = None) -> Served:
        port = port or free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        wait_sync(lambda: server.started, message=f"HTTP up on port {port}")
        return cls(server, thread, f"http://127.0.0.1:{port}")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)


@dataclass
class Node:
    """A province node in this process: application, projection and relay, optionally over HTTP."""

    province: str
    runtime: NodeRuntime
    url: str | None = None
    _served: Served | None = None

    trust: LocalTrust | None = None

    @classmethod
    def build(
        cls,
        tmp: Path,
        province: str,
        nats_url: str,
        trust: LocalTrust,
        *,
        database: str | None = None,
        schema: str | None = None,
        checkpoint_interval: float = 3600.0,
        relay: bool = True,
        cipher: bool = True,
        signing_seed: Path | None = None,
        port: int | None = None,
    ) -> Node:
        member = province_member(province)
        settings = NodeSettings(
            province=province,
            database=database,
            schema_name=schema,
            port=port or free_port(),
            checkpoint_interval=checkpoint_interval,
            relay_enabled=relay,
            signing_seed=signing_seed or trust.signing_seed(member),
            pseudonym_secret_file=trust.pseudonym_secret(province),
            cipher_key_file=trust.cipher_key(province) if cipher else None,
        )
        common = CommonSettings(
            var_dir=tmp,
            nats_url=nats_url,
            trust_registry=trust.registry_path,
            member_id=member,
            nats_creds=trust.creds(member),
        )
        return cls(province, build_node(settings, common), trust=trust)

    def headers(self) -> dict[str, str]:
        """An operator of this province's bearer token."""
        assert self.trust is not None
        return {"Authorization": f"Bearer {self.trust.operator_token(self.province)}"}

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
        self._served = Served.start(create_app(self.runtime), self.runtime.settings.listen_port())
        self.url = self._served.url
        return self

    def stop_http(self) -> None:
        if self._served is not None:
            self._served.stop()

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
        trust: LocalTrust,
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
            node_token=journal_token if journal_token is not None else trust.service_token(HUB),
            reconcile_interval=reconcile_interval,
            resync_backoff=resync_backoff,
            bus_grace=bus_grace,
        )
        common = CommonSettings(
            nats_url=nats_url,
            trust_registry=trust.registry_path,
            member_id=HUB,
            nats_creds=trust.creds(HUB),
        )
        return cls(build_hub(settings, common), provinces)

    async def start(self) -> Hub:
        await self.runtime.start()
        return self

    @contextmanager
    def serve_http(self) -> Iterator[httpx.Client]:
        """The hub's HTTP API over real HTTP (its lifespan starts and stops the runtime), and a
        client of it."""
        served = Served.start(create_hub_app(self.runtime))
        try:
            with httpx.Client(base_url=served.url, timeout=10) as client:
                yield client
        finally:
            served.stop()

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


@dataclass
class Supervisor:
    """The complaints supervision service in this process, on a clock the test sets."""

    runtime: Any
    clock: Any
    trust: LocalTrust | None = None

    @classmethod
    def build(
        cls,
        database: str,
        schema: str,
        provinces: list[str],
        nats_url: str,
        clock: Any,
        var_dir: Path,
        trust: LocalTrust,
        *,
        durable: str = "complaints-supervision",
        node_urls: dict[str, str] | None = None,
    ) -> Supervisor:
        from services.complaints.bootstrap import build_runtime as build_complaints
        from services.complaints.settings import ComplaintsSettings

        settings = ComplaintsSettings(
            database=database,
            schema_name=schema,
            provinces=provinces,
            durable=durable,
            gap_timeout=1.0,
            check_interval=3600.0,  # the test says when to look
            checkpoint_interval=3600.0,
            signing_seed=trust.signing_seed(COMPLAINTS),
            node_token=trust.service_token(COMPLAINTS),
            node_urls={p: (node_urls or {}).get(p, "http://127.0.0.1:9") for p in provinces},
        )
        common = CommonSettings(
            nats_url=nats_url,
            var_dir=var_dir,
            trust_registry=trust.registry_path,
            member_id=COMPLAINTS,
            nats_creds=trust.creds(COMPLAINTS),
        )
        return cls(build_complaints(settings, common, clock), clock, trust)

    def staff_headers(self) -> dict[str, str]:
        assert self.trust is not None
        return {"Authorization": f"Bearer {self.trust.staff_token()}"}

    async def start(self) -> Supervisor:
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
            message=f"complaints service caught up with {node.province}",
        )

    async def at(self, moment: Any) -> int:
        """Set the clock and let the deadline watch record what is due."""
        self.clock.set(moment)
        return await asyncio.to_thread(self.runtime.watch.check)


@dataclass
class Directory:
    """The national directory in this process: consumers, intake and read model."""

    runtime: Any
    provinces: list[str] = field(default_factory=list)

    @classmethod
    def build(
        cls,
        database: str,
        schema: str,
        provinces: list[str],
        nats_url: str,
        trust: LocalTrust,
        *,
        durable: str = "directory",
        gap_timeout: float = 1.0,
        node_urls: dict[str, str] | None = None,
        ministry_journal_url: str | None = None,
    ) -> Directory:
        from services.directory.bootstrap import build_runtime as build_directory
        from services.directory.settings import DirectorySettings

        settings = DirectorySettings(
            database=database,
            schema_name=schema,
            provinces=provinces,
            durable=durable,
            gap_timeout=gap_timeout,
            node_token=trust.service_token(DIRECTORY),
            # Provinces without a URL get one nobody listens on, never a default port.
            node_urls={p: (node_urls or {}).get(p, "http://127.0.0.1:9") for p in provinces},
            ministry_journal_url=ministry_journal_url,
        )
        common = CommonSettings(
            nats_url=nats_url,
            trust_registry=trust.registry_path,
            member_id=DIRECTORY,
            nats_creds=trust.creds(DIRECTORY),
        )
        return cls(build_directory(settings, common), provinces)

    async def start(self) -> Directory:
        await self.runtime.start()
        return self

    async def stop(self) -> None:
        await self.runtime.stop()

    def sequence(self, origin: str) -> int:
        return int(self.runtime.sequence(origin))

    async def caught_up(self, node: Node, timeout: float = 30.0) -> None:
        await until(
            lambda: node.head() > 0 and self.sequence(node.province) >= node.head(),
            timeout,
            message=f"directory caught up with {node.province}",
        )

    def search(self, text: str) -> list[str]:
        from services.directory.adapters.queries import Criteria
        from services.directory.domain.text import terms

        found = self.runtime.queries.organizations(Criteria(search=tuple(terms(text))), 0, 100)
        return [hit.listing.name for hit in found.hits]

"""Wires the directory: read model, projection, applier, NATS consumers, backfill, public API, and
the swap of a read model rebuilt beside the live one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import structlog
from fastapi import FastAPI
from nats.aio.client import Client

from pls import bus, rebuild_http
from pls.intake.applier import Applier
from pls.intake.backfill import JournalClient
from pls.intake.intake import Delivery
from pls.intake.streams import StreamConsumers, acknowledge
from pls.rebuild import Store, promote, promote_in_place
from pls.settings import CommonSettings
from pls.sqlstore import Database, SwappableDatabase
from pls.tasks import cancel_and_wait
from pls.trust.tokens import TokenVerifier
from pls.web import RateLimit, install_common, ops_router
from services.directory.adapters.queries import DirectoryQueries
from services.directory.adapters.readmodel import DirectoryReadModel
from services.directory.application.projection import DirectoryProjection, interested_in
from services.directory.domain.text import warm_up
from services.directory.entrypoints.api import locations, organizations, personnel, services
from services.directory.settings import DirectorySettings

log = structlog.get_logger(__name__)


@dataclass
class DirectoryRuntime:
    settings: DirectorySettings
    common: CommonSettings
    readmodel: DirectoryReadModel
    queries: DirectoryQueries
    projection: DirectoryProjection
    applier: Applier
    queue: asyncio.Queue[Delivery]
    journal: JournalClient
    tokens: TokenVerifier
    client: Client | None = None
    consumers: StreamConsumers | None = None
    connected: bool = False
    _connecting: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.applier.start()
        self._connecting = asyncio.create_task(self._connect(), name="directory-connect")

    async def _connect(self) -> None:
        backoff = 0.2
        while True:
            try:
                self.client = await bus.connect(
                    self.common.nats_url,
                    name="directory",
                    creds=self.common.nats_creds,
                    member_id=self.common.member_id,
                    on_state=self._state,
                )
                break
            except Exception as error:
                log.warning("directory cannot reach NATS; retrying", error=str(error))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
        self.consumers = StreamConsumers(
            self.client,
            self.settings.origins,
            self.queue,
            self.applier.position_of,
            durable=self.settings.durable,
            batch=self.settings.fetch_batch,
        )
        await self.consumers.start()

    async def _state(self, connected: bool) -> None:
        self.connected = connected

    async def stop(self) -> None:
        await cancel_and_wait([self._connecting])
        if self.consumers is not None:
            await self.consumers.stop()
        await self.applier.stop()
        with contextlib.suppress(Exception):
            await self.applier.flush()
        if self.client is not None and not self.client.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.client.close(), 5.0)
        await self.journal.close()
        self.readmodel.db.close()

    def sequence(self, origin: str) -> int:
        state = self.applier.intake.sources.get(origin)
        return state.sequence if state else 0

    @property
    def store(self) -> Store:
        return directory_store(self.settings, self.common)

    async def promote_rebuild(self, *, keep_previous: bool = False) -> dict[str, Any]:
        """Swap in the directory rebuilt beside the live one (by `pls directory rebuild`):
        between two batches, brought level from the journals and renamed into its place."""
        database = self.readmodel.db
        assert isinstance(database, SwappableDatabase)
        fresh = self.store.beside()

        def put() -> None:
            promote_in_place(database, self.store, fresh, keep_previous=keep_previous)
            self.readmodel.forget_cached()  # schedule ids are the rebuilt one's now
            self.queries.forget_cached()

        sequences = await promote(
            self.applier,
            database,
            fresh,
            projection_over,
            put,
            origins=self.settings.origins,
            journal=self.journal,
            interested_in=interested_in,
        )
        log.warning("rebuilt directory swapped in", store=self.store.describe())
        return {"store": self.store.describe(), "sequences": sequences}


def directory_store(settings: DirectorySettings, common: CommonSettings) -> Store:
    """Where the directory's read model lives."""
    return Store(settings.database_url(common.var_dir), settings.schema_name)


def projection_over(db: Database) -> DirectoryProjection:
    """The directory projection writing into `db` (the live read model or a rebuilt one)."""
    return DirectoryProjection(DirectoryReadModel(db))


def build_runtime(settings: DirectorySettings, common: CommonSettings) -> DirectoryRuntime:
    registry = common.registry()
    common.require_member()
    db = SwappableDatabase(directory_store(settings, common).open())
    projection = projection_over(db)
    readmodel = projection.readmodel
    queue: asyncio.Queue[Delivery] = asyncio.Queue(maxsize=20_000)
    journal = JournalClient(settings.journal_urls(), token=settings.journal_token())
    applier = Applier(
        projection,
        queue,
        acknowledge,
        backfill=journal.page,
        max_batch=settings.max_batch,
        linger=settings.linger,
        gap_timeout=settings.gap_timeout,
        interested_in=interested_in,
        name="directory",
        registry=registry,
    )
    return DirectoryRuntime(
        settings,
        common,
        readmodel,
        DirectoryQueries(readmodel),
        projection,
        applier,
        queue,
        journal,
        TokenVerifier(registry.issuer),
    )


def create_app(runtime: DirectoryRuntime, *, consume: bool = True) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(warm_up)  # the pinyin tables, before the first citizen waits
        if consume:
            await runtime.start()
        log.info("directory started", origins=len(runtime.settings.origins))
        try:
            yield
        finally:
            if consume:
                await runtime.stop()
            else:
                runtime.readmodel.db.close()

    api = FastAPI(
        title="National directory of legal service agencies",
        version="1.0.0",
        description=(
            "法律服务机构/人员查询和导航 and 信用信息公开: every legal service agency and practitioner "
            "in the country, in the shape of Open Referral HSDS 3.0. Public, read-only, rate "
            "limited; written only from the provinces' agency events and the ministry's upheld "
            "complaints."
        ),
        lifespan=lifespan,
    )
    api.state.runtime = runtime
    api.state.tokens = runtime.tokens
    install_common(api, "directory")
    api.add_middleware(
        RateLimit,
        rate=runtime.settings.rate_limit_per_second,
        burst=runtime.settings.rate_limit_burst,
        trust_forwarded_for=runtime.settings.trust_forwarded_for,
    )

    async def ready() -> tuple[bool, dict[str, Any]]:
        gaps = runtime.applier.gaps()
        stuck = {origin: gap for origin, gap in gaps.items() if gap["seconds"] > 30}
        ok = runtime.connected and runtime.applier.last_error is None and not stuck
        return ok, {
            "nats_connected": runtime.connected,
            "gaps_held": len(gaps),
            "last_error": runtime.applier.last_error,
        }

    api.include_router(ops_router(ready))

    @api.get("/", tags=["about"])
    def about() -> dict[str, Any]:
        """What this API is: an Open Referral HSDS 3.0 style directory, and where its data comes from."""
        from pls.divisions import ATTRIBUTION

        return {
            "version": "3.0",
            "profile": "https://docs.openreferral.org/en/latest/hsds/",
            "name": "全国法律服务机构名录 National directory of legal service agencies",
            "resources": ["/organizations", "/services", "/locations", "/personnel"],
            "attribution": ATTRIBUTION,
        }

    api.include_router(organizations.router)
    api.include_router(services.router)
    api.include_router(locations.router)
    api.include_router(personnel.router)
    api.include_router(rebuild_http.router)
    return api

"""Wires the complaints supervision service: the provinces' streams through intake into the
supervision read model, the deadline watch, the supervision application with its journal and
relay to `PLS_MOJ`, the API, and the swap of a supervision read model rebuilt beside the live one.

One database holds both the supervision read model (derived from the provinces' events, so it can
be rebuilt) and the service's own event store and publication journal (its system of record,
never rebuilt): a rebuilt read model replaces the live one's tables only, `READ_MODEL_TABLES`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from fastapi import FastAPI
from nats.aio.client import Client

from contracts.subjects import MINISTRY
from pls import bus, rebuild_http
from pls.clock import Clock, SystemClock, Timeline
from pls.deadlines import WorkingCalendar
from pls.intake.applier import Applier
from pls.intake.backfill import JournalClient
from pls.intake.intake import Delivery
from pls.intake.streams import StreamConsumers, acknowledge
from pls.publication.journal import Journal
from pls.publication.relay import Relay
from pls.rebuild import Store, promote, put_tables_in_place
from pls.settings import CommonSettings
from pls.sqlstore import Database, open_database
from pls.tasks import cancel_and_wait
from pls.trust.keys import SigningKey
from pls.trust.registry import FederationRegistry
from pls.trust.tokens import TokenVerifier
from pls.web import install_common, ops_router
from services.complaints.adapters.publication import SupervisionPublication
from services.complaints.adapters.queries import SupervisionQueries
from services.complaints.adapters.readmodel import SupervisionReadModel
from services.complaints.adapters.rules import load_rules
from services.complaints.application.projection import SupervisionProjection, interested_in
from services.complaints.application.recorded import Recorded, settle
from services.complaints.application.supervision import Supervision
from services.complaints.application.watch import DeadlineWatch
from services.complaints.domain.rules import DeadlineClock, SupervisionRules
from services.complaints.entrypoints.api import journal as journal_api
from services.complaints.entrypoints.api import supervision
from services.complaints.settings import ComplaintsSettings

log = structlog.get_logger(__name__)
# What is derived from the provinces' events (with the sources' positions and dead letters); the
# settings, the decisions' event store and the journal in the same database are not.
READ_MODEL_TABLES = ("complaints", "deadlines", "cases", "services", "sources", "dead_letters")


@dataclass
class ComplaintsRuntime:
    settings: ComplaintsSettings
    common: CommonSettings
    clock: Clock
    rules: SupervisionRules
    readmodel: SupervisionReadModel
    queries: SupervisionQueries
    projection: SupervisionProjection
    applier: Applier
    queue: asyncio.Queue[Delivery]
    backfill: JournalClient
    app: Supervision
    publication: SupervisionPublication
    relay: Relay | None
    watch: DeadlineWatch
    tokens: TokenVerifier
    client: Client | None = None
    consumers: StreamConsumers | None = None
    connected: bool = False
    _connecting: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.publication.start()
        self.watch.start()
        if self.relay is not None:
            await self.relay.start()
        await self.applier.start()
        self._connecting = asyncio.create_task(self._connect(), name="complaints-connect")

    async def _connect(self) -> None:
        backoff = 0.2
        while True:
            try:
                self.client = await bus.connect(
                    self.common.nats_url,
                    name="complaints-supervision",
                    creds=self.common.nats_creds,
                    member_id=self.common.member_id,
                    on_state=self._state,
                )
                break
            except Exception as error:
                log.warning("complaints service cannot reach NATS; retrying", error=str(error))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
        self.consumers = StreamConsumers(
            self.client,
            self.settings.provinces,
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
        await asyncio.to_thread(self.watch.stop)
        if self.relay is not None:
            await self.relay.stop()
        await asyncio.to_thread(self.publication.stop)
        await self.backfill.close()
        self.app.close()
        self.readmodel.db.close()

    @property
    def store(self) -> Store:
        return complaints_store(self.settings, self.common)

    async def promote_rebuild(self, *, keep_previous: bool = False) -> dict[str, Any]:
        """Swap in the supervision read model rebuilt beside the live one (`pls complaints
        rebuild`). Between two batches it is brought level from the journals; then, with the
        deadline watch held, it takes its marks from the decisions recorded (so none is published
        again) and its tables replace the live ones in one transaction."""
        fresh = self.store.beside()

        def put() -> None:
            with self.projection.lock:  # the watch decides on the live or the new rows, not both
                settle_rebuilt(fresh, self.app)
                put_tables_in_place(
                    self.store, fresh, READ_MODEL_TABLES, keep_previous=keep_previous
                )

        sequences = await promote(
            self.applier,
            self.readmodel.db,
            fresh,
            lambda db: projection_over(db, self.rules, self.projection.clock),
            put,
            origins=self.settings.provinces,
            journal=self.backfill,
            interested_in=interested_in,
        )
        self.watch.wake()
        log.warning("rebuilt supervision read model swapped in", store=self.store.describe())
        return {"store": self.store.describe(), "sequences": sequences}


def settle_rebuilt(fresh: Store, app: Supervision) -> None:
    """The rebuilt read model takes its marks from the decisions recorded so far."""
    db = fresh.open()
    try:
        settle(db, Recorded.read(app))
    finally:
        db.close()


def complaints_store(settings: ComplaintsSettings, common: CommonSettings) -> Store:
    """Where the supervision read model lives (with the service's event store and journal)."""
    return Store(settings.database_url(common.var_dir), settings.schema_name)


def projection_over(
    db: Database, rules: SupervisionRules, clock: DeadlineClock
) -> SupervisionProjection:
    """The supervision projection writing into `db` (the live read model or a rebuilt one)."""
    return SupervisionProjection(SupervisionReadModel(db), rules, clock)


def timeline_for(settings: ComplaintsSettings, readmodel: SupervisionReadModel) -> Timeline:
    """Supervised time: real time, or compressed from an epoch kept in the database."""
    if settings.time_scale == 1.0:
        return Timeline()
    epoch = settings.epoch or datetime.fromisoformat(
        readmodel.setting("epoch", datetime.now(UTC).isoformat())
    )
    return Timeline(scale=settings.time_scale, epoch=epoch)


def build_runtime(
    settings: ComplaintsSettings, common: CommonSettings, clock: Clock | None = None
) -> ComplaintsRuntime:
    clock = clock or SystemClock()
    registry = common.registry()
    member = common.require_member()
    signer = _signing_key(settings, registry)
    url = settings.database_url(common.var_dir)
    db = open_database(url, schema=settings.schema_name)
    readmodel = SupervisionReadModel(db)
    rules = load_rules(settings.rules)
    deadline_clock = DeadlineClock(WorkingCalendar(), timeline_for(settings, readmodel))
    projection = SupervisionProjection(readmodel, rules, deadline_clock)
    queue: asyncio.Queue[Delivery] = asyncio.Queue(maxsize=20_000)
    backfill = JournalClient(
        {p: settings.node_url(p) for p in settings.provinces}, token=settings.journal_token()
    )
    applier = Applier(
        projection,
        queue,
        acknowledge,
        backfill=backfill.page,
        max_batch=settings.max_batch,
        linger=settings.linger,
        gap_timeout=settings.gap_timeout,
        interested_in=interested_in,
        name="complaints",
        registry=registry,
    )
    app = Supervision(env=settings.eventsourcing_env(common.var_dir))
    journal = Journal(db)
    relay = None
    if settings.relay_enabled:
        relay = Relay(
            journal,
            origin=MINISTRY,
            nats_url=common.nats_url,
            nats_creds=common.nats_creds,
            member_id=member,
            batch_size=settings.relay_batch,
            ack_timeout=settings.relay_ack_timeout,
        )
    publication = SupervisionPublication(
        app,
        journal,
        checkpoint_interval=settings.checkpoint_interval,
        signer=signer,
    )
    if relay is not None:
        publication.on_journal_appended.append(relay.journal_appended)
    watch = DeadlineWatch(readmodel, projection, app, clock, interval=settings.check_interval)
    return ComplaintsRuntime(
        settings=settings,
        common=common,
        clock=clock,
        rules=rules,
        readmodel=readmodel,
        queries=SupervisionQueries(readmodel, rules, deadline_clock),
        projection=projection,
        applier=applier,
        queue=queue,
        backfill=backfill,
        app=app,
        publication=publication,
        relay=relay,
        watch=watch,
        tokens=TokenVerifier(registry.issuer),
    )


def _signing_key(settings: ComplaintsSettings, registry: FederationRegistry) -> SigningKey:
    if settings.signing_seed is None:
        raise SystemExit(
            "PLS_COMPLAINTS_SIGNING_SEED names the file with the service's signing key"
        )
    key = SigningKey.from_file(settings.signing_seed)
    if key.public_key not in registry.signing_keys_for(MINISTRY):
        raise SystemExit(
            f"the signing key in {settings.signing_seed} is not a key of {MINISTRY} in the registry"
        )
    return key


def create_app(runtime: ComplaintsRuntime) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        log.info("complaints supervision started", provinces=len(runtime.settings.provinces))
        try:
            yield
        finally:
            await runtime.stop()

    api = FastAPI(
        title="Complaints supervision",
        version="1.0.0",
        description=(
            "National supervision of service complaints and callbacks: deadline clocks in working "
            "days, escalation of overdue complaints, and the credit record of upheld complaints. "
            "Its decisions are published on pls.moj.complaint.* and pls.moj.case.callback_missed."
        ),
        lifespan=lifespan,
    )
    api.state.runtime = runtime
    api.state.tokens = runtime.tokens
    install_common(api, "complaints")

    async def ready() -> tuple[bool, dict[str, Any]]:
        gaps = runtime.applier.gaps()
        stuck = {origin: gap for origin, gap in gaps.items() if gap["seconds"] > 30}
        ok = (
            runtime.connected
            and runtime.applier.last_error is None
            and runtime.watch.last_error is None
            and not stuck
        )
        return ok, {
            "nats_connected": runtime.connected,
            "gaps_held": len(gaps),
            "last_error": runtime.applier.last_error or runtime.watch.last_error,
            "relay_lag": runtime.relay.lag if runtime.relay else None,
            "clock": runtime.clock.now().isoformat(),
        }

    api.include_router(ops_router(ready))
    api.include_router(supervision.router)
    api.include_router(journal_api.router)
    api.include_router(rebuild_http.router)
    return api

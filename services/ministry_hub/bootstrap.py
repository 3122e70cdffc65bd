"""Wires the ministry hub: read model, projection, applier, NATS consumers, backfill,
reconciliation against the province journals, and the API."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from nats.aio.client import Client
from prometheus_client import Gauge

from pls import bus, rebuild_http
from pls.deadlines import WorkingCalendar, load_rules
from pls.intake.applier import Applier
from pls.intake.backfill import JournalClient
from pls.intake.intake import Delivery, SourceState
from pls.intake.reconcile import Reconciler, Reconciliation
from pls.intake.streams import StreamConsumers, acknowledge
from pls.rebuild import Store, promote, promote_in_place
from pls.settings import CommonSettings
from pls.sqlstore import Database, SwappableDatabase
from pls.tasks import cancel_and_wait
from pls.trust.tokens import TokenVerifier
from pls.web import install_common, ops_router
from services.ministry_hub.adapters.queries import NationalQueries, name_of
from services.ministry_hub.adapters.readmodel import NationalReadModel
from services.ministry_hub.application.freshness import Delays, FreshnessObserved, RecentDelays
from services.ministry_hub.application.projection import NationalProjection
from services.ministry_hub.entrypoints.api import national, operations, subscriptions, supervision
from services.ministry_hub.entrypoints.models import (
    CheckpointRead,
    DelayRead,
    Freshness,
    FreshnessRow,
    GapRead,
    JournalCheckRead,
)
from services.ministry_hub.settings import HubSettings

log = structlog.get_logger(__name__)
CONNECTED = Gauge("pls_hub_nats_connected", "1 while the hub is connected to NATS")
DASHBOARD = Path(__file__).parent / "entrypoints" / "dashboard.html"


@dataclass
class HubRuntime:
    settings: HubSettings
    common: CommonSettings
    readmodel: NationalReadModel
    queries: NationalQueries
    applier: Applier
    queue: asyncio.Queue[Delivery]
    journal: JournalClient
    reconciler: Reconciler
    tokens: TokenVerifier
    delays: RecentDelays
    client: Client | None = None
    consumers: StreamConsumers | None = None
    connected: bool = False
    disconnected_since: float | None = field(default_factory=time.monotonic)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    _connecting: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.disconnected_since = time.monotonic()
        await self.applier.start()
        await self.reconciler.start()
        self._connecting = asyncio.create_task(self._connect(), name="hub-connect")

    async def _connect(self) -> None:
        backoff = 0.2
        while True:
            try:
                self.client = await bus.connect(
                    self.common.nats_url,
                    name="ministry-hub",
                    creds=self.common.nats_creds,
                    member_id=self.common.member_id,
                    on_state=self._state,
                )
                break
            except Exception as error:
                log.warning("hub cannot reach NATS; retrying", error=str(error))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
        self.consumers = StreamConsumers(
            self.client,
            self.settings.provinces,
            self.queue,
            self.applier.position_of,
            durable=self.settings.durable,
            batch=self.settings.fetch_batch,
            on_afresh=self.applier.stream_restarted,
        )
        await self.consumers.start()

    async def _state(self, connected: bool) -> None:
        self.connected = connected
        CONNECTED.set(1 if connected else 0)
        if connected:
            self.disconnected_since = None
        elif self.disconnected_since is None:
            self.disconnected_since = time.monotonic()

    async def stop(self) -> None:
        """Drain: stop taking from the bus, write and acknowledge what was taken, then close."""
        await self.reconciler.stop()
        await cancel_and_wait([self._connecting])
        if self.consumers is not None:
            await self.consumers.stop()
        await self.applier.stop(drain=True)
        if self.client is not None and not self.client.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.client.flush(), 5.0)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.client.close(), 5.0)
        await self.journal.close()
        log.info(
            "ministry hub stopped; positions saved",
            sequences={o: s.sequence for o, s in self.applier.intake.sources.items()},
        )
        self.readmodel.db.close()

    @property
    def store(self) -> Store:
        return hub_store(self.settings, self.common)

    async def promote_rebuild(self, *, keep_previous: bool = False) -> dict[str, Any]:
        """Swap in the read model rebuilt beside the live one (by `pls hub rebuild`).

        Between two batches: the rebuilt one is brought level with the live one from the
        journals, takes over the live one's dead letters and stream positions, and replaces it
        under the same name; then the applier resumes from its positions."""
        database = self.readmodel.db
        assert isinstance(database, SwappableDatabase)
        fresh = self.store.beside()
        sequences = await promote(
            self.applier,
            database,
            fresh,
            lambda db: projection_over(db, self.settings),
            lambda: promote_in_place(database, self.store, fresh, keep_previous=keep_previous),
            origins=self.settings.provinces,
            journal=self.journal,
        )
        log.warning("rebuilt read model swapped in", store=self.store.describe())
        return {"store": self.store.describe(), "sequences": sequences}

    def bus_down_for(self) -> float:
        if self.disconnected_since is None:
            return 0.0
        return time.monotonic() - self.disconnected_since

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Ready while every province flows: no gap held for long, no divergence, the bus near."""
        gaps = self.applier.gaps()
        stuck = sorted(
            o for o, gap in gaps.items() if gap["seconds"] >= self.settings.ready_gap_grace
        )
        diverged = sorted(
            o for o, r in self.reconciler.states.items() if r.status == "diverged"
        ) or sorted(
            o for o, s in self.applier.intake.sources.items() if s.checkpoint_status == "diverged"
        )
        bus_down = self.bus_down_for()
        ok = (
            not stuck
            and not diverged
            and self.applier.last_error is None
            and bus_down <= self.settings.bus_grace
        )
        return ok, {
            "nats_connected": self.connected,
            "nats_down_seconds": round(bus_down, 1),
            "gaps_held": len(gaps),
            "gaps_stuck": stuck,
            "diverged": diverged,
            "last_error": self.applier.last_error,
        }

    async def freshness(self) -> Freshness:
        now = datetime.now(UTC)
        national, by_province = self.delays.summary()
        gaps = self.applier.gaps()
        sources = self.applier.intake.sources
        rows = []
        for code in self.settings.provinces:
            state = sources.get(code) or SourceState(code)
            pending = self.consumers.pending.get(code) if self.consumers else None
            held = self.applier.intake.held_count(code)
            since = (
                (now - datetime.fromisoformat(state.last_event_time)).total_seconds()
                if state.last_event_time
                else None
            )
            check = self.reconciler.states.get(code) if self.journal.knows(code) else None
            status, reason = self._judge(state, gaps.get(code), pending, since, check)
            rows.append(
                FreshnessRow(
                    province=code,
                    name=name_of(code),
                    status=status,
                    reason=reason,
                    sequence=state.sequence,
                    events_applied=state.applied,
                    last_event_time=state.last_event_time,
                    last_applied_at=state.last_applied_at,
                    seconds_since_last_event=round(since, 1) if since is not None else None,
                    pending=pending,
                    held=held,
                    gap=GapRead(**gaps[code]) if code in gaps else None,
                    checkpoint=CheckpointRead(
                        sequence=state.checkpoint_sequence,
                        status=state.checkpoint_status,
                        verified_at=state.checkpoint_at,
                    ),
                    journal=JournalCheckRead(
                        status=check.status,
                        reason=check.reason,
                        head=check.head,
                        behind_by=check.lag,
                        verified_through=check.verified_through,
                        verified_at=check.verified_at,
                        resyncs=check.resyncs,
                    )
                    if check is not None
                    else None,
                    duplicates=state.duplicates,
                    dead_letters=state.dead_letters,
                    delay=_delay_read(by_province.get(code) or Delays(national.window_seconds, 0)),
                )
            )
        counts = {
            s: sum(1 for r in rows if r.status == s)
            for s in ("complete", "behind", "silent", "diverged")
        }
        return Freshness(delay=_delay_read(national), rows=rows, as_of=now, **counts)

    def _judge(
        self,
        state: SourceState,
        gap: dict[str, Any] | None,
        pending: int | None,
        since: float | None,
        check: Reconciliation | None,
    ) -> tuple[str, str]:
        if state.checkpoint_status == "diverged":
            return (
                "diverged",
                f"checkpoint through {state.diverged_at} does not match what was applied",
            )
        if check is not None and check.status == "diverged":
            return "diverged", check.reason
        if gap is not None:
            return (
                "behind",
                f"holding {gap['held']} events behind a gap at sequence {gap['expected']}",
            )
        if check is not None and check.status == "behind":
            return "behind", check.reason
        quiet = since is None or since > self.settings.silent_after
        if check is not None and check.status == "complete":
            if quiet:
                return "silent", f"{check.reason}; no events for a while"
            return "complete", check.reason
        if pending:
            return "behind", f"{pending} events in the stream not yet applied"
        if quiet:
            return (
                "silent",
                "no events received" if since is None else f"no events for {int(since)} s",
            )
        if state.checkpoint_status != "verified":
            return "behind", "no checkpoint verified yet"
        return "complete", f"verified through sequence {state.checkpoint_sequence}"


def _delay_read(delays: Delays) -> DelayRead:
    return DelayRead(**asdict(delays))


def hub_store(settings: HubSettings, common: CommonSettings) -> Store:
    """Where the national read model lives."""
    return Store(settings.database_url(common.var_dir), settings.schema_name)


def projection_over(db: Database, settings: HubSettings) -> NationalProjection:
    """The national projection writing into `db` (the live read model or a rebuilt one)."""
    return NationalProjection(
        NationalReadModel(db), load_rules(settings.deadline_rules), WorkingCalendar()
    )


def build_runtime(settings: HubSettings, common: CommonSettings) -> HubRuntime:
    registry = common.registry()
    common.require_member()
    db = SwappableDatabase(hub_store(settings, common).open())
    projection = projection_over(db, settings)
    readmodel = projection.readmodel
    queue: asyncio.Queue[Delivery] = asyncio.Queue(maxsize=settings.queue_size)
    journal = JournalClient(
        {p: settings.node_url(p) for p in settings.provinces}, token=settings.journal_token()
    )
    delays = RecentDelays()
    applier = Applier(
        FreshnessObserved(projection, delays),
        queue,
        acknowledge,
        backfill=journal.page,
        max_batch=settings.max_batch,
        linger=settings.linger,
        gap_timeout=settings.gap_timeout,
        registry=registry,
        max_held=settings.max_held,
    )
    reconciler = Reconciler(
        applier,
        journal,
        settings.provinces,
        interval=settings.reconcile_interval,
        resync_backoff=settings.resync_backoff,
    )
    return HubRuntime(
        settings,
        common,
        readmodel,
        NationalQueries(readmodel),
        applier,
        queue,
        journal,
        reconciler,
        TokenVerifier(registry.issuer),
        delays,
    )


def create_app(runtime: HubRuntime) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        log.info("ministry hub started", provinces=len(runtime.settings.provinces))
        try:
            yield
        finally:
            await runtime.stop()

    api = FastAPI(
        title="Ministry hub",
        version="1.0.0",
        description=(
            "The national read model of the public legal service federation: every province's "
            "events applied exactly once. National views for ministry staff."
        ),
        lifespan=lifespan,
    )
    api.state.runtime = runtime
    api.state.tokens = runtime.tokens
    install_common(api, "ministry-hub")

    api.include_router(ops_router(runtime.readiness))
    api.include_router(national.router)
    api.include_router(supervision.router)
    api.include_router(operations.router)
    api.include_router(rebuild_http.router)
    api.include_router(subscriptions.router)

    @api.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def dashboard() -> HTMLResponse:
        return HTMLResponse(DASHBOARD.read_text(encoding="utf-8"))

    return api

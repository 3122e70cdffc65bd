"""Wires the ministry hub: read model, projection, applier, NATS consumers, backfill and API."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from nats.aio.client import Client

from pls import bus
from pls.deadlines import WorkingCalendar, load_rules
from pls.intake.applier import Applier
from pls.intake.backfill import JournalClient
from pls.intake.intake import Delivery, SourceState
from pls.intake.streams import StreamConsumers, acknowledge
from pls.settings import CommonSettings
from pls.sqlstore import open_database
from pls.tasks import cancel_and_wait
from pls.trust.tokens import TokenVerifier
from pls.web import install_common, ops_router
from services.ministry_hub.adapters.queries import NationalQueries, name_of
from services.ministry_hub.adapters.readmodel import NationalReadModel
from services.ministry_hub.application.projection import NationalProjection
from services.ministry_hub.entrypoints.api import national, supervision
from services.ministry_hub.entrypoints.models import (
    CheckpointRead,
    Freshness,
    FreshnessRow,
    GapRead,
)
from services.ministry_hub.settings import HubSettings

log = structlog.get_logger(__name__)
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
    tokens: TokenVerifier
    client: Client | None = None
    consumers: StreamConsumers | None = None
    connected: bool = False
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    _connecting: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.applier.start()
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

    async def freshness(self) -> Freshness:
        now = datetime.now(UTC)
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
            status, reason = self._judge(state, gaps.get(code), pending, since)
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
                    duplicates=state.duplicates,
                    dead_letters=state.dead_letters,
                )
            )
        counts = {
            s: sum(1 for r in rows if r.status == s)
            for s in ("complete", "behind", "silent", "diverged")
        }
        return Freshness(rows=rows, as_of=now, **counts)

    def _judge(
        self,
        state: SourceState,
        gap: dict[str, Any] | None,
        pending: int | None,
        since: float | None,
    ) -> tuple[str, str]:
        if state.checkpoint_status == "diverged":
            return (
                "diverged",
                f"checkpoint through {state.diverged_at} does not match what was applied",
            )
        if gap is not None:
            return (
                "behind",
                f"holding {gap['held']} events behind a gap at sequence {gap['expected']}",
            )
        if pending:
            return "behind", f"{pending} events in the stream not yet applied"
        if since is None or since > self.settings.silent_after:
            return (
                "silent",
                "no events received" if since is None else f"no events for {int(since)} s",
            )
        if state.checkpoint_status != "verified":
            return "behind", "no checkpoint verified yet"
        return "complete", f"verified through sequence {state.checkpoint_sequence}"


def build_runtime(settings: HubSettings, common: CommonSettings) -> HubRuntime:
    registry = common.registry()
    common.require_member()
    db = open_database(settings.database_url(common.var_dir), schema=settings.schema_name)
    readmodel = NationalReadModel(db)
    projection = NationalProjection(
        readmodel, load_rules(settings.deadline_rules), WorkingCalendar()
    )
    queue: asyncio.Queue[Delivery] = asyncio.Queue(maxsize=20_000)
    journal = JournalClient(
        {p: settings.node_url(p) for p in settings.provinces}, token=settings.journal_token()
    )
    applier = Applier(
        projection,
        queue,
        acknowledge,
        backfill=journal.fetch,
        max_batch=settings.max_batch,
        gap_timeout=settings.gap_timeout,
        registry=registry,
    )
    return HubRuntime(
        settings,
        common,
        readmodel,
        NationalQueries(readmodel),
        applier,
        queue,
        journal,
        TokenVerifier(registry.issuer),
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
    api.include_router(national.router)
    api.include_router(supervision.router)

    @api.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def dashboard() -> HTMLResponse:
        return HTMLResponse(DASHBOARD.read_text(encoding="utf-8"))

    return api

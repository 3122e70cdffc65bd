"""Wires a province node: event store, publication projection, relay and HTTP API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import structlog
from eventsourcing.persistence import OperationalError
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from prometheus_client import Gauge

from pls import divisions
from pls.settings import CommonSettings
from pls.sqlstore import open_database
from pls.trust.keys import SigningKey
from pls.trust.registry import FederationRegistry
from pls.trust.tokens import TokenVerifier
from pls.web import install_common, ops_router, problem
from services.province_node.adapters.backlog import PublicationBacklog
from services.province_node.adapters.relay import Relay
from services.province_node.adapters.views import NodeViews
from services.province_node.application.node import ConcurrentChange, NotFound, ProvinceNode
from services.province_node.application.publication import PublicationProjection
from services.province_node.domain.errors import (
    ComplaintParticularMissing,
    DomainError,
    IdempotencyKeyReused,
    ReferenceNotFound,
)
from services.province_node.entrypoints.api import agencies, cases, complaints, publication
from services.province_node.settings import NodeSettings

log = structlog.get_logger(__name__)
PROJECTION_LAG = Gauge(
    "pls_node_projection_lag", "Notifications recorded but not yet projected", ["province"]
)


@dataclass
class NodeRuntime:
    settings: NodeSettings
    common: CommonSettings
    app: ProvinceNode
    views: NodeViews
    projection: PublicationProjection
    relay: Relay | None
    tokens: TokenVerifier
    backlog: PublicationBacklog | None = None

    def close(self) -> None:
        self.projection.stop()
        self.app.close()
        self.views.db.close()


def _signing_key(settings: NodeSettings, registry: FederationRegistry) -> SigningKey:
    if settings.signing_seed is None:
        raise SystemExit("PLS_NODE_SIGNING_SEED names the file with the province's signing key")
    key = SigningKey.from_file(settings.signing_seed)
    if key.public_key not in registry.signing_keys_for(settings.province):
        raise SystemExit(
            f"the signing key in {settings.signing_seed} is not a key of {settings.province} "
            "in the federation registry"
        )
    return key


def build_runtime(settings: NodeSettings, common: CommonSettings) -> NodeRuntime:
    registry = common.registry()
    signer = _signing_key(settings, registry)
    member = common.require_member()
    pseudonym_secret = settings.pseudonym_key()
    common.require_real_secret("PLS_NODE_PSEUDONYM_SECRET", pseudonym_secret)
    url = settings.database_url(common.var_dir)
    views = NodeViews(open_database(url, schema=settings.schema_in_use, synchronous="FULL"))
    app = ProvinceNode(
        settings.province,
        pseudonym_secret.get_secret_value().encode(),
        env=settings.eventsourcing_env(common.var_dir),
    )
    relay = None
    if settings.relay_enabled:
        relay = Relay(
            views,
            province=settings.province,
            nats_url=common.nats_url,
            nats_creds=common.nats_creds,
            member_id=member,
            batch_size=settings.relay_batch,
            ack_timeout=settings.relay_ack_timeout,
        )
    projection = PublicationProjection(
        app,
        views,
        batch_size=settings.projection_batch,
        checkpoint_interval=settings.checkpoint_interval,
        signer=signer,
    )
    if relay is not None:
        projection.on_journal_appended.append(relay.journal_appended)
    backlog = None
    if relay is not None and settings.publish_delay_limit > 0:
        backlog = PublicationBacklog(
            relay,
            projection,
            max_delay=settings.publish_delay_limit,
            max_wait=settings.command_max_wait,
        )
        app.on_recorded.append(backlog.recorded)
        relay.on_progress.append(backlog.progressed)
        projection.on_journal_appended.append(backlog.journalled)
    return NodeRuntime(
        settings, common, app, views, projection, relay, TokenVerifier(registry.issuer), backlog
    )


def create_relay_app(settings: NodeSettings, common: CommonSettings) -> FastAPI:
    """A relay running as its own process over the node's database: health and metrics only."""
    views = NodeViews(
        open_database(
            settings.database_url(common.var_dir), schema=settings.schema_in_use, synchronous="FULL"
        )
    )
    member = common.require_member()
    relay = Relay(
        views,
        province=settings.province,
        nats_url=common.nats_url,
        nats_creds=common.nats_creds,
        member_id=member,
        batch_size=settings.relay_batch,
        ack_timeout=settings.relay_ack_timeout,
        idle_poll=0.2,  # no in-process signal from the projection: look often
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await relay.start()
        log.info("relay started", province=settings.province)
        try:
            yield
        finally:
            await relay.stop()
            await asyncio.to_thread(views.db.close)

    api = FastAPI(
        title=f"Relay {settings.province}",
        version="1.0.0",
        description="Publishes a province node's journal to its JetStream stream.",
        lifespan=lifespan,
    )
    install_common(api, f"relay-{settings.province}")

    async def ready() -> tuple[bool, dict[str, Any]]:
        head = (await asyncio.to_thread(views.journal_head))[0]
        return relay.connected, {
            "province": settings.province,
            "relay_connected": relay.connected,
            "position": relay.position,
            "relay_lag": max(0, head - relay.position),
            "last_error": relay.last_error,
        }

    api.include_router(ops_router(ready))
    return api


def create_app(runtime: NodeRuntime) -> FastAPI:
    province = runtime.settings.province

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Commands check counties on the event loop: the gazetteer is read before they come.
        await asyncio.to_thread(divisions.gazetteer)
        runtime.projection.start()
        if runtime.relay is not None:
            await runtime.relay.start()
        if runtime.backlog is not None:
            stored = await asyncio.to_thread(runtime.app.recorder.max_notification_id)
            runtime.backlog.resume(stored or 0)
        log.info("province node started", province=province, port=runtime.settings.listen_port())
        try:
            yield
        finally:
            if runtime.relay is not None:
                await runtime.relay.stop()
            await asyncio.to_thread(runtime.close)

    api = FastAPI(
        title=f"Province node {province}",
        version="1.0.0",
        description=(
            "The province's system of record for public legal service cases, complaints and "
            "agencies. Personal data stays here; published events carry codes and pseudonymous ids."
        ),
        lifespan=lifespan,
        # The request's span comes from `install_common`; FastAPI's own would be a second and a
        # third span around the same request (a sixth of a small command's time), adding nothing.
        telemetry={"tracing": False},
    )
    api.state.runtime = runtime
    api.state.tokens = runtime.tokens
    api.state.province = province
    install_common(api, f"province-node-{province}")
    _install_domain_errors(api)

    async def ready() -> tuple[bool, dict[str, Any]]:
        head = await asyncio.to_thread(runtime.app.recorder.max_notification_id) or 0
        lag = head - runtime.projection.position
        PROJECTION_LAG.labels(province).set(lag)
        projecting = runtime.projection.error is None or lag == 0
        details = {"province": province, "projection_lag": lag}
        if runtime.relay is not None:
            details |= {"relay_connected": runtime.relay.connected, "relay_lag": runtime.relay.lag}
        if runtime.backlog is not None:  # over its limit, new commands wait for the relay
            details |= {
                "publish_backlog": runtime.backlog.pending,
                "publish_delay": round(runtime.backlog.delay, 3),
                "publish_delay_limit": runtime.backlog.max_delay,
            }
        # A node is ready while it can take commands: a disconnected relay does not stop it.
        return projecting, details

    api.include_router(ops_router(ready))
    for module in (cases, agencies, complaints, publication):
        api.include_router(module.router)
    return api


def _install_domain_errors(api: FastAPI) -> None:
    @api.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> JSONResponse:
        return problem(404, str(exc), "NotFound")

    @api.exception_handler(ReferenceNotFound)
    async def reference_not_found(request: Request, exc: ReferenceNotFound) -> JSONResponse:
        return JSONResponse(
            {
                "detail": [
                    {
                        "loc": ["body", exc.field],
                        "field": exc.field,
                        "msg": exc.rule,
                        "type": "reference_not_found",
                    }
                ]
            },
            status_code=422,
        )

    @api.exception_handler(ComplaintParticularMissing)
    async def particular_missing(request: Request, exc: ComplaintParticularMissing) -> JSONResponse:
        return JSONResponse(
            {
                "detail": [
                    {
                        "loc": ["body", exc.field],
                        "field": exc.field,
                        "msg": exc.rule,
                        "type": type(exc).__name__,
                    }
                ],
                "error": type(exc).__name__,
            },
            status_code=422,
        )

    @api.exception_handler(IdempotencyKeyReused)
    async def key_reused(request: Request, exc: IdempotencyKeyReused) -> JSONResponse:
        return problem(422, exc.rule, "IdempotencyKeyReused")

    @api.exception_handler(DomainError)
    async def rule_broken(request: Request, exc: DomainError) -> JSONResponse:
        return problem(409, exc.rule, type(exc).__name__)

    @api.exception_handler(ConcurrentChange)
    async def concurrent(request: Request, exc: ConcurrentChange) -> JSONResponse:
        return problem(
            409, "the record changed while this command ran; retry it", "ConcurrentChange"
        )

    @api.exception_handler(OperationalError)
    async def busy(request: Request, exc: OperationalError) -> JSONResponse:
        log.warning("event store busy", error=str(exc))
        return problem(
            503, "the event store is busy; retry shortly", "StoreBusy", headers={"Retry-After": "1"}
        )

"""Running one HTTP service in this process (what a container runs)."""

from __future__ import annotations

import gc

import uvicorn
from fastapi import FastAPI

from pls.logs import configure_logging
from pls.settings import CommonSettings
from pls.telemetry import configure_tracing


def prepare(common: CommonSettings, service_name: str) -> None:
    configure_logging(common.log_level, common.log_format)
    configure_tracing(service_name, common.otel_exporter, common.otel_endpoint)


def settle_memory() -> None:
    """Once a service has started: what it made while starting (modules, schemas, settings,
    routes) lives as long as the process, so the cycle collector stops walking it; and it runs
    after 50,000 new objects rather than 700, since applying one event makes a dozen objects that
    live only until their batch is written. Consumers spend a quarter less CPU on their intake."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 10)


def serve(app: FastAPI, host: str, port: int) -> None:
    settle_memory()
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
        timeout_graceful_shutdown=10,
    )

"""Running one HTTP service in this process (what a container runs)."""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI

from pls.logs import configure_logging
from pls.settings import CommonSettings
from pls.telemetry import configure_tracing


def prepare(common: CommonSettings, service_name: str) -> None:
    configure_logging(common.log_level, common.log_format)
    configure_tracing(service_name, common.otel_exporter, common.otel_endpoint)


def serve(app: FastAPI, host: str, port: int) -> None:
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

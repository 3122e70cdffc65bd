"""Running HTTP services in this process (what a container runs)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from collections.abc import Iterator, Sequence

import uvicorn
import uvloop
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


def _config(app: FastAPI, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
        timeout_graceful_shutdown=10,
    )


def serve(app: FastAPI, host: str, port: int) -> None:
    settle_memory()
    uvicorn.Server(_config(app, host, port)).run()


class _Sibling(uvicorn.Server):
    """One of several servers sharing a process: the process's signals stop all of them
    together (`serve_many`), not only the one that installed its handlers last."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def serve_many(apps: list[tuple[FastAPI, str, int]]) -> None:
    """Several services in one process and one event loop, each on its own port, each with
    its own lifespan; SIGINT or SIGTERM shuts every one down gracefully."""
    settle_memory()
    servers = [_Sibling(_config(app, host, port)) for app, host, port in apps]

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, _stop, servers)
        await asyncio.gather(*(_until_done(server, servers) for server in servers))

    uvloop.run(run())


async def _until_done(server: uvicorn.Server, servers: Sequence[uvicorn.Server]) -> None:
    """A server that stops (it could not start, or was told to) stops its siblings: the
    process then ends, and whatever supervises it starts all of them again."""
    try:
        await server.serve()
    finally:
        _stop(servers)


def _stop(servers: Sequence[uvicorn.Server]) -> None:
    for server in servers:
        server.should_exit = True

"""Stopping background tasks without hanging a shutdown.

Some client libraries turn a cancellation into their own error while waiting, and a loop that
retries on errors would then never end; so a task is cancelled again until it is done, within a
bounded time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import structlog

log = structlog.get_logger(__name__)


async def cancel_and_wait(
    tasks: Iterable[asyncio.Future[Any] | None], timeout: float = 5.0
) -> None:
    pending = {task for task in tasks if task is not None and not task.done()}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while pending and loop.time() < deadline:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(
            pending, timeout=min(0.5, max(0.01, deadline - loop.time()))
        )
    if pending:
        log.warning(
            "tasks did not stop in time",
            tasks=[getattr(t, "get_name", lambda: "?")() for t in pending],
        )

"""The bus: connecting to NATS and keeping each origin's JetStream stream configured.

Streams hold one origin's subjects each, on file storage; the server itself runs with
`sync_interval: always`, so an acknowledged publish is on disk. The duplicate window lets a relay
re-send after a lost acknowledgement without storing the event twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import nats
import structlog
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from contracts.subjects import origin_subjects, stream_name
from pls.trust.natsconfig import inbox_prefix

log = structlog.get_logger(__name__)

DEFAULT_DUPLICATE_WINDOW = 20 * 60.0


async def connect(
    url: str,
    *,
    name: str,
    creds: Path | None = None,
    member_id: str | None = None,
    on_state: Callable[[bool], Awaitable[None] | None] | None = None,
    connect_timeout: float = 2.0,
) -> Client:
    """Connect as a registry member (its nkey seed file and private inbox), reconnecting forever;
    `on_state(True/False)` hears of (re)connections."""

    holder: dict[str, Client] = {}

    async def disconnected() -> None:
        client = holder.get("client")
        if client is not None and (client.is_closed or client.is_draining):
            return  # closing on purpose
        log.warning("nats disconnected", client=name)
        if on_state is not None:
            result = on_state(False)
            if result is not None:
                await result

    async def reconnected() -> None:
        log.info("nats reconnected", client=name)
        if on_state is not None:
            result = on_state(True)
            if result is not None:
                await result

    async def error(exc: Exception) -> None:
        log.debug("nats error", client=name, error=str(exc))

    options: dict[str, Any] = {
        "servers": [url],
        "name": name,
        "connect_timeout": connect_timeout,
        "allow_reconnect": True,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
        "disconnected_cb": disconnected,
        "reconnected_cb": reconnected,
        "error_cb": error,
        "pending_size": 64 * 1024 * 1024,
    }
    if creds is not None:
        options["nkeys_seed"] = str(creds)
    if member_id is not None:
        options["inbox_prefix"] = inbox_prefix(member_id)
    client = await nats.connect(**options)
    holder["client"] = client
    if on_state is not None:
        result = on_state(True)
        if result is not None:
            await result
    return client


def stream_config(
    origin: str,
    *,
    replicas: int = 1,
    duplicate_window: float = DEFAULT_DUPLICATE_WINDOW,
    max_age: float | None = None,
) -> StreamConfig:
    return StreamConfig(
        name=stream_name(origin),
        description=f"Integration events published by {origin}",
        subjects=[origin_subjects(origin)],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        num_replicas=replicas,
        duplicate_window=duplicate_window,
        max_age=max_age or 0,
        allow_direct=True,
    )


async def ensure_stream(js: JetStreamContext, origin: str, **options: Any) -> None:
    """Create the origin's stream, or bring an existing one up to the expected configuration."""
    config = stream_config(origin, **options)
    try:
        await js.stream_info(config.name)  # type: ignore[arg-type]
    except NotFoundError:
        await js.add_stream(config)
        log.info("stream created", stream=config.name)
        return
    await js.update_stream(config)

"""Durable pull consumers over the province streams, positioned by the hub's own tracking.

The read model, not the consumer, is the record of how far the hub got: at start (and after any
consumer error) each durable consumer is recreated to begin just after the stream position stored
with the read model. Acknowledgements only spare the server redeliveries within a session, so
they are cumulative (`AckPolicy.ALL`): one acknowledgement a stream for each committed batch.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from prometheus_client import Gauge

from contracts.subjects import stream_name
from pls.intake.intake import Delivery
from pls.intake.pull import Puller, stream_sequence_of
from pls.tasks import cancel_and_wait

log = structlog.get_logger(__name__)
PENDING = Gauge(
    "pls_hub_consumer_pending", "Messages in a province stream not yet delivered", ["origin"]
)


class StreamConsumers:
    def __init__(
        self,
        client: Client,
        origins: list[str],
        queue: asyncio.Queue[Delivery],
        position_of: Callable[[str], int],
        *,
        durable: str = "ministry-hub",
        batch: int = 500,
        ack_wait: float = 60.0,
        max_ack_pending: int = 20_000,
        on_afresh: Callable[[str], Awaitable[None]] | None = None,
        watch_every: float = 10.0,
    ) -> None:
        self.client = client
        self.js: JetStreamContext = client.jetstream(timeout=10)
        self.origins = origins
        self.queue = queue
        self.position_of = position_of
        self.durable = durable
        self.batch = batch
        self.ack_wait = ack_wait
        self.max_ack_pending = max_ack_pending
        self.on_afresh = on_afresh
        # How often each stream's backlog and last sequence are asked for: two JetStream API
        # requests a stream: every 2 s was most of what an idle 32-province federation spent.
        self.watch_every = watch_every
        self.pending: dict[str, int] = {}
        self.streams_seen: dict[str, bool] = {}
        self.stream_last: dict[str, int] = {}
        self._resubscribe: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        for origin in self.origins:
            self._tasks.append(
                asyncio.create_task(self._fetch_loop(origin), name=f"fetch-{origin}")
            )
        self._tasks.append(asyncio.create_task(self._watch_pending(), name="watch-pending"))

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)

    async def _subscribe(self, origin: str) -> Puller:
        stream = stream_name(origin)
        info = await self.js.stream_info(stream)
        position = self.position_of(origin)
        if info.state.last_seq < position:
            # The stream was recreated or purged behind our back: read all of what it has; the
            # sequence check drops what was already applied and a gap is backfilled.
            log.warning(
                "stream is behind the hub's position; reading it from the start",
                stream=stream,
                position=position,
                last=info.state.last_seq,
            )
            position = 0
            if self.on_afresh is not None:
                await self.on_afresh(origin)  # positions in this stream start again
        with contextlib.suppress(NotFoundError):
            await self.js.delete_consumer(stream, self.durable)
        config = ConsumerConfig(
            durable_name=self.durable,
            ack_policy=AckPolicy.ALL,
            ack_wait=self.ack_wait,
            max_ack_pending=self.max_ack_pending,
            max_deliver=-1,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE if position else DeliverPolicy.ALL,
            opt_start_seq=position + 1 if position else None,
        )
        await self.js.add_consumer(stream, config)
        self.streams_seen[origin] = True
        puller = Puller(self.client, stream, self.durable, batch=self.batch)
        await puller.start()
        return puller

    async def _fetch_loop(self, origin: str) -> None:
        backoff = 0.5
        while True:
            try:
                puller = await self._subscribe(origin)
            except NotFoundError:
                self.streams_seen[origin] = False
                await asyncio.sleep(2.0)  # the province has not published yet
                continue
            except Exception as error:
                log.warning("cannot subscribe; retrying", origin=origin, error=repr(error))
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            backoff = 0.5
            try:
                while origin not in self._resubscribe:
                    for message in await puller.next(timeout=1.0):
                        await self.queue.put(self._delivery(origin, message))
                self._resubscribe.discard(origin)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("consumer failed; resubscribing", origin=origin, error=repr(error))
                await asyncio.sleep(backoff)
            finally:
                await puller.stop()

    @staticmethod
    def _delivery(origin: str, message: Msg) -> Delivery:
        sequence = stream_sequence_of(message.reply)
        return Delivery(
            origin=origin,
            subject=message.subject,
            body=message.data,
            stream_sequence=sequence,
            handle=(origin, sequence, message),
        )

    async def _watch_pending(self) -> None:
        while True:
            for origin in self.origins:
                with contextlib.suppress(Exception):
                    info = await self.js.consumer_info(stream_name(origin), self.durable)
                    self.pending[origin] = info.num_pending + info.num_ack_pending
                    PENDING.labels(origin).set(self.pending[origin])
                with contextlib.suppress(Exception):
                    stream = await self.js.stream_info(stream_name(origin))
                    self.stream_last[origin] = stream.state.last_seq
                    if stream.state.last_seq < self.position_of(origin):
                        # The stream lost what the hub had read (a truncated store, a stream
                        # recreated): the consumer would wait for sequences already passed.
                        log.warning(
                            "stream ends before the hub's position; consuming it afresh",
                            origin=origin,
                            last=stream.state.last_seq,
                            position=self.position_of(origin),
                        )
                        self._resubscribe.add(origin)
            await asyncio.sleep(self.watch_every)


async def acknowledge(handles: list[tuple[str, int, Msg]]) -> None:
    """Acknowledge what was committed: the latest delivery of each stream acknowledges every
    earlier one. A lost ack only means a redelivery that is then dropped as a duplicate.
    Each handle is (origin, stream sequence, message), as `StreamConsumers` delivers them."""
    latest: dict[str, tuple[int, Msg]] = {}
    for origin, sequence, message in handles:
        if sequence >= latest.get(origin, (0, message))[0]:
            latest[origin] = (sequence, message)
    for _, message in latest.values():
        with contextlib.suppress(Exception):
            await message.ack()

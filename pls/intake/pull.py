"""Reading a durable pull consumer with a request always in flight.

nats-py's `PullSubscription.fetch` waits for every message in an asyncio task of its own (with a
timer and a fresh UUID), which costs a consumer that reads every event of every province more
than anything else it does with the client. `Puller` keeps one pull request outstanding on the
consumer's own inbox and takes its messages in a plain callback; `next()` hands over whatever has
arrived as soon as anything has, and the next request is sent as soon as the last one is served,
so the server sends the next batch while this one is processed.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import Header
from nats.js.errors import NotFoundError

REQUEST_TIMEOUT = "408"  # the request expired: it is over, ask again


def stream_sequence_of(reply: str) -> int:
    """The stream sequence of a JetStream delivery, from its reply subject:
    `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>`, or
    with `<domain>.<account hash>` after `ACK` and a token at the end."""
    tokens = reply.split(".")
    return int(tokens[5] if len(tokens) == 9 else tokens[7])


class PullFailed(RuntimeError):
    """The server ended a pull request with a problem (the consumer was deleted, say)."""


class Puller:
    def __init__(
        self, client: Client, stream: str, durable: str, *, batch: int, expires: float = 5.0
    ) -> None:
        self.client = client
        self.stream = stream
        self.durable = durable
        self._jetstream = client.jetstream(timeout=5)
        self.batch = batch
        self.expires = expires
        self.subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self.request = orjson.dumps({"batch": batch, "expires": int(expires * 1e9)})
        self._inbox = ""
        self._subscription: Subscription | None = None
        self._arrived: list[Msg] = []
        self._ready = asyncio.Event()  # something arrived, or the request in flight ended
        self._owed = 0  # messages the request in flight may still bring
        self._asked_at = 0.0
        self._problem: str | None = None

    async def start(self) -> None:
        self._inbox = self.client.new_inbox()
        self._subscription = await self.client.subscribe(self._inbox, cb=self._received)
        await self._ask()

    async def stop(self) -> None:
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
            self._subscription = None

    async def next(self, timeout: float = 1.0) -> list[Msg]:
        """What has arrived since the last call, waiting up to `timeout` for the first of it
        (an empty list when nothing came). Raises `PullFailed` when the server refused a pull."""
        if not self._arrived:
            self._ready.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ready.wait(), timeout)
        messages, self._arrived = self._arrived, []
        if self._problem is not None:
            problem, self._problem = self._problem, None
            raise PullFailed(f"consumer {self.durable} on {self.stream}: {problem}")
        if self._owed <= 0:
            await self._ask()
        elif time.monotonic() - self._asked_at > self.expires + 1.0:
            # Unanswered past its expiry: lost with a connection, or the consumer is gone.
            try:
                await self._jetstream.consumer_info(self.stream, self.durable)
            except NotFoundError:
                raise PullFailed(f"consumer {self.durable} on {self.stream} is gone") from None
            await self._ask()
        return messages

    async def _ask(self) -> None:
        self._owed = self.batch
        self._asked_at = time.monotonic()
        await self.client.publish(self.subject, self.request, reply=self._inbox)

    async def _received(self, message: Msg) -> None:
        headers = message.headers
        if not message.data and headers and Header.STATUS in headers:
            self._owed = 0  # that request is over
            if headers[Header.STATUS] != REQUEST_TIMEOUT:
                self._problem = (
                    f"{headers[Header.STATUS]} {headers.get(Header.DESCRIPTION, '')}".strip()
                )
            self._ready.set()
            return
        self._arrived.append(message)
        self._owed -= 1
        self._ready.set()
        if self._owed <= 0 and len(self._arrived) < self.batch:
            await self._ask()  # keep the server sending while these are processed

"""A lean HTTP/1.1 client for load generators, so that offering load costs far less CPU than
serving it.

Keep-alive connections to one origin, one request in flight on each, bodies framed by
Content-Length (what uvicorn sends for every JSON answer). A connection idle longer than
`idle` seconds is opened again before use, because uvicorn closes idle keep-alive connections
after 5 s and a request sent as it closes would be lost. When the server closes a connection
under a request, that request fails with `ConnectionClosed` (it is not retried: the server may
have acted on it) and the next request opens a new one.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit


class HTTPError(Exception):
    """The exchange failed: no complete answer was read."""


class ConnectionClosed(HTTPError):
    """The server closed the connection before its answer was complete."""


class ResponseTimeout(HTTPError):
    """No complete answer within the client's timeout."""


class MalformedResponse(HTTPError):
    """An answer this client does not read (bad status line, no Content-Length)."""


@dataclass(slots=True)
class Response:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class _Connection(asyncio.Protocol):
    """One TCP connection; the answer is parsed as its bytes arrive and handed to the waiter."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[Response] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.open = False
        self.last_used = 0.0
        self.head: tuple[int, dict[str, str], int, int] | None = None  # status, headers, at, length

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.open = True

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        self._fail(ConnectionClosed("connection closed by the server"))

    def eof_received(self) -> bool | None:
        self.open = False
        return None  # close our side too

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is None:
            return
        try:
            response = self._parse()
        except (ValueError, MalformedResponse) as error:
            self._fail(MalformedResponse(str(error)))
            self.close()
            return
        if response is not None:
            self._settle()
            self.waiter.set_result(response)
            self.waiter = None
            if response.headers.get("connection", "").lower() == "close":
                self.close()

    def _parse(self) -> Response | None:
        if self.head is None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return None
            lines = self.buffer[:end].decode("latin-1").split("\r\n")
            version, code, *_ = lines[0].split(" ", 2)
            if not version.startswith("HTTP/1."):
                raise MalformedResponse(f"status line {lines[0]!r}")
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if "content-length" not in headers:
                raise MalformedResponse("no Content-Length")
            self.head = (int(code), headers, end + 4, int(headers["content-length"]))
        status, headers, at, length = self.head
        if len(self.buffer) < at + length:
            return None
        body = bytes(self.buffer[at : at + length])
        del self.buffer[: at + length]
        self.head = None
        return Response(status, headers, body)

    def send(self, request: bytes, timeout: float) -> asyncio.Future[Response]:
        assert self.transport is not None and self.waiter is None
        loop = asyncio.get_running_loop()
        self.waiter = loop.create_future()
        self.timer = loop.call_later(timeout, self._time_out)
        self.transport.write(request)
        return self.waiter

    def _time_out(self) -> None:
        self.timer = None
        self._fail(ResponseTimeout("no answer in time"))
        self.close()

    def _fail(self, error: HTTPError) -> None:
        self._settle()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(error)
        self.waiter = None

    def _settle(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def close(self) -> None:
        self.open = False
        if self.transport is not None:
            self.transport.close()


class Client:
    """Up to `connections` keep-alive connections to one origin (`http://host:port`), each
    opened on first use; a request waits for a free connection if all are busy."""

    def __init__(
        self,
        url: str,
        *,
        connections: int,
        headers: dict[str, str] | None = None,
        idle: float = 4.0,
        timeout: float = 60.0,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"not an http:// origin: {url}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.idle = idle
        self.timeout = timeout
        fixed = {"Host": parts.netloc, **(headers or {})}
        self._fixed = "".join(f"{k}: {v}\r\n" for k, v in fixed.items())
        # Most recently used last, so a few connections stay warm under a light load and the
        # rest go idle (and are opened again when needed) instead of all going stale together.
        self._free: list[_Connection] = [_Connection() for _ in range(connections)]
        self._slots = asyncio.Semaphore(connections)

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> Response:
        head = f"{method} {path} HTTP/1.1\r\n{self._fixed}"
        if headers:
            head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        head += f"Content-Length: {len(body)}\r\n\r\n"
        await self._slots.acquire()
        connection = self._free.pop()
        try:
            stale = time.monotonic() - connection.last_used > self.idle
            if stale or not connection.open or connection.buffer:
                connection = await self._connect(connection)
            response = await connection.send(head.encode("latin-1") + body, self.timeout)
            connection.last_used = time.monotonic()
            return response
        except BaseException:
            connection.close()  # its state is unknown: never reuse it
            raise
        finally:
            self._free.append(connection)
            self._slots.release()

    async def post_json(
        self, path: str, document: Any, headers: dict[str, str] | None = None
    ) -> Response:
        body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
        return await self.request(
            "POST", path, body=body, headers={"Content-Type": "application/json", **(headers or {})}
        )

    async def close(self) -> None:
        for connection in self._free:
            connection.close()

    async def _connect(self, old: _Connection) -> _Connection:
        old.close()
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(_Connection, self.host, self.port)
        return connection

"""The benchmarks' HTTP client against a real socket server: answers read whole, connections kept
alive, reopened after idling, and a request the server drops counted as failed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bench.keepalive import Client, ConnectionClosed

ANSWER = b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 12\r\n\r\n"


class Server:
    """Answers every request with `{"id": "c1"}`, or closes the connection under the request
    when its path is /drop; counts the connections it accepted."""

    def __init__(self) -> None:
        self.connections = 0
        self.bodies: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                self.bodies.append(await reader.readexactly(length))
                if head.startswith(b"POST /drop "):
                    break
                # The answer in two writes, as a slow server would send it.
                writer.write(ANSWER + b'{"id"')
                await writer.drain()
                await asyncio.sleep(0.01)
                writer.write(b': "c1"}')
                await writer.drain()
        except asyncio.IncompleteReadError:
            pass
        finally:
            writer.close()


@pytest.fixture
async def server() -> AsyncIterator[tuple[Server, str]]:
    state = Server()
    listener = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    async with listener:
        yield state, f"http://127.0.0.1:{port}"


async def test_answers_are_read_whole_over_one_kept_alive_connection(
    server: tuple[Server, str],
) -> None:
    state, url = server
    client = Client(url, connections=1, timeout=5)
    for _ in range(3):
        response = await client.post_json("/v1/cases", {"applicant": {"name": "王伟"}})
        assert response.status == 201
        assert response.json() == {"id": "c1"}
    await client.close()
    assert state.connections == 1
    assert state.bodies[0].decode() == '{"applicant":{"name":"王伟"}}'


async def test_a_connection_idle_too_long_is_opened_again(server: tuple[Server, str]) -> None:
    state, url = server
    client = Client(url, connections=1, idle=0.1, timeout=5)
    await client.request("POST", "/v1/cases")
    await asyncio.sleep(0.2)
    assert (await client.request("POST", "/v1/cases")).status == 201
    await client.close()
    assert state.connections == 2


async def test_a_request_the_server_drops_fails_and_the_next_one_reconnects(
    server: tuple[Server, str],
) -> None:
    state, url = server
    client = Client(url, connections=1, timeout=5)
    with pytest.raises(ConnectionClosed):
        await client.request("POST", "/drop")
    assert (await client.request("POST", "/v1/cases")).status == 201
    await client.close()
    assert state.connections == 2

"""Fixtures shared by the whole suite: a real nats-server per session, PostgreSQL when present."""

from __future__ import annotations

import os
import random
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pls.natsserver import NatsServer
from pls.trust.local import LocalTrust, create_local_trust

POSTGRES_URL = os.environ.get("PLS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


_handed_out: set[int] = set()


def free_port() -> int:
    """A port that is free now, chosen below the ephemeral range so that outgoing connections
    (which take ephemeral ports) cannot grab it before the server we start binds it."""
    low, _ = (int(p) for p in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20_000, min(low, 32_000))
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free port found")


@pytest.fixture(scope="session")
def trust(tmp_path_factory: pytest.TempPathFactory) -> LocalTrust:
    """Registry, keys, secrets and token issuer for every origin and service, as `pls up` makes."""
    return create_local_trust(tmp_path_factory.mktemp("trust"))


@pytest.fixture(scope="session")
def nats_server(
    tmp_path_factory: pytest.TempPathFactory, trust: LocalTrust
) -> Iterator[NatsServer]:
    """A real nats-server with JetStream on free ports and the registry's authorization."""
    server = NatsServer(
        tmp_path_factory.mktemp("nats"),
        free_port(),
        free_port(),
        extra_config=trust.nats_config_path.read_text(),
    ).start()
    yield server
    server.stop()


def postgres_available() -> str | None:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL, connect_timeout=3) as connection:
            connection.execute("SELECT 1")
        return None
    except Exception as error:
        return str(error)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The test PostgreSQL; skipped without it unless PLS_REQUIRE_POSTGRES=1 (then it fails)."""
    problem = postgres_available()
    if problem is not None:
        message = f"PostgreSQL not reachable at {POSTGRES_URL}: {problem}"
        if os.environ.get("PLS_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return POSTGRES_URL


@pytest.fixture
def pg_schema(postgres_url: str) -> Iterator[str]:
    """A fresh PostgreSQL schema for one test, dropped afterwards."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    yield schema
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(database URL, schema) on each backend, for tests that must hold on both."""
    if request.param == "sqlite":
        yield str(tmp_path / "readmodel.db"), "hub"
    else:
        schema_iter = request.getfixturevalue("pg_schema")
        yield request.getfixturevalue("postgres_url"), schema_iter

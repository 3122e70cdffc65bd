"""A thin SQL layer over SQLite files and PostgreSQL, so each read model is written once.

Statements are written with `?` placeholders and portable SQL (`INSERT ... ON CONFLICT`); for
PostgreSQL the placeholders are rewritten once per statement. A read model's rows and its tracking
position are written in one `transaction()`, which is what makes its effects exactly-once.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Protocol

Dialect = Literal["sqlite", "postgres"]


class Cursor(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any: ...
    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any: ...
    def fetchall(self) -> list[tuple[Any, ...]]: ...
    def fetchone(self) -> tuple[Any, ...] | None: ...


@lru_cache(maxsize=1024)
def _to_pyformat(sql: str) -> str:
    # `?` never appears in our SQL except as a placeholder; `%` must be doubled for psycopg.
    return sql.replace("%", "%%").replace("?", "%s")


class _PgCursor:
    """A psycopg cursor that accepts `?` placeholders."""

    def __init__(self, cursor: Any) -> None:
        self._cursor = cursor

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self._cursor.execute(_to_pyformat(sql), params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any:
        if rows:
            self._cursor.executemany(_to_pyformat(sql), rows)

    def fetchall(self) -> list[tuple[Any, ...]]:
        return list(self._cursor.fetchall())

    def fetchone(self) -> tuple[Any, ...] | None:
        row = self._cursor.fetchone()
        return tuple(row) if row is not None else None


class Database:
    """A connection source for one read model; SQLite file or PostgreSQL schema."""

    dialect: Dialect

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        raise NotImplementedError
        yield  # pragma: no cover

    @contextmanager
    def reading(self) -> Iterator[Cursor]:
        raise NotImplementedError
        yield  # pragma: no cover

    def executescript(self, statements: Sequence[str]) -> None:
        with self.transaction() as cursor:
            for statement in statements:
                cursor.execute(self.adapt_ddl(statement))

    def adapt_ddl(self, statement: str) -> str:
        return statement

    def close(self) -> None:
        pass


CACHE_MB = 64  # SQLite page cache of the writer connection, unless asked otherwise
# Page cache of each reader connection. Readers are one a thread, and queries run on up to 40
# worker threads: at 64 MB each, 20 threads reading a 391 MB database at random grew a process to
# 1.3 GB; at 8 MB each it stayed at 181 MB and read faster (the operating system's page cache
# holds the file once for all of them).
READER_CACHE_MB = 8


class SQLiteDatabase(Database):
    """SQLite in WAL mode: one writer connection, one reader connection per thread."""

    dialect: Dialect = "sqlite"

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "NORMAL",
        cache_mb: int = CACHE_MB,
        reader_cache_mb: int = READER_CACHE_MB,
    ) -> None:
        self.path = str(path)
        self._cache_kib = cache_mb * 1024
        self._reader_cache_kib = min(cache_mb, reader_cache_mb) * 1024
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._synchronous = synchronous
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._writer = self._connect(self._cache_kib)
        self._connections: list[sqlite3.Connection] = [self._writer]
        # Closing a connection another thread is using crashes the process: count users.
        self._users = threading.Condition()
        self._active = 0
        self._closed = False

    @contextmanager
    def _in_use(self) -> Iterator[None]:
        with self._users:
            if self._closed:
                raise sqlite3.ProgrammingError(f"database {self.path} is closed")
            self._active += 1
        try:
            yield
        finally:
            with self._users:
                self._active -= 1
                self._users.notify_all()

    def _connect(self, cache_kib: int) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30
        )
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute(f"PRAGMA synchronous={self._synchronous}")
        connection.execute("PRAGMA foreign_keys=OFF")
        connection.execute(f"PRAGMA cache_size=-{cache_kib}")
        connection.execute("PRAGMA temp_store=MEMORY")
        return connection

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        with self._in_use(), self._write_lock:
            cursor = self._writer.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise
            else:
                self._writer.execute("COMMIT")
            finally:
                cursor.close()

    @contextmanager
    def reading(self) -> Iterator[Cursor]:
        with self._in_use():
            connection = getattr(self._local, "connection", None)
            if connection is None:
                connection = self._connect(self._reader_cache_kib)
                self._local.connection = connection
                with self._users:
                    self._connections.append(connection)
            cursor = connection.cursor()
            cursor.execute("BEGIN")
            try:
                yield cursor
            finally:
                connection.execute("COMMIT")
                cursor.close()

    def close(self, timeout: float = 10.0) -> None:
        """Close every connection once no thread is using one (new work is refused)."""
        with self._users:
            self._closed = True
            self._users.wait_for(lambda: self._active == 0, timeout)
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.close()


_SERIAL = re.compile(r"INTEGER PRIMARY KEY AUTOINCREMENT", re.IGNORECASE)
_BLOB = re.compile(r"\bBLOB\b", re.IGNORECASE)


class PostgresDatabase(Database):
    """PostgreSQL through a psycopg pool, every connection confined to one schema."""

    dialect: Dialect = "postgres"

    def __init__(self, url: str, schema: str, *, pool_size: int = 8) -> None:
        from psycopg_pool import ConnectionPool

        if not re.fullmatch(r"[a-z_][a-z0-9_]*", schema):
            raise ValueError(f"invalid schema name {schema!r}")
        self.schema = schema
        self.url = url
        import psycopg

        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")

        def configure(connection: Any) -> None:
            connection.execute(f"SET search_path TO {schema}")
            connection.commit()

        self._pool = ConnectionPool(
            url, min_size=1, max_size=pool_size, configure=configure, open=True
        )

    def adapt_ddl(self, statement: str) -> str:
        statement = _SERIAL.sub("BIGSERIAL PRIMARY KEY", statement)
        return _BLOB.sub("BYTEA", statement)

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        with self._pool.connection() as connection, connection.cursor() as cursor:
            yield _PgCursor(cursor)

    @contextmanager
    def reading(self) -> Iterator[Cursor]:
        with self._pool.connection() as connection, connection.cursor() as cursor:
            yield _PgCursor(cursor)

    def close(self) -> None:
        self._pool.close()


class SwappableDatabase(Database):
    """A read model's database that can be replaced by another while the service runs.

    Readers and writers go through to the current one; `swap` waits until none is inside,
    holds new ones back for the moment it takes, and lets them continue on the replacement. So
    every query sees either the old read model or the new one, never neither."""

    def __init__(self, inner: Database) -> None:
        self.inner = inner
        self.dialect = inner.dialect
        self._gate = threading.Condition()
        self._users = 0
        self._swapping = False

    @contextmanager
    def _use(self) -> Iterator[Database]:
        with self._gate:
            self._gate.wait_for(lambda: not self._swapping)
            self._users += 1
            inner = self.inner
        try:
            yield inner
        finally:
            with self._gate:
                self._users -= 1
                self._gate.notify_all()

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        with self._use() as inner, inner.transaction() as cursor:
            yield cursor

    @contextmanager
    def reading(self) -> Iterator[Cursor]:
        with self._use() as inner, inner.reading() as cursor:
            yield cursor

    def adapt_ddl(self, statement: str) -> str:
        return self.inner.adapt_ddl(statement)

    def swap(self, replace: Callable[[Database], Database], timeout: float = 30.0) -> None:
        """`replace(current)` returns the database to use from now on (it may close `current`)."""
        with self._gate:
            self._gate.wait_for(lambda: not self._swapping)
            self._swapping = True
            self._gate.wait_for(lambda: self._users == 0, timeout)
        try:
            replacement = replace(self.inner)
        except BaseException:
            with self._gate:
                self._swapping = False
                self._gate.notify_all()
            raise
        with self._gate:
            self.inner = replacement
            self.dialect = replacement.dialect
            self._swapping = False
            self._gate.notify_all()

    def close(self) -> None:
        self.inner.close()


def open_database(
    url: str, *, schema: str, synchronous: str = "NORMAL", cache_mb: int = CACHE_MB
) -> Database:
    """`postgresql://...` opens PostgreSQL (in `schema`); anything else is a SQLite file path
    (with a page cache of up to `cache_mb` a connection)."""
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresDatabase(url, schema)
    path = url.removeprefix("sqlite:///").removeprefix("sqlite://")
    return SQLiteDatabase(path, synchronous=synchronous, cache_mb=cache_mb)


def eventsourcing_env(url: str, schema: str) -> dict[str, str]:
    """The `eventsourcing` persistence settings for an event store beside a read model at `url`."""
    if url.startswith(("postgresql://", "postgres://")):
        from urllib.parse import urlparse

        parsed = urlparse(url)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": parsed.path.lstrip("/") or "postgres",
            "POSTGRES_HOST": parsed.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parsed.port or 5432),
            "POSTGRES_USER": parsed.username or "postgres",
            "POSTGRES_PASSWORD": parsed.password or "",
            "POSTGRES_SCHEMA": schema,
            "CREATE_TABLE": "y",
        }
    path = url.removeprefix("sqlite:///").removeprefix("sqlite://")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": path,
        "SQLITE_LOCK_TIMEOUT": "30",
    }

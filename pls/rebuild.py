"""Rebuilding a read model beside the live one, and putting it in the live one's place.

Any read model fed by the intake can be rebuilt: its projection (`commit`/`sources`, and `reset`
to re-apply one source) is pointed at a fresh `Store` beside the live one, and a `Rebuilder`
feeds it every source's history in order: from the source's stream where it has it, and from
the province node's journal wherever the stream lacks it (purged, truncated or never there). The
result is checked against each journal's running hash. Then, in the running service,
`promote` brings it level with the live one between two batches, carries over what only the live
one knows (its dead letters and stream positions) and swaps it in under the same name: for SQLite
an atomic rename of the file, for PostgreSQL a rename of schemas in one transaction. Queries
wait the moment this takes, and are then answered from the new read model. A read model that
shares its database with what cannot be rebuilt (an event store, a publication journal) has its
tables, not the whole database, replaced in one transaction (`put_tables_in_place`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from contracts.subjects import stream_name
from pls.intake.applier import Applier, Projection
from pls.intake.backfill import JournalClient
from pls.intake.intake import Batch, Delivery, Intake, Prepared, SourceState
from pls.intake.pull import Puller, stream_sequence_of
from pls.intake.tracking import DEAD_LETTER_FIELDS, SOURCE_FIELDS, load_sources, upsert
from pls.sqlstore import CACHE_MB, Database, SwappableDatabase, open_database
from pls.trust.registry import FederationRegistry

log = structlog.get_logger(__name__)

# SQLite page cache of a read model being rebuilt: it mostly writes new pages and reads back what
# it wrote a moment ago, which the operating system's page cache holds anyway. Measured over a
# million events, 8 MB rebuilds as fast as 64 MB, and each rebuild process stays smaller.
REBUILD_CACHE_MB = 8


@dataclass(frozen=True)
class Store:
    """Where a read model lives: a SQLite file, or a schema of a PostgreSQL database."""

    url: str
    schema: str

    @property
    def is_postgres(self) -> bool:
        return self.url.startswith(("postgresql://", "postgres://"))

    @property
    def path(self) -> Path:
        return Path(self.url.removeprefix("sqlite:///").removeprefix("sqlite://"))

    def beside(self, label: str = "rebuild") -> Store:
        """The place for a read model next to this one: `<file>.<label>` or `<schema>_<label>`."""
        if self.is_postgres:
            return Store(self.url, f"{self.schema}_{label}")
        return Store(str(self.path.with_name(f"{self.path.name}.{label}")), self.schema)

    def describe(self) -> str:
        return f"schema {self.schema}" if self.is_postgres else str(self.path)

    def open(self, *, cache_mb: int = CACHE_MB) -> Database:
        return open_database(self.url, schema=self.schema, cache_mb=cache_mb)

    def exists(self) -> bool:
        if not self.is_postgres:
            return self.path.exists()
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as connection:
            row = connection.execute(
                "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", (self.schema,)
            ).fetchone()
        return row is not None

    def drop(self) -> None:
        """Delete this read model (a leftover of an earlier rebuild, say)."""
        if self.is_postgres:
            import psycopg

            _check_schema(self.schema)
            with psycopg.connect(self.url, autocommit=True) as connection:
                connection.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")
            return
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                Path(f"{self.path}{suffix}").unlink()


def _check_schema(name: str) -> None:
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise ValueError(f"invalid schema name {name!r}")


def put_in_place(live: Store, fresh: Store, *, keep_previous: bool = False) -> None:
    """The fresh read model takes the live one's name. Neither may be open while this runs.

    SQLite: the fresh file is renamed over the live one (atomic), the live one optionally kept as
    `<file>.previous`. PostgreSQL: both schema renames happen in one transaction."""
    if live.is_postgres:
        import psycopg

        previous = f"{live.schema}_previous"
        for name in (live.schema, fresh.schema, previous):
            _check_schema(name)
        with psycopg.connect(live.url) as connection, connection.transaction():
            connection.execute(f"DROP SCHEMA IF EXISTS {previous} CASCADE")
            connection.execute(f"ALTER SCHEMA {live.schema} RENAME TO {previous}")
            connection.execute(f"ALTER SCHEMA {fresh.schema} RENAME TO {live.schema}")
            if not keep_previous:
                connection.execute(f"DROP SCHEMA {previous} CASCADE")
        return
    for suffix in ("-wal", "-shm"):
        # The fresh file was closed cleanly (no journal of its own); a live one's is stale now.
        with contextlib.suppress(FileNotFoundError):
            Path(f"{live.path}{suffix}").unlink()
    if keep_previous and live.path.exists():
        os.replace(live.path, live.beside("previous").path)
    os.replace(fresh.path, live.path)


def put_tables_in_place(
    live: Store, fresh: Store, tables: Sequence[str], *, keep_previous: bool = False
) -> None:
    """The fresh read model's `tables` replace the live one's in one transaction; everything else
    in the live database (an event store, a journal) stays as it is. The fresh one is deleted.

    SQLite: the rows are copied over through an attached database (readers keep seeing the old
    rows until the commit); the replaced rows are optionally kept in `<file>.previous`.
    PostgreSQL: the tables move between schemas, the replaced ones to `<schema>_previous`."""
    for table in tables:
        _check_schema(table)
    previous = live.beside("previous")
    if live.is_postgres:
        import psycopg

        for name in (live.schema, fresh.schema, previous.schema):
            _check_schema(name)
        with psycopg.connect(live.url) as connection, connection.transaction():
            if keep_previous:
                connection.execute(f"DROP SCHEMA IF EXISTS {previous.schema} CASCADE")
                connection.execute(f"CREATE SCHEMA {previous.schema}")
            for table in tables:
                if keep_previous:
                    connection.execute(
                        f"ALTER TABLE IF EXISTS {live.schema}.{table} SET SCHEMA {previous.schema}"
                    )
                else:
                    connection.execute(f"DROP TABLE IF EXISTS {live.schema}.{table} CASCADE")
                connection.execute(f"ALTER TABLE {fresh.schema}.{table} SET SCHEMA {live.schema}")
            connection.execute(f"DROP SCHEMA {fresh.schema} CASCADE")
        return
    if keep_previous:
        previous.drop()
    database = sqlite3.connect(live.path, timeout=60, isolation_level=None)
    try:
        database.execute("ATTACH DATABASE ? AS fresh", (str(fresh.path),))
        if keep_previous:
            database.execute("ATTACH DATABASE ? AS previous", (str(previous.path),))
        database.execute("BEGIN IMMEDIATE")
        try:
            for table in tables:
                columns = ", ".join(
                    row[1] for row in database.execute(f"PRAGMA fresh.table_info({table})")
                )
                if keep_previous:
                    database.execute(f"CREATE TABLE previous.{table} AS SELECT * FROM main.{table}")
                database.execute(f"DELETE FROM main.{table}")
                database.execute(
                    f"INSERT INTO main.{table} ({columns}) SELECT {columns} FROM fresh.{table}"
                )
        except BaseException:
            database.execute("ROLLBACK")
            raise
        database.execute("COMMIT")
    finally:
        database.close()
    fresh.drop()


def split_origins(origins: Sequence[str], parts: int) -> list[list[str]]:
    """Origins dealt into at most `parts` groups, none empty, in their order (round robin)."""
    parts = max(1, min(parts, len(origins)))
    return [list(origins[i::parts]) for i in range(parts)]


def absorb_tables(fresh: Store, shard: Store, tables: Sequence[str]) -> None:
    """Add the rows of `tables` of a read model rebuilt from other origins (a shard of the same
    rebuild) to the fresh one's, in one transaction, and delete the shard. Every row of these
    tables belongs to one origin, so the two sets of rows never meet. A serial `id` column is
    left for the fresh read model to number. Neither may be written meanwhile."""
    for table in tables:
        _check_schema(table)
    if fresh.is_postgres:
        import psycopg

        for name in (fresh.schema, shard.schema):
            _check_schema(name)
        with psycopg.connect(fresh.url) as connection, connection.transaction():
            for table in tables:
                rows = connection.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = %s "
                    "AND table_name = %s ORDER BY ordinal_position",
                    (fresh.schema, table),
                ).fetchall()
                columns = ", ".join(row[0] for row in rows if row[0] != "id")
                connection.execute(
                    f"INSERT INTO {fresh.schema}.{table} ({columns}) "
                    f"SELECT {columns} FROM {shard.schema}.{table}"
                )
        shard.drop()
        return
    database = sqlite3.connect(fresh.path, timeout=60, isolation_level=None)
    try:
        database.execute("ATTACH DATABASE ? AS shard", (str(shard.path),))
        database.execute("BEGIN IMMEDIATE")
        try:
            for table in tables:
                columns = ", ".join(
                    row[1]
                    for row in database.execute(f"PRAGMA shard.table_info({table})")
                    if row[1] != "id"
                )
                database.execute(
                    f"INSERT INTO main.{table} ({columns}) SELECT {columns} FROM shard.{table}"
                )
        except BaseException:
            database.execute("ROLLBACK")
            raise
        database.execute("COMMIT")
        database.execute("DETACH DATABASE shard")
    finally:
        database.close()
    shard.drop()


def positions(db: Database) -> dict[str, SourceState]:
    return {state.origin: state for state in load_sources(db)}


def behind(live: Database, fresh: Database) -> dict[str, tuple[int, int]]:
    """Sources where the fresh read model has applied less than the live one: (fresh, live)."""
    theirs = positions(fresh)
    return {
        origin: (theirs[origin].sequence if origin in theirs else 0, state.sequence)
        for origin, state in positions(live).items()
        if (theirs[origin].sequence if origin in theirs else 0) < state.sequence
    }


def carry_over(live: Database, fresh: Database) -> None:
    """What only the live read model knows goes into the fresh one: its dead letters (a record of
    what was refused, not history that can be replayed) and how far it read each stream (where
    the fresh one has applied at least as much, every message up to there is accounted for)."""
    live_sources = positions(live)
    fresh_sources = positions(fresh)
    fields = [f for f in DEAD_LETTER_FIELDS if f != "id"]
    with live.reading() as cursor:
        cursor.execute(f"SELECT {', '.join(fields)} FROM dead_letters ORDER BY id")
        letters = cursor.fetchall()
    with fresh.transaction() as cursor:
        cursor.execute(
            "SELECT origin, stream_sequence, event_id, sequence, reason FROM dead_letters"
        )
        known = {tuple(row) for row in cursor.fetchall()}
        key = [fields.index(f) for f in ("origin", "stream_sequence", "event_id", "sequence")]
        reason = fields.index("reason")
        cursor.executemany(
            f"INSERT INTO dead_letters ({', '.join(fields)}) VALUES ({', '.join('?' * len(fields))})",
            [tuple(row) for row in letters if (*(row[i] for i in key), row[reason]) not in known],
        )
        for origin, state in live_sources.items():
            mine = fresh_sources.get(origin)
            if mine is None or mine.sequence < state.sequence:
                continue
            position = max(mine.stream_position, state.stream_position)
            cursor.execute(
                upsert("sources", SOURCE_FIELDS, ("origin",)),
                tuple(
                    position if f == "stream_position" else getattr(mine, f) for f in SOURCE_FIELDS
                ),
            )


@dataclass
class Progress:
    """How far a rebuild got: events (by sequence) applied of those the journals held."""

    origin: str
    done: int
    total: int
    source: str


class Rebuilder:
    """Feeds every source's history, in order, into a projection over a fresh read model."""

    def __init__(
        self,
        projection: Projection,
        origins: list[str],
        *,
        journal: JournalClient | None = None,
        bus: Client | None = None,
        batch_size: int = 1000,
        page_size: int = 1000,
        interested_in: Callable[[str], bool] | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        registry: FederationRegistry | None = None,
        finish_bulk_load: bool = True,
    ) -> None:
        self.projection = projection
        self.finish_bulk_load = finish_bulk_load
        self.origins = origins
        self.journal = journal
        self.bus = bus
        self.js = bus.jetstream(timeout=30) if bus is not None else None
        self.batch_size = batch_size
        self.page_size = page_size
        self.on_progress = on_progress
        self.intake = Intake(
            projection.sources(),
            max_held=10,
            interested_in=interested_in,
            verify_doubtful=journal is not None,
            registry=registry,
        )
        self.heads: dict[str, int] = {}
        self.verified: dict[str, bool] = {}
        self.read_from: dict[str, dict[str, int]] = {}
        self._writing: asyncio.Task[None] | None = None

    @property
    def total(self) -> int:
        return sum(self.heads.values())

    def done(self) -> int:
        return sum(min(self.sequence(o), self.heads.get(o, 0)) for o in self.heads)

    def sequence(self, origin: str) -> int:
        return self.intake.latest(origin).sequence

    async def run(self) -> dict[str, SourceState]:
        """Rebuild every source up to its journal's head as it was when the rebuild started."""
        for origin in self.origins:
            if self.journal is not None and self.journal.knows(origin):
                self.heads[origin] = (await self.journal.head(origin)).sequence
        # A projection that keeps views derived from its other tables (pre-aggregated counts)
        # may make them once at the end of a bulk load instead of batch by batch.
        begin = getattr(self.projection, "begin_bulk_load", None)
        end = getattr(self.projection, "end_bulk_load", None) if self.finish_bulk_load else None
        if begin is not None:
            await asyncio.to_thread(begin)
        for origin in self.origins:
            await self.rebuild(origin)
        if end is not None:
            await asyncio.to_thread(end)
        return dict(self.intake.sources)

    async def rebuild(self, origin: str) -> None:
        self.read_from[origin] = {"stream": 0, "journal": 0}
        if self.js is not None:
            await self._from_stream(origin)
        if self.journal is not None and self.journal.knows(origin):
            await self._from_journal(origin, through=self.heads.get(origin))
            await self._commit(origin, "journal")
            reset = getattr(self.projection, "reset", None)
            if not await self._verify(origin) and reset is not None:
                # The stream held something else than the province published: the journal only.
                log.warning(
                    "stream history differs from the journal; using it alone", origin=origin
                )
                self.intake.forget(await asyncio.to_thread(reset, origin))
                await self._from_journal(origin, through=self.heads.get(origin))
                await self._verify(origin)
        await self._commit(origin, "journal")

    async def catch_up(self, targets: dict[str, int]) -> dict[str, int]:
        """Bring every source to at least `targets[origin]` (from the journals); what is left."""
        for origin, target in targets.items():
            if self.sequence(origin) < target and self.journal and self.journal.knows(origin):
                await self._from_journal(origin, through=None)
                await self._commit(origin, "journal")
        return {o: t for o, t in targets.items() if self.sequence(o) < t}

    async def _verify(self, origin: str) -> bool:
        assert self.journal is not None
        state = self.intake.latest(origin)
        head = await self.journal.head(origin, at=state.sequence)
        self.verified[origin] = head.at_hash == state.running_hash
        return self.verified[origin]

    async def _from_stream(self, origin: str) -> None:
        assert self.js is not None
        stream = stream_name(origin)
        try:
            info = await self.js.stream_info(stream)
        except NotFoundError:
            return
        last = info.state.last_seq
        if not info.state.messages:
            return
        durable = f"rebuild-{uuid.uuid4().hex[:12]}"
        await self.js.add_consumer(
            stream,
            ConsumerConfig(
                durable_name=durable,
                ack_policy=AckPolicy.NONE,
                deliver_policy=DeliverPolicy.ALL,
                inactive_threshold=300,
            ),
        )
        assert self.bus is not None
        puller = Puller(self.bus, stream, durable, batch=self.page_size)
        try:
            await puller.start()
            position = 0
            while position < last:
                messages = await puller.next(timeout=2.0)
                if not messages:
                    break
                deliveries = []
                for message in messages:
                    position = stream_sequence_of(message.reply)
                    if position > last:
                        break
                    deliveries.append(
                        Delivery(origin, message.subject, message.data, stream_sequence=position)
                    )
                for delivery, prepared in zip(
                    deliveries, self.intake.prepare_batch(deliveries), strict=True
                ):
                    await self._offer(delivery, prepared)
                self.read_from[origin]["stream"] += len(deliveries)
                await self._commit_if_full(origin, "stream")
        finally:
            await puller.stop()
            with contextlib.suppress(Exception):
                await self.js.delete_consumer(stream, durable)

    async def _offer(self, delivery: Delivery, prepared: Prepared | None = None) -> None:
        self.intake.offer(delivery, prepared)
        for gap in self.intake.gaps():
            if gap.origin != delivery.origin or self.journal is None:
                continue
            if not self.journal.knows(gap.origin):
                continue
            # The stream skips here: the journal has what is missing (or says it never existed).
            head = await self._from_journal(
                gap.origin, through=gap.expected - 1 + max(1, gap.missing)
            )
            if head is not None:
                self.intake.refuse_beyond(gap.origin, head)

    async def _from_journal(self, origin: str, *, through: int | None) -> int | None:
        """Apply the journal's events after what is applied (through `through`, or to its end);
        returns the journal's head as last read."""
        assert self.journal is not None
        head = None
        while True:
            after = self.sequence(origin)
            if through is not None and after >= through:
                break
            limit = self.page_size if through is None else min(self.page_size, through - after)
            page = await self.journal.page(origin, after, limit)
            head = page.head
            for delivery, prepared in zip(
                page.deliveries, self.intake.prepare_batch(page.deliveries), strict=True
            ):
                self.intake.offer(delivery, prepared)
            counts = self.read_from.setdefault(origin, {"stream": 0, "journal": 0})
            counts["journal"] += len(page.deliveries)
            await self._commit_if_full(origin, "journal")
            if not page.deliveries or self.sequence(origin) >= page.head:
                break
        return head

    async def _commit_if_full(self, origin: str, source: str) -> None:
        """Write a full batch; the next page is read and offered while it is written."""
        if self.intake.pending() >= self.batch_size:
            await self._commit(origin, source, wait=False)

    async def _commit(self, origin: str, source: str, *, wait: bool = True) -> None:
        """Write what is ready after the batch still being written (if any); with `wait`, only
        return once everything is written."""
        await self._written()
        batch = self.intake.take()
        if batch:
            self._writing = asyncio.create_task(self._write(batch))
            if wait:
                await self._written()
        self._progress(origin, source)

    async def _write(self, batch: Batch) -> None:
        await asyncio.to_thread(self.projection.commit, batch)
        self.intake.committed(batch)

    async def _written(self) -> None:
        writing, self._writing = self._writing, None
        if writing is not None:
            await writing

    def _progress(self, origin: str, source: str) -> None:
        if self.on_progress is not None:
            self.on_progress(Progress(origin, self.done(), self.total, source))


def promote_in_place(
    db: SwappableDatabase, live: Store, fresh: Store, *, keep_previous: bool = False
) -> None:
    """In a running service: the fresh read model (closed) replaces the live one under its name;
    queries wait for the moment this takes and then read the new one."""

    def replace(current: Database) -> Database:
        current.close()
        put_in_place(live, fresh, keep_previous=keep_previous)
        return live.open()

    db.swap(replace)


class RebuildMissing(LookupError):
    """There is no rebuilt read model to swap in."""


class RebuildBehind(RuntimeError):
    """The rebuilt read model has applied less than the live one and could not catch up."""

    def __init__(self, short: dict[str, tuple[int, int]]) -> None:
        self.short = short
        super().__init__(
            "the rebuilt read model is behind the live one for "
            + ", ".join(f"{o} ({mine} < {live})" for o, (mine, live) in sorted(short.items()))
        )


async def promote(
    applier: Applier,
    live: Database,
    fresh: Store,
    projection_over: Callable[[Database], Projection],
    put: Callable[[], None],
    *,
    origins: list[str],
    journal: JournalClient,
    interested_in: Callable[[str], bool] | None = None,
    settle: Callable[[Database], None] | None = None,
) -> dict[str, int]:
    """In a running service, between two batches of its applier: the read model rebuilt at
    `fresh` is brought level with the live one from the journals, takes over the live one's dead
    letters and stream positions, is `settle`d (given what it takes from elsewhere than the
    sources), and `put` in the live one's place; the applier resumes from its positions.
    Returns each source's sequence."""
    if not await asyncio.to_thread(fresh.exists):
        raise RebuildMissing(f"no rebuilt read model at {fresh.describe()}")

    async def swap() -> dict[str, int]:
        fresh_db = await asyncio.to_thread(fresh.open)
        try:
            rebuilder = Rebuilder(
                projection_over(fresh_db), origins, journal=journal, interested_in=interested_in
            )
            await rebuilder.catch_up({o: s.sequence for o, s in applier.intake.sources.items()})
            short = await asyncio.to_thread(behind, live, fresh_db)
            if short:
                raise RebuildBehind(short)
            await asyncio.to_thread(carry_over, live, fresh_db)
            if settle is not None:
                await asyncio.to_thread(settle, fresh_db)
        finally:
            await asyncio.to_thread(fresh_db.close)
        await asyncio.to_thread(put)
        await applier.reload()
        return {o: s.sequence for o, s in applier.intake.sources.items()}

    return await applier.exclusively(swap)


def summary(rebuilder: Rebuilder) -> dict[str, Any]:
    return {
        "sources": {
            origin: {
                "sequence": rebuilder.sequence(origin),
                "head": rebuilder.heads.get(origin),
                "verified": rebuilder.verified.get(origin),
                **rebuilder.read_from.get(origin, {}),
            }
            for origin in rebuilder.origins
        }
    }

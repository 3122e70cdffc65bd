"""Tracking: each source's position and running hash, and the dead letters, beside a read model.

A read model writes these rows in the same transaction as its own, so after a crash it resumes
exactly where its rows end: nothing lost, nothing counted twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pls.intake.intake import DeadLetter, SourceState
from pls.sqlstore import Cursor, Database

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS sources (
        origin TEXT PRIMARY KEY, sequence BIGINT NOT NULL, running_hash TEXT NOT NULL,
        last_event_time TEXT, last_applied_at TEXT, applied BIGINT NOT NULL,
        duplicates BIGINT NOT NULL, dead_letters BIGINT NOT NULL, stream_position BIGINT NOT NULL,
        checkpoint_sequence BIGINT, checkpoint_status TEXT NOT NULL, checkpoint_at TEXT,
        diverged_at BIGINT)""",
    """CREATE TABLE IF NOT EXISTS dead_letters (
        id INTEGER PRIMARY KEY AUTOINCREMENT, received_at TEXT NOT NULL, origin TEXT,
        subject TEXT, stream_sequence BIGINT, event_id TEXT, sequence BIGINT,
        reason TEXT NOT NULL, body BLOB NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS dead_letters_origin ON dead_letters (origin, id)",
]
TABLES = ("sources", "dead_letters")

SOURCE_FIELDS = (
    "origin",
    "sequence",
    "running_hash",
    "last_event_time",
    "last_applied_at",
    "applied",
    "duplicates",
    "dead_letters",
    "stream_position",
    "checkpoint_sequence",
    "checkpoint_status",
    "checkpoint_at",
    "diverged_at",
)
DEAD_LETTER_FIELDS = (
    "id",
    "received_at",
    "origin",
    "subject",
    "stream_sequence",
    "event_id",
    "sequence",
    "reason",
    "body",
)


def upsert(
    table: str, columns: Iterable[str], key: Iterable[str], *, add: Iterable[str] = ()
) -> str:
    """INSERT ... ON CONFLICT: `add` columns are summed into the row, the others replaced."""
    columns, key, add = list(columns), list(key), set(add)
    updates = [
        f"{c} = {table}.{c} + excluded.{c}" if c in add else f"{c} = excluded.{c}"
        for c in columns
        if c not in key
    ]
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {', '.join(updates)}"
    )


def load_sources(db: Database) -> list[SourceState]:
    with db.reading() as cursor:
        cursor.execute(f"SELECT {', '.join(SOURCE_FIELDS)} FROM sources")
        rows = cursor.fetchall()
    return [SourceState(**dict(zip(SOURCE_FIELDS, row, strict=True))) for row in rows]


def reset_source(cursor: Cursor, origin: str) -> SourceState:
    """`origin` starts again from sequence 0, keeping how far its stream was read."""
    cursor.execute("SELECT stream_position FROM sources WHERE origin = ?", (origin,))
    row = cursor.fetchone()
    state = SourceState(origin, stream_position=int(row[0]) if row else 0)
    cursor.execute(
        upsert("sources", SOURCE_FIELDS, ("origin",)),
        tuple(getattr(state, f) for f in SOURCE_FIELDS),
    )
    return state


def write_tracking(
    cursor: Cursor, dead_letters: Iterable[DeadLetter], sources: Iterable[SourceState]
) -> None:
    now = datetime.now(UTC).isoformat()
    cursor.executemany(
        "INSERT INTO dead_letters (received_at, origin, subject, stream_sequence, event_id, "
        "sequence, reason, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (now, d.origin, d.subject, d.stream_sequence, d.event_id, d.sequence, d.reason, d.body)
            for d in dead_letters
        ],
    )
    cursor.executemany(
        upsert("sources", SOURCE_FIELDS, ("origin",)),
        [tuple(getattr(s, f) for f in SOURCE_FIELDS) for s in sources],
    )


def list_dead_letters(
    db: Database, origin: str | None, offset: int, limit: int
) -> tuple[int, list[dict[str, Any]]]:
    where, params = (" WHERE origin = ?", [origin]) if origin else ("", [])
    with db.reading() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM dead_letters{where}", params)
        total = int(cursor.fetchone()[0])  # type: ignore[index]
        cursor.execute(
            f"SELECT {', '.join(DEAD_LETTER_FIELDS)} FROM dead_letters{where} "
            "ORDER BY id DESC LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        rows = cursor.fetchall()
    return total, [dict(zip(DEAD_LETTER_FIELDS, row, strict=True)) for row in rows]

"""The publication journal: every integration event exactly as published, and how far each reader got.

`journal` holds the events numbered by the contiguous per-source sequence and chained by the
running hash; `tracking` records how far the notification log has been projected and how far the
relay has published, each in the same transaction as the rows it describes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from contracts.envelope import CONTENT_TYPE
from pls.sqlstore import Cursor, Database

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS journal (
        sequence BIGINT PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, subject TEXT NOT NULL,
        type TEXT NOT NULL, body BLOB NOT NULL, running_hash TEXT NOT NULL,
        recorded_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS tracking (
        name TEXT PRIMARY KEY, position BIGINT NOT NULL, updated_at TEXT NOT NULL)""",
]

PROJECTION = "publication"
RELAY = "relay"
ZERO_HASH = "0" * 64


@dataclass(frozen=True)
class JournalEntry:
    sequence: int
    event_id: str
    subject: str
    type: str
    body: bytes
    running_hash: str


class Journal:
    """Reads and writes of the journal and the tracking positions, in a service's own database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.executescript(SCHEMA)

    def position(self, name: str) -> int:
        with self.db.reading() as cursor:
            cursor.execute("SELECT position FROM tracking WHERE name = ?", (name,))
            row = cursor.fetchone()
        return int(row[0]) if row else 0

    @staticmethod
    def save_position(cursor: Cursor, name: str, position: int) -> None:
        cursor.execute(
            "INSERT INTO tracking (name, position, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (name) DO UPDATE SET position = excluded.position, "
            "updated_at = excluded.updated_at",
            (name, position, datetime.now(UTC).isoformat()),
        )

    def journal_hash_at(self, sequence: int) -> str | None:
        """The running hash through `sequence`, if the journal reaches it (zero hash at 0)."""
        if sequence == 0:
            return ZERO_HASH
        with self.db.reading() as cursor:
            cursor.execute("SELECT running_hash FROM journal WHERE sequence = ?", (sequence,))
            row = cursor.fetchone()
        return str(row[0]) if row else None

    def journal_head(self) -> tuple[int, str]:
        """The last sequence in the journal and the running hash through it."""
        with self.db.reading() as cursor:
            cursor.execute(
                "SELECT sequence, running_hash FROM journal ORDER BY sequence DESC LIMIT 1"
            )
            row = cursor.fetchone()
        return (int(row[0]), str(row[1])) if row else (0, ZERO_HASH)

    def journal_after(self, sequence: int, limit: int) -> list[JournalEntry]:
        with self.db.reading() as cursor:
            cursor.execute(
                "SELECT sequence, event_id, subject, type, body, running_hash FROM journal "
                "WHERE sequence > ? ORDER BY sequence LIMIT ?",
                (sequence, limit),
            )
            rows = cursor.fetchall()
        return [JournalEntry(int(r[0]), r[1], r[2], r[3], bytes(r[4]), r[5]) for r in rows]

    def last_sequence_of_type(self, type_name: str) -> int:
        with self.db.reading() as cursor:
            cursor.execute("SELECT MAX(sequence) FROM journal WHERE type = ?", (type_name,))
            row = cursor.fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    @staticmethod
    def append(cursor: Cursor, rows: list[tuple[Any, ...]]) -> None:
        cursor.executemany(
            "INSERT INTO journal (sequence, event_id, subject, type, body, running_hash, recorded_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


class JournalReader(Protocol):
    def journal_after(self, after: int, limit: int) -> list[JournalEntry]: ...

    def journal_head(self) -> tuple[int, str]: ...


def journal_page(reader: JournalReader, after: int, limit: int) -> bytes:
    """One page of `GET /v1/journal`: events above `after`, in sequence order, each exactly as
    published (their bytes are joined, never parsed again), with the head and where to go on."""
    entries = reader.journal_after(after, limit)
    head, _ = reader.journal_head()
    next_after = entries[-1].sequence if entries else after
    return (
        b'{"head":'
        + str(head).encode()
        + b',"next_after":'
        + str(next_after).encode()
        + b',"content_type":"'
        + CONTENT_TYPE.encode()
        + b'","events":['
        + b",".join(entry.body for entry in entries)
        + b"]}"
    )

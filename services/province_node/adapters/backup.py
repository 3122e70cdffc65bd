"""Backups of a province node's SQLite database: event store, views and journal in one file.

`backup` uses SQLite's online backup API, so it is consistent while the node runs and writes.
`restore` puts a backup in place of the node's database (the node must be stopped); what was
there is kept beside it first. A restored node has the journal it had when the backup was made:
its relay publishes again from the position saved then, consumers drop what they already have,
and a consumer that applied more than the restored journal holds sees that it is past the
journal's end and re-applies the province from it.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


class BackupError(RuntimeError):
    """The backup could not be made, or the file is not a usable node backup."""


@dataclass(frozen=True)
class BackupReport:
    path: Path
    bytes: int
    journal_sequence: int
    notifications: int
    relay_position: int


def _describe(path: Path) -> BackupReport:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        (check,) = connection.execute("PRAGMA quick_check").fetchone()
        if check != "ok":
            raise BackupError(f"{path} fails its integrity check: {check}")
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        if "journal" not in tables or "tracking" not in tables:
            raise BackupError(f"{path} is not a province node database (no journal)")
        journal = connection.execute("SELECT COALESCE(MAX(sequence), 0) FROM journal").fetchone()
        relay = connection.execute("SELECT position FROM tracking WHERE name = 'relay'").fetchone()
        notifications = (0,)
        for table in ("stored_events", "events"):
            if table in tables:
                notifications = connection.execute(
                    f"SELECT COALESCE(MAX(rowid), 0) FROM {table}"
                ).fetchone()
                break
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{path} is not a readable SQLite database: {error}") from None
    finally:
        connection.close()
    return BackupReport(
        path=path,
        bytes=path.stat().st_size,
        journal_sequence=int(journal[0]),
        notifications=int(notifications[0]),
        relay_position=int(relay[0]) if relay else 0,
    )


def _copy(source: sqlite3.Connection, target_path: Path) -> None:
    target = sqlite3.connect(target_path)
    try:
        source.backup(target)  # all pages in one step: one consistent snapshot
        target.execute("PRAGMA journal_mode=DELETE")  # a backup is one self-contained file
    except sqlite3.DatabaseError as error:
        target.close()
        target_path.unlink(missing_ok=True)
        raise BackupError(f"cannot copy the database: {error}") from None
    finally:
        target.close()


def backup(database: Path, to: Path) -> BackupReport:
    """Write a consistent copy of the node's database to `to` (atomically: never half a file)."""
    if not database.exists():
        raise BackupError(f"no node database at {database}")
    to.parent.mkdir(parents=True, exist_ok=True)
    partial = to.with_name(f"{to.name}.partial")
    partial.unlink(missing_ok=True)
    source = sqlite3.connect(database, timeout=30)
    try:
        _copy(source, partial)
    finally:
        source.close()
    report = _describe(partial)
    partial.replace(to)
    return BackupReport(
        to, report.bytes, report.journal_sequence, report.notifications, report.relay_position
    )


def restore(backup_file: Path, database: Path) -> tuple[BackupReport, Path | None]:
    """Replace the (stopped) node's database with `backup_file`; returns where the replaced
    database was kept."""
    report = _describe(backup_file)
    kept = None
    if database.exists():
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        kept = database.with_name(f"{database.name}.replaced-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                shutil.copy2(f"{database}{suffix}", f"{kept}{suffix}")
    database.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{database}{suffix}").unlink()
    partial = database.with_name(f"{database.name}.restoring")
    partial.unlink(missing_ok=True)
    source = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
    try:
        _copy(source, partial)
    finally:
        source.close()
    partial.replace(database)
    connection = sqlite3.connect(database)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()
    return report, kept

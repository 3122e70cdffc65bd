"""The node's local read model and publication journal, in the same database as its event store.

`cases`, `agencies`, `personnel` and `complaints` answer the node's list and statistics queries;
`journal` holds every integration event exactly as published, numbered by the contiguous per-source
sequence and chained by the running hash; `tracking` records how far the notification log has been
projected, in the same transaction as the rows it produced.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pls.sqlstore import Database

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS cases (
        id TEXT PRIMARY KEY, service_type TEXT NOT NULL, channel TEXT NOT NULL,
        platform_level TEXT, county TEXT NOT NULL, status TEXT NOT NULL, outcome TEXT,
        rejection_reason TEXT, agency_id TEXT, person_id TEXT, applicant_id TEXT NOT NULL,
        categories TEXT NOT NULL, detained INTEGER NOT NULL, received_at TEXT NOT NULL,
        updated_at TEXT NOT NULL, decided_at TEXT, concluded_at TEXT, rating_overall INTEGER,
        callback_result TEXT, transferred_to TEXT)""",
    "CREATE INDEX IF NOT EXISTS cases_status ON cases (status, received_at)",
    "CREATE INDEX IF NOT EXISTS cases_service ON cases (service_type, received_at)",
    "CREATE INDEX IF NOT EXISTS cases_county ON cases (county, received_at)",
    "CREATE INDEX IF NOT EXISTS cases_received ON cases (received_at)",
    """CREATE TABLE IF NOT EXISTS case_ratings (
        case_id TEXT NOT NULL, version INTEGER NOT NULL, overall INTEGER NOT NULL,
        attitude INTEGER NOT NULL, efficiency INTEGER NOT NULL, competence INTEGER NOT NULL,
        rated_at TEXT NOT NULL, PRIMARY KEY (case_id, version))""",
    """CREATE TABLE IF NOT EXISTS agencies (
        id TEXT PRIMARY KEY, agency_type TEXT NOT NULL, name TEXT NOT NULL, licence_number TEXT,
        county TEXT NOT NULL, licence_status TEXT NOT NULL, closed INTEGER NOT NULL,
        registered_at TEXT NOT NULL, updated_at TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS agencies_type ON agencies (agency_type, county)",
    """CREATE TABLE IF NOT EXISTS personnel (
        agency_id TEXT NOT NULL, person_id TEXT NOT NULL, name TEXT NOT NULL, role TEXT NOT NULL,
        licence_number TEXT, PRIMARY KEY (agency_id, person_id))""",
    """CREATE TABLE IF NOT EXISTS complaints (
        id TEXT PRIMARY KEY, against TEXT NOT NULL, agency_id TEXT, person_id TEXT,
        category TEXT NOT NULL, channel TEXT NOT NULL, status TEXT NOT NULL,
        received_at TEXT NOT NULL, updated_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS journal (
        sequence BIGINT PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, subject TEXT NOT NULL,
        type TEXT NOT NULL, body BLOB NOT NULL, running_hash TEXT NOT NULL,
        recorded_at TEXT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS tracking (
        name TEXT PRIMARY KEY, position BIGINT NOT NULL, updated_at TEXT NOT NULL)""",
]

PROJECTION = "publication"
RELAY = "relay"

CASE_COLUMNS = (
    "id",
    "service_type",
    "channel",
    "platform_level",
    "county",
    "status",
    "outcome",
    "rejection_reason",
    "agency_id",
    "person_id",
    "applicant_id",
    "categories",
    "detained",
    "received_at",
    "updated_at",
    "decided_at",
    "concluded_at",
    "rating_overall",
    "callback_result",
    "transferred_to",
)


@dataclass(frozen=True)
class JournalEntry:
    sequence: int
    event_id: str
    subject: str
    type: str
    body: bytes
    running_hash: str


@dataclass(frozen=True)
class CaseFilter:
    status: str | None = None
    service_type: str | None = None
    channel: str | None = None
    county: str | None = None
    received_from: str | None = None
    received_to: str | None = None

    def where(self) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for column in ("status", "service_type", "channel", "county"):
            value = getattr(self, column)
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if self.received_from is not None:
            clauses.append("received_at >= ?")
            params.append(self.received_from)
        if self.received_to is not None:
            clauses.append("received_at < ?")
            params.append(self.received_to)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


class NodeViews:
    """Reads of the node's read model and journal."""

    def __init__(self, db: Database) -> None:
        self.db = db
        db.executescript(SCHEMA)

    # -- positions -----------------------------------------------------------------------------

    def position(self, name: str) -> int:
        with self.db.reading() as cursor:
            cursor.execute("SELECT position FROM tracking WHERE name = ?", (name,))
            row = cursor.fetchone()
        return int(row[0]) if row else 0

    def save_position(self, name: str, position: int) -> None:
        with self.db.transaction() as cursor:
            cursor.execute(
                "INSERT INTO tracking (name, position, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET position = excluded.position, "
                "updated_at = excluded.updated_at",
                (name, position, datetime.now(UTC).isoformat()),
            )

    def journal_head(self) -> tuple[int, str]:
        """The last sequence in the journal and the running hash through it."""
        with self.db.reading() as cursor:
            cursor.execute(
                "SELECT sequence, running_hash FROM journal ORDER BY sequence DESC LIMIT 1"
            )
            row = cursor.fetchone()
        return (int(row[0]), str(row[1])) if row else (0, "0" * 64)

    def journal_hash_at(self, sequence: int) -> str | None:
        """The running hash through `sequence`, if the journal reaches it (zero hash at 0)."""
        if sequence == 0:
            return "0" * 64
        with self.db.reading() as cursor:
            cursor.execute("SELECT running_hash FROM journal WHERE sequence = ?", (sequence,))
            row = cursor.fetchone()
        return str(row[0]) if row else None

    def journal_after(self, sequence: int, limit: int) -> list[JournalEntry]:
        with self.db.reading() as cursor:
            cursor.execute(
                "SELECT sequence, event_id, subject, type, body, running_hash FROM journal "
                "WHERE sequence > ? ORDER BY sequence LIMIT ?",
                (sequence, limit),
            )
            rows = cursor.fetchall()
        return [JournalEntry(int(r[0]), r[1], r[2], r[3], bytes(r[4]), r[5]) for r in rows]

    # -- cases ---------------------------------------------------------------------------------

    def list_cases(
        self, where: CaseFilter, *, offset: int, limit: int
    ) -> tuple[int, list[dict[str, Any]]]:
        clause, params = where.where()
        with self.db.reading() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM cases{clause}", params)
            total = int(cursor.fetchone()[0])  # type: ignore[index]
            cursor.execute(
                f"SELECT {', '.join(CASE_COLUMNS)} FROM cases{clause} "
                "ORDER BY received_at DESC, id LIMIT ? OFFSET ?",
                [*params, limit, offset],
            )
            rows = cursor.fetchall()
        return total, [dict(zip(CASE_COLUMNS, row, strict=True)) for row in rows]

    def case_statistics(self, where: CaseFilter) -> dict[str, Any]:
        clause, params = where.where()
        stats: dict[str, Any] = {}
        with self.db.reading() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM cases{clause}", params)
            stats["total"] = int(cursor.fetchone()[0])  # type: ignore[index]
            for column in ("status", "service_type", "channel", "outcome"):
                cursor.execute(
                    f"SELECT {column}, COUNT(*) FROM cases{clause} GROUP BY {column}", params
                )
                stats[f"by_{column}"] = {
                    key: int(n) for key, n in cursor.fetchall() if key is not None
                }
            rating_clause = clause.replace(" WHERE ", " AND ") if clause else ""
            cursor.execute(
                "SELECT COUNT(*), COALESCE(SUM(r.overall), 0), "
                "COALESCE(SUM(CASE WHEN r.overall >= 4 THEN 1 ELSE 0 END), 0) "
                "FROM case_ratings r JOIN cases ON cases.id = r.case_id WHERE 1 = 1"
                + rating_clause,
                params,
            )
            count, total_score, satisfied = cursor.fetchone()  # type: ignore[misc]
        stats["ratings"] = {
            "count": int(count),
            "overall_sum": int(total_score),
            "satisfied": int(satisfied),
        }
        return stats

    # -- agencies and complaints ---------------------------------------------------------------

    def list_agencies(
        self, *, agency_type: str | None, county: str | None, offset: int, limit: int
    ) -> tuple[int, list[dict[str, Any]]]:
        columns = (
            "id",
            "agency_type",
            "name",
            "licence_number",
            "county",
            "licence_status",
            "closed",
            "registered_at",
            "updated_at",
        )
        clauses, params = [], []
        if agency_type:
            clauses.append("agency_type = ?")
            params.append(agency_type)
        if county:
            clauses.append("county = ?")
            params.append(county)
        clause = " WHERE " + " AND ".join(clauses) if clauses else ""
        with self.db.reading() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM agencies{clause}", params)
            total = int(cursor.fetchone()[0])  # type: ignore[index]
            cursor.execute(
                f"SELECT {', '.join(columns)} FROM agencies{clause} ORDER BY name, id LIMIT ? OFFSET ?",
                [*params, limit, offset],
            )
            rows = cursor.fetchall()
        return total, [dict(zip(columns, row, strict=True)) for row in rows]

    def list_complaints(
        self, *, status: str | None, offset: int, limit: int
    ) -> tuple[int, list[dict[str, Any]]]:
        columns = (
            "id",
            "against",
            "agency_id",
            "person_id",
            "category",
            "channel",
            "status",
            "received_at",
            "updated_at",
        )
        clause, params = ("", []) if status is None else (" WHERE status = ?", [status])
        with self.db.reading() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM complaints{clause}", params)
            total = int(cursor.fetchone()[0])  # type: ignore[index]
            cursor.execute(
                f"SELECT {', '.join(columns)} FROM complaints{clause} "
                "ORDER BY received_at DESC, id LIMIT ? OFFSET ?",
                [*params, limit, offset],
            )
            rows = cursor.fetchall()
        return total, [dict(zip(columns, row, strict=True)) for row in rows]

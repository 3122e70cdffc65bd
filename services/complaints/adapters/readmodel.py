"""The supervision read model in SQLite or PostgreSQL: complaints, their deadlines, callbacks,
the services each province and agency delivered, and the sources' positions.

Rows change only inside the projection's transaction, together with the sources' positions, so
each province event changes them exactly once. Times are stored as fixed-width UTC text, so text
order is time order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pls.intake import tracking
from pls.intake.intake import SourceState
from pls.sqlstore import Cursor, Database

SCHEMA = [
    *tracking.SCHEMA,
    """CREATE TABLE IF NOT EXISTS complaints (
        key TEXT PRIMARY KEY, province TEXT NOT NULL, complaint_id TEXT NOT NULL,
        against TEXT NOT NULL, agency_id TEXT, person_id TEXT, service_type TEXT,
        category TEXT NOT NULL, channel TEXT NOT NULL, status TEXT NOT NULL,
        round INTEGER NOT NULL, received_at TEXT NOT NULL, accepted_at TEXT, resolved_at TEXT,
        outcome TEXT, finding TEXT, days_to_resolve REAL, credit TEXT NOT NULL,
        credit_round INTEGER, updated_at TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS complaints_agency ON complaints (agency_id, province)",
    "CREATE INDEX IF NOT EXISTS complaints_credit ON complaints (credit)",
    """CREATE TABLE IF NOT EXISTS deadlines (
        key TEXT PRIMARY KEY, kind TEXT NOT NULL, province TEXT NOT NULL,
        subject_id TEXT NOT NULL, rule_id TEXT NOT NULL, phase TEXT NOT NULL,
        round INTEGER NOT NULL, against TEXT, agency_id TEXT, category TEXT, service_type TEXT,
        started_at TEXT NOT NULL, due_at TEXT NOT NULL, escalate_at TEXT, done_at TEXT,
        met INTEGER, missed_recorded INTEGER NOT NULL, escalation_level INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS deadlines_due ON deadlines (done_at, due_at)",
    "CREATE INDEX IF NOT EXISTS deadlines_subject ON deadlines (province, subject_id)",
    """CREATE TABLE IF NOT EXISTS cases (
        key TEXT PRIMARY KEY, province TEXT NOT NULL, case_id TEXT NOT NULL,
        service_type TEXT NOT NULL, agency_id TEXT, round INTEGER NOT NULL,
        callback_round INTEGER)""",
    """CREATE TABLE IF NOT EXISTS services (
        province TEXT NOT NULL, agency_id TEXT NOT NULL, n BIGINT NOT NULL,
        PRIMARY KEY (province, agency_id))""",
    """CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)""",
]

COMPLAINT_FIELDS = (
    "key",
    "province",
    "complaint_id",
    "against",
    "agency_id",
    "person_id",
    "service_type",
    "category",
    "channel",
    "status",
    "round",
    "received_at",
    "accepted_at",
    "resolved_at",
    "outcome",
    "finding",
    "days_to_resolve",
    "credit",
    "credit_round",
    "updated_at",
)
DEADLINE_FIELDS = (
    "key",
    "kind",
    "province",
    "subject_id",
    "rule_id",
    "phase",
    "round",
    "against",
    "agency_id",
    "category",
    "service_type",
    "started_at",
    "due_at",
    "escalate_at",
    "done_at",
    "met",
    "missed_recorded",
    "escalation_level",
)
CASE_FIELDS = ("key", "province", "case_id", "service_type", "agency_id", "round", "callback_round")


def stamp(moment: datetime) -> str:
    """Fixed-width UTC text, so that comparing the text compares the times."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def key_of(province: str, subject_id: str) -> str:
    return f"{province}:{subject_id}"


@dataclass
class Row:
    """A row read inside a transaction, changed in place and written back."""

    values: dict[str, Any]

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def __setitem__(self, name: str, value: Any) -> None:
        self.values[name] = value


class SupervisionReadModel:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.executescript(SCHEMA)

    def sources(self) -> list[SourceState]:
        return tracking.load_sources(self.db)

    # -- rows, inside the projection's transaction -----------------------------------------------

    @staticmethod
    def _one(cursor: Cursor, table: str, fields: Sequence[str], key: str) -> Row | None:
        cursor.execute(f"SELECT {', '.join(fields)} FROM {table} WHERE key = ?", (key,))
        found = cursor.fetchone()
        return Row(dict(zip(fields, found, strict=True))) if found else None

    @staticmethod
    def _put(cursor: Cursor, table: str, fields: Sequence[str], row: Row) -> None:
        cursor.execute(
            tracking.upsert(table, fields, ("key",)), [row.values.get(f) for f in fields]
        )

    def complaint(self, cursor: Cursor, key: str) -> Row | None:
        return self._one(cursor, "complaints", COMPLAINT_FIELDS, key)

    def put_complaint(self, cursor: Cursor, row: Row) -> None:
        self._put(cursor, "complaints", COMPLAINT_FIELDS, row)

    def case(self, cursor: Cursor, key: str) -> Row | None:
        return self._one(cursor, "cases", CASE_FIELDS, key)

    def put_case(self, cursor: Cursor, row: Row) -> None:
        self._put(cursor, "cases", CASE_FIELDS, row)

    def put_deadline(self, cursor: Cursor, row: Row) -> None:
        self._put(cursor, "deadlines", DEADLINE_FIELDS, row)

    @staticmethod
    def end_deadlines(
        cursor: Cursor, province: str, subject_id: str, phases: Sequence[str], at: datetime
    ) -> None:
        """Close the subject's open deadlines of these phases: met when done by their due time."""
        done = stamp(at)
        marks = ", ".join("?" * len(phases))
        cursor.execute(
            "UPDATE deadlines SET done_at = ?, met = CASE WHEN due_at >= ? THEN 1 ELSE 0 END "
            f"WHERE province = ? AND subject_id = ? AND phase IN ({marks}) AND done_at IS NULL",
            (done, done, province, subject_id, *phases),
        )

    @staticmethod
    def count_services(cursor: Cursor, counts: dict[tuple[str, str], int]) -> None:
        cursor.executemany(
            tracking.upsert(
                "services", ("province", "agency_id", "n"), ("province", "agency_id"), add=("n",)
            ),
            [(province, agency, n) for (province, agency), n in sorted(counts.items()) if n],
        )

    # -- what the watch acts on --------------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.db.reading() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    def rows(self, sql: str, params: Sequence[Any], fields: Sequence[str]) -> list[dict[str, Any]]:
        return [dict(zip(fields, row, strict=True)) for row in self.query(sql, params)]

    def newly_missed(self, now: datetime, limit: int = 500) -> list[dict[str, Any]]:
        return self.rows(
            f"SELECT {', '.join(DEADLINE_FIELDS)} FROM deadlines "
            "WHERE done_at IS NULL AND due_at < ? AND missed_recorded = 0 ORDER BY due_at LIMIT ?",
            (stamp(now), limit),
            DEADLINE_FIELDS,
        )

    def due_for_ministry(self, now: datetime, limit: int = 500) -> list[dict[str, Any]]:
        return self.rows(
            f"SELECT {', '.join(DEADLINE_FIELDS)} FROM deadlines "
            "WHERE kind = 'complaint' AND done_at IS NULL AND escalate_at < ? "
            "AND escalation_level < 2 AND missed_recorded = 1 ORDER BY escalate_at LIMIT ?",
            (stamp(now), limit),
            DEADLINE_FIELDS,
        )

    def credit_pending(self, limit: int = 500) -> list[dict[str, Any]]:
        return self.rows(
            f"SELECT {', '.join(COMPLAINT_FIELDS)} FROM complaints "
            "WHERE credit IN ('due', 'withdraw_due') ORDER BY updated_at LIMIT ?",
            (limit,),
            COMPLAINT_FIELDS,
        )

    def mark(self, table: str, key: str, **values: Any) -> None:
        assignments = ", ".join(f"{name} = ?" for name in values)
        with self.db.transaction() as cursor:
            cursor.execute(
                f"UPDATE {table} SET {assignments} WHERE key = ?", (*values.values(), key)
            )

    def setting(self, name: str, default: str) -> str:
        """A value fixed the first time it is asked for (e.g. the demonstration's epoch)."""
        with self.db.transaction() as cursor:
            cursor.execute(
                "INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING",
                (name, default),
            )
            cursor.execute("SELECT value FROM settings WHERE name = ?", (name,))
            found = cursor.fetchone()
        assert found is not None
        return str(found[0])

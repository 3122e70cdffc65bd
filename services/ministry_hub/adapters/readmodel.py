"""The national read model in SQLite or PostgreSQL: rows, pre-aggregated counts, sources, dead letters.

Current-state counts are kept at county grain (`case_counts`) and rolled up per province
(`province_counts`) and for the country (`national_counts`). Daily flows are kept per county (`flows_county`), prefecture
(`flows_prefecture`), province and service (`flows_province`), and for the whole country per
service (`flows_national`); `flows_province_month` holds the province flows by calendar month, so
that a comparison of all provinces over a long period reads months and at most two part-months of
days. Open deadlines are counted by place, service and the moment they fall due
(`open_deadlines`, and per province `open_deadlines_province`), so overdue counts never read the
deadline rows. Every national query reads a
few thousand rows however many events there were. In SQLite the tables are clustered on their
keys (WITHOUT ROWID): a lookup or a range of a key is one B-tree, not an index and a table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pls.intake import tracking
from pls.intake.intake import DeadLetter, SourceState
from pls.intake.tracking import upsert
from pls.sqlstore import Cursor, Database
from services.ministry_hub.domain.national import FLOW_FIELDS, CaseRow, Changes, DeadlineRow

_FLOW_COLUMNS = ", ".join(f"{name} BIGINT NOT NULL DEFAULT 0" for name in FLOW_FIELDS)

SCHEMA = [
    *tracking.SCHEMA,
    """CREATE TABLE IF NOT EXISTS cases (
        key TEXT PRIMARY KEY, origin TEXT NOT NULL, prefecture TEXT NOT NULL, county TEXT NOT NULL,
        service_type TEXT NOT NULL, channel TEXT NOT NULL, status TEXT NOT NULL, outcome TEXT,
        received_at TEXT NOT NULL, agency_id TEXT, categories TEXT NOT NULL,
        detained INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS case_counts (
        origin TEXT NOT NULL, prefecture TEXT NOT NULL, county TEXT NOT NULL,
        service_type TEXT NOT NULL, channel TEXT NOT NULL, status TEXT NOT NULL,
        outcome TEXT NOT NULL, n BIGINT NOT NULL,
        PRIMARY KEY (origin, prefecture, county, service_type, channel, status, outcome))""",
    """CREATE TABLE IF NOT EXISTS province_counts (
        origin TEXT NOT NULL, service_type TEXT NOT NULL, channel TEXT NOT NULL,
        status TEXT NOT NULL, outcome TEXT NOT NULL, n BIGINT NOT NULL,
        PRIMARY KEY (origin, service_type, channel, status, outcome))""",
    """CREATE TABLE IF NOT EXISTS national_counts (
        service_type TEXT NOT NULL, channel TEXT NOT NULL, status TEXT NOT NULL,
        outcome TEXT NOT NULL, n BIGINT NOT NULL,
        PRIMARY KEY (service_type, channel, status, outcome))""",
    f"""CREATE TABLE IF NOT EXISTS flows_province (
        origin TEXT NOT NULL, day TEXT NOT NULL, service_type TEXT NOT NULL, {_FLOW_COLUMNS},
        PRIMARY KEY (day, origin, service_type))""",
    # Day first: comparing all provinces over some days reads one range of the table.
    "CREATE INDEX IF NOT EXISTS flows_province_origin ON flows_province (origin, day)",
    f"""CREATE TABLE IF NOT EXISTS flows_province_month (
        origin TEXT NOT NULL, month TEXT NOT NULL, service_type TEXT NOT NULL, {_FLOW_COLUMNS},
        PRIMARY KEY (origin, month, service_type))""",
    f"""CREATE TABLE IF NOT EXISTS flows_national (
        day TEXT NOT NULL, service_type TEXT NOT NULL, {_FLOW_COLUMNS},
        PRIMARY KEY (day, service_type))""",
    f"""CREATE TABLE IF NOT EXISTS flows_prefecture (
        origin TEXT NOT NULL, prefecture TEXT NOT NULL, day TEXT NOT NULL, {_FLOW_COLUMNS},
        PRIMARY KEY (origin, prefecture, day))""",
    f"""CREATE TABLE IF NOT EXISTS flows_county (
        origin TEXT NOT NULL, prefecture TEXT NOT NULL, county TEXT NOT NULL, day TEXT NOT NULL,
        {_FLOW_COLUMNS}, PRIMARY KEY (origin, prefecture, county, day))""",
    """CREATE TABLE IF NOT EXISTS deadlines (
        case_key TEXT NOT NULL, rule_id TEXT NOT NULL, origin TEXT NOT NULL,
        prefecture TEXT NOT NULL, county TEXT NOT NULL, service_type TEXT NOT NULL,
        started_at TEXT NOT NULL, due_at TEXT NOT NULL, done_at TEXT, met INTEGER,
        PRIMARY KEY (case_key, rule_id))""",
    "DROP INDEX IF EXISTS deadlines_open",
    """CREATE TABLE IF NOT EXISTS open_deadlines (
        origin TEXT NOT NULL, prefecture TEXT NOT NULL, county TEXT NOT NULL,
        service_type TEXT NOT NULL, due_at TEXT NOT NULL, n BIGINT NOT NULL,
        PRIMARY KEY (origin, prefecture, county, service_type, due_at))""",
    "CREATE INDEX IF NOT EXISTS open_deadlines_due ON open_deadlines (due_at)",
    """CREATE TABLE IF NOT EXISTS open_deadlines_province (
        origin TEXT NOT NULL, service_type TEXT NOT NULL, due_at TEXT NOT NULL, n BIGINT NOT NULL,
        PRIMARY KEY (origin, service_type, due_at))""",
    """CREATE TABLE IF NOT EXISTS agencies (
        key TEXT PRIMARY KEY, origin TEXT NOT NULL, agency_type TEXT NOT NULL, county TEXT,
        licence_status TEXT NOT NULL, closed INTEGER NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS agency_counts (
        origin TEXT NOT NULL, agency_type TEXT NOT NULL, standing TEXT NOT NULL, n BIGINT NOT NULL,
        PRIMARY KEY (origin, agency_type, standing))""",
    """CREATE TABLE IF NOT EXISTS complaints (
        key TEXT PRIMARY KEY, origin TEXT NOT NULL, category TEXT NOT NULL, status TEXT NOT NULL,
        against TEXT NOT NULL, service_type TEXT)""",
    """CREATE TABLE IF NOT EXISTS complaint_counts (
        origin TEXT NOT NULL, category TEXT NOT NULL, status TEXT NOT NULL, n BIGINT NOT NULL,
        PRIMARY KEY (origin, category, status))""",
]

# Tables clustered on their primary key in SQLite.
CLUSTERED = (
    "cases",
    "case_counts",
    "province_counts",
    "national_counts",
    "flows_province",
    "flows_province_month",
    "flows_national",
    "flows_prefecture",
    "flows_county",
    "deadlines",
    "open_deadlines",
    "open_deadlines_province",
)

ORIGIN_TABLES = (
    "cases",
    "case_counts",
    "province_counts",
    "flows_province",
    "flows_province_month",
    "flows_prefecture",
    "flows_county",
    "deadlines",
    "open_deadlines",
    "open_deadlines_province",
    "agencies",
    "agency_counts",
    "complaints",
    "complaint_counts",
)

CASE_FIELDS = (
    "key",
    "origin",
    "prefecture",
    "county",
    "service_type",
    "channel",
    "status",
    "outcome",
    "received_at",
    "agency_id",
    "categories",
    "detained",
)
OPEN_DEADLINE_KEY = ("origin", "prefecture", "county", "service_type", "due_at")
DEADLINE_FIELDS = (
    "case_key",
    "rule_id",
    "origin",
    "prefecture",
    "county",
    "service_type",
    "started_at",
    "due_at",
    "done_at",
    "met",
)


def _chunks(keys: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
    for start in range(0, len(keys), size):
        yield keys[start : start + size]


def schema(dialect: str) -> list[str]:
    """The statements that create the read model; in SQLite, key-clustered tables."""
    if dialect != "sqlite":
        return list(SCHEMA)
    return [
        f"{statement} WITHOUT ROWID"
        if any(statement.startswith(f"CREATE TABLE IF NOT EXISTS {t} (") for t in CLUSTERED)
        else statement
        for statement in SCHEMA
    ]


def _rollup(
    flows: Mapping[Any, Counter[str]], key: Callable[[Any], tuple[str, ...]]
) -> dict[tuple[str, ...], Counter[str]]:
    rolled: dict[tuple[str, ...], Counter[str]] = {}
    for k, counts in flows.items():
        rolled.setdefault(key(k), Counter()).update(counts)
    return rolled


_FLOWS = ", ".join(FLOW_FIELDS)
_FLOW_SUMS = ", ".join(f"SUM({f})" for f in FLOW_FIELDS)

# Each derived table, and how it is filled from the tables it is derived from: a read model
# written before the table existed gets it filled when it is opened.
DERIVED = {
    "national_counts": "INSERT INTO national_counts (service_type, channel, status, outcome, n) "
    "SELECT service_type, channel, status, outcome, SUM(n) FROM province_counts "
    "GROUP BY service_type, channel, status, outcome",
    "flows_national": f"INSERT INTO flows_national (day, service_type, {_FLOWS}) "
    f"SELECT day, service_type, {_FLOW_SUMS} FROM flows_province GROUP BY day, service_type",
    "flows_province_month": f"INSERT INTO flows_province_month (origin, month, service_type, "
    f"{_FLOWS}) SELECT origin, substr(day, 1, 7), service_type, {_FLOW_SUMS} FROM flows_province "
    "GROUP BY origin, substr(day, 1, 7), service_type",
    "flows_prefecture": f"INSERT INTO flows_prefecture (origin, prefecture, day, {_FLOWS}) "
    f"SELECT origin, prefecture, day, {_FLOW_SUMS} FROM flows_county "
    "GROUP BY origin, prefecture, day",
    "open_deadlines": "INSERT INTO open_deadlines (origin, prefecture, county, service_type, "
    "due_at, n) SELECT origin, prefecture, county, service_type, due_at, COUNT(*) FROM deadlines "
    "WHERE done_at IS NULL GROUP BY origin, prefecture, county, service_type, due_at",
    "open_deadlines_province": "INSERT INTO open_deadlines_province (origin, service_type, "
    "due_at, n) SELECT origin, service_type, due_at, COUNT(*) FROM deadlines "
    "WHERE done_at IS NULL GROUP BY origin, service_type, due_at",
}
DERIVED_FROM = {
    "national_counts": "province_counts",
    "flows_national": "flows_province",
    "flows_province_month": "flows_province",
    "flows_prefecture": "flows_county",
    "open_deadlines": "deadlines",
    "open_deadlines_province": "deadlines",
}

# The tables a rebuild split over processes adds up from their read models: every row belongs to
# one origin (the sources and dead letters too); the rest are derived from these.
SHARD_TABLES = (
    *(table for table in ORIGIN_TABLES if table not in DERIVED),
    *tracking.TABLES,
)


class NationalReadModel:
    def __init__(self, db: Database) -> None:
        self.db = db
        db.executescript(schema(db.dialect))
        self._fill_derived()
        self.deferring = False  # derived tables left to `derive` (bulk loading)

    def defer_derived(self) -> None:
        """Bulk loading (a rebuild): from now on only the tables the others are derived from are
        written, batch by batch, and `derive` fills the derived ones once, at the end, in SQL.
        Meanwhile the derived tables are empty, so a load that stops half way gets them filled
        when the read model is next opened."""
        with self.db.transaction() as cursor:
            for table in DERIVED:
                cursor.execute(f"DELETE FROM {table}")
        self.deferring = True

    def derive(self) -> None:
        """Fill every derived table from what it is derived from; batches maintain them again."""
        with self.db.transaction() as cursor:
            for table, fill in DERIVED.items():
                cursor.execute(f"DELETE FROM {table}")
                cursor.execute(fill)
        self.deferring = False

    def _fill_derived(self) -> None:
        """Fill each derived table that is empty while what it is derived from is not."""
        with self.db.transaction() as cursor:
            for table, fill in DERIVED.items():
                cursor.execute(f"SELECT 1 FROM {table} LIMIT 1")
                if cursor.fetchone() is not None:
                    continue
                cursor.execute(f"SELECT 1 FROM {DERIVED_FROM[table]} LIMIT 1")
                if cursor.fetchone() is not None:
                    cursor.execute(fill)

    # -- sources -------------------------------------------------------------------------------

    def sources(self) -> list[SourceState]:
        return tracking.load_sources(self.db)

    def reset(self, origin: str) -> SourceState:
        """Forget every row of one origin, and its position, in one transaction."""
        with self.db.transaction() as cursor:
            for table in ORIGIN_TABLES:
                cursor.execute(f"DELETE FROM {table} WHERE origin = ?", (origin,))
            for table in ("flows_national", "national_counts"):  # of every origin: derive again
                cursor.execute(f"DELETE FROM {table}")
                cursor.execute(DERIVED[table])
            return tracking.reset_source(cursor, origin)

    # -- batch I/O -----------------------------------------------------------------------------

    def prefetch(
        self, cursor: Cursor, case_keys: set[str], agency_keys: set[str], complaint_keys: set[str]
    ) -> Changes:
        changes = Changes()
        keys = sorted(case_keys)
        for chunk in _chunks(keys):
            marks = ", ".join("?" * len(chunk))
            cursor.execute(
                f"SELECT {', '.join(CASE_FIELDS)} FROM cases WHERE key IN ({marks})", chunk
            )
            for row in cursor.fetchall():
                values = dict(zip(CASE_FIELDS, row, strict=True))
                values["detained"] = bool(values["detained"])
                changes.cases[values["key"]] = CaseRow(**values)
            cursor.execute(
                f"SELECT {', '.join(DEADLINE_FIELDS)} FROM deadlines "
                f"WHERE case_key IN ({marks}) AND done_at IS NULL",
                chunk,
            )
            for row in cursor.fetchall():
                deadline = DeadlineRow(**dict(zip(DEADLINE_FIELDS, row, strict=True)))
                changes.deadlines[(deadline.case_key, deadline.rule_id)] = deadline
        for chunk in _chunks(sorted(agency_keys)):
            cursor.execute(
                "SELECT key, origin, agency_type, county, licence_status, closed FROM agencies "
                f"WHERE key IN ({', '.join('?' * len(chunk))})",
                chunk,
            )
            for row in cursor.fetchall():
                changes.agencies[row[0]] = dict(
                    zip(
                        ("key", "origin", "agency_type", "county", "licence_status", "closed"),
                        row,
                        strict=True,
                    )
                )
        for chunk in _chunks(sorted(complaint_keys)):
            cursor.execute(
                "SELECT key, origin, category, status, against, service_type FROM complaints "
                f"WHERE key IN ({', '.join('?' * len(chunk))})",
                chunk,
            )
            for row in cursor.fetchall():
                changes.complaints[row[0]] = dict(
                    zip(
                        ("key", "origin", "category", "status", "against", "service_type"),
                        row,
                        strict=True,
                    )
                )
        return changes

    def write(
        self,
        cursor: Cursor,
        changes: Changes,
        dead_letters: list[DeadLetter],
        sources: Iterable[SourceState],
    ) -> None:
        cursor.executemany(
            upsert("cases", CASE_FIELDS, ("key",)),
            [
                (
                    *(getattr(changes.cases[k], f) for f in CASE_FIELDS[:-1]),
                    int(changes.cases[k].detained),
                )
                for k in sorted(changes.dirty_cases)
            ],
        )
        counts = [(*k, n) for k, n in changes.counts.items() if n]
        cursor.executemany(
            upsert(
                "case_counts",
                (
                    "origin",
                    "prefecture",
                    "county",
                    "service_type",
                    "channel",
                    "status",
                    "outcome",
                    "n",
                ),
                ("origin", "prefecture", "county", "service_type", "channel", "status", "outcome"),
                add=("n",),
            ),
            counts,
        )
        rollup: Counter[tuple[str, ...]] = Counter()
        for key, n in changes.counts.items():
            rollup[(key[0], *key[3:])] += n
        cursor.executemany(
            upsert(
                "province_counts",
                ("origin", "service_type", "channel", "status", "outcome", "n"),
                ("origin", "service_type", "channel", "status", "outcome"),
                add=("n",),
            ),
            [(*k, n) for k, n in rollup.items() if n],
        )
        cursor.executemany(
            upsert(
                "flows_province",
                ("origin", "day", "service_type", *FLOW_FIELDS),
                ("origin", "day", "service_type"),
                add=FLOW_FIELDS,
            ),
            [(*k, *(c[f] for f in FLOW_FIELDS)) for k, c in changes.flows_province.items()],
        )
        self._write_flows(
            cursor, "flows_county", ("origin", "prefecture", "county", "day"), changes.flows_county
        )
        cursor.executemany(
            upsert("deadlines", DEADLINE_FIELDS, ("case_key", "rule_id")),
            [
                (
                    *(getattr(d, f) for f in DEADLINE_FIELDS[:-1]),
                    None if d.met is None else int(d.met),
                )
                for d in changes.deadlines.values()
            ],
        )
        cursor.executemany(
            "DELETE FROM deadlines WHERE case_key = ? AND rule_id = ?",
            sorted(changes.dropped_deadlines),
        )
        if not self.deferring:
            self._write_derived(cursor, changes, rollup)
        self._write_agencies(cursor, changes)
        tracking.write_tracking(cursor, dead_letters, sources)

    def _write_derived(
        self, cursor: Cursor, changes: Changes, rollup: Mapping[tuple[str, ...], int]
    ) -> None:
        """The batch's changes to the tables derived from others (see `DERIVED`)."""
        national: Counter[tuple[str, ...]] = Counter()
        for key, n in rollup.items():
            national[key[1:]] += n
        cursor.executemany(
            upsert(
                "national_counts",
                ("service_type", "channel", "status", "outcome", "n"),
                ("service_type", "channel", "status", "outcome"),
                add=("n",),
            ),
            [(*k, n) for k, n in national.items() if n],
        )
        self._write_flows(
            cursor,
            "flows_province_month",
            ("origin", "month", "service_type"),
            _rollup(changes.flows_province, lambda k: (k[0], k[1][:7], k[2])),
        )
        self._write_flows(
            cursor,
            "flows_national",
            ("day", "service_type"),
            _rollup(changes.flows_province, lambda k: (k[1], k[2])),
        )
        self._write_flows(
            cursor,
            "flows_prefecture",
            ("origin", "prefecture", "day"),
            _rollup(changes.flows_county, lambda k: (k[0], k[1], k[3])),
        )
        by_province: Counter[tuple[str, ...]] = Counter()
        for key, n in changes.open_deadlines.items():
            by_province[(key[0], key[3], key[4])] += n
        moves: tuple[tuple[str, tuple[str, ...], Mapping[Any, int]], ...] = (
            ("open_deadlines", OPEN_DEADLINE_KEY, changes.open_deadlines),
            ("open_deadlines_province", ("origin", "service_type", "due_at"), by_province),
        )
        for table, columns, moved in moves:
            cursor.executemany(
                upsert(table, (*columns, "n"), columns, add=("n",)),
                [(*k, n) for k, n in moved.items() if n],
            )
            cursor.executemany(  # a moment with no deadline open any more is forgotten
                f"DELETE FROM {table} WHERE {' AND '.join(f'{c} = ?' for c in columns)} AND n = 0",
                [k for k, n in moved.items() if n < 0],
            )

    @staticmethod
    def _write_flows(
        cursor: Cursor,
        table: str,
        key: tuple[str, ...],
        flows: Mapping[Any, Counter[str]],
    ) -> None:
        cursor.executemany(
            upsert(table, (*key, *FLOW_FIELDS), key, add=FLOW_FIELDS),
            [(*k, *(c[f] for f in FLOW_FIELDS)) for k, c in flows.items()],
        )

    @staticmethod
    def _write_agencies(cursor: Cursor, changes: Changes) -> None:
        agency_fields = ("key", "origin", "agency_type", "county", "licence_status", "closed")
        cursor.executemany(
            upsert("agencies", agency_fields, ("key",)),
            [
                tuple(changes.agencies[k].get(f) for f in agency_fields)
                for k in sorted(changes.dirty_agencies)
            ],
        )
        cursor.executemany(
            upsert(
                "agency_counts",
                ("origin", "agency_type", "standing", "n"),
                ("origin", "agency_type", "standing"),
                add=("n",),
            ),
            [(*k, n) for k, n in changes.agency_counts.items() if n],
        )
        complaint_fields = ("key", "origin", "category", "status", "against", "service_type")
        cursor.executemany(
            upsert("complaints", complaint_fields, ("key",)),
            [
                tuple(changes.complaints[k].get(f) for f in complaint_fields)
                for k in sorted(changes.dirty_complaints)
            ],
        )
        cursor.executemany(
            upsert(
                "complaint_counts",
                ("origin", "category", "status", "n"),
                ("origin", "category", "status"),
                add=("n",),
            ),
            [(*k, n) for k, n in changes.complaint_counts.items() if n],
        )

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.db.reading() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

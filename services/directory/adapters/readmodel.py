"""The directory's read model in SQLite or PostgreSQL: listings, personnel, credit records, counts.

On SQLite two indexes do the heavy lifting for a million organizations: a contentless FTS5 table
(`org_fts`) holding each listing's search tokens and filter tokens (place, kind, services,
languages, standing, hours), and an R*Tree (`org_geo`) of locations. On PostgreSQL the same
questions are answered from indexed columns (and a trigram index where `pg_trgm` is available).
A listing's row id encodes its kind and place (see `profile.row_prefix`), so id order is listing
order and both indexes hand back rows already in the order a page shows them.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import structlog

from pls.intake import tracking
from pls.intake.intake import DeadLetter, SourceState
from pls.intake.tracking import upsert
from pls.sqlstore import Cursor, Database
from services.directory.domain.listing import Changes, CreditEntry, Listing, Person
from services.directory.domain.text import (
    chinese_tokens,
    initials_tokens,
    pinyin_tokens,
    tag_tokens,
)

log = structlog.get_logger(__name__)

LISTING_FIELDS = (
    "rid",
    "id",
    "origin",
    "agency_id",
    "agency_type",
    "name",
    "licence_number",
    "licence_status",
    "registered_at",
    "closed_at",
    "province",
    "prefecture",
    "county",
    "address",
    "lat",
    "lon",
    "phone",
    "services",
    "languages",
    "accessible",
    "hours",
    "keywords",
    "pinyin",
    "initials",
    "tags",
    "modified_at",
    "schedule_id",
)
PERSON_FIELDS = (
    "key",
    "id",
    "origin",
    "person_id",
    "name",
    "pinyin",
    "initials",
    "role",
    "licence_number",
    "organization_id",
    "status",
    "joined_at",
    "left_at",
    "modified_at",
)

SCHEMA = [
    *tracking.SCHEMA,
    """CREATE TABLE IF NOT EXISTS organizations (
        rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, origin TEXT NOT NULL,
        agency_id TEXT NOT NULL, agency_type TEXT NOT NULL, type_rank INTEGER NOT NULL,
        name TEXT NOT NULL, licence_number TEXT, licence_status TEXT NOT NULL,
        registered_at TEXT, closed_at TEXT, province TEXT NOT NULL, prefecture TEXT NOT NULL,
        county TEXT NOT NULL, address TEXT NOT NULL, lat DOUBLE PRECISION, lon DOUBLE PRECISION,
        phone TEXT, services TEXT NOT NULL, n_services INTEGER NOT NULL, languages TEXT NOT NULL,
        accessible INTEGER NOT NULL, hours TEXT NOT NULL, keywords TEXT NOT NULL,
        pinyin TEXT NOT NULL, initials TEXT NOT NULL, tags TEXT NOT NULL,
        modified_at TEXT NOT NULL,
        schedule_id INTEGER, UNIQUE (origin, agency_id))""",
    "CREATE INDEX IF NOT EXISTS organizations_modified ON organizations (modified_at)",
    """CREATE TABLE IF NOT EXISTS schedules (
        id INTEGER PRIMARY KEY AUTOINCREMENT, hours TEXT NOT NULL UNIQUE)""",
    """CREATE TABLE IF NOT EXISTS org_counts (
        province TEXT NOT NULL, prefecture TEXT NOT NULL, county TEXT NOT NULL,
        agency_type TEXT NOT NULL, closed INTEGER NOT NULL, n BIGINT NOT NULL,
        n_services BIGINT NOT NULL, PRIMARY KEY (county, agency_type, closed))""",
    """CREATE TABLE IF NOT EXISTS persons (
        key TEXT PRIMARY KEY, id TEXT NOT NULL UNIQUE, origin TEXT NOT NULL,
        person_id TEXT NOT NULL, name TEXT NOT NULL, pinyin TEXT NOT NULL,
        initials TEXT NOT NULL, role TEXT NOT NULL, licence_number TEXT,
        organization_id TEXT, status TEXT NOT NULL, joined_at TEXT, left_at TEXT,
        modified_at TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS persons_name ON persons (name)",
    "CREATE INDEX IF NOT EXISTS persons_pinyin ON persons (pinyin)",
    "CREATE INDEX IF NOT EXISTS persons_initials ON persons (initials)",
    "CREATE INDEX IF NOT EXISTS persons_licence ON persons (licence_number)",
    "CREATE INDEX IF NOT EXISTS persons_organization ON persons (organization_id)",
    """CREATE TABLE IF NOT EXISTS credit (
        id INTEGER PRIMARY KEY AUTOINCREMENT, subject TEXT NOT NULL, kind TEXT NOT NULL,
        at TEXT NOT NULL, reference TEXT NOT NULL, detail TEXT NOT NULL,
        UNIQUE (subject, kind, reference))""",
    "CREATE INDEX IF NOT EXISTS credit_subject ON credit (subject, at)",
    """CREATE TABLE IF NOT EXISTS directory_meta (
        key TEXT PRIMARY KEY, value BIGINT NOT NULL)""",
]
SQLITE_SCHEMA = [
    """CREATE VIRTUAL TABLE IF NOT EXISTS org_fts USING fts5(
        zh, py, ini, tag, facet, content='', columnsize=0,
        tokenize='unicode61 remove_diacritics 0')""",
    "CREATE VIRTUAL TABLE IF NOT EXISTS org_geo USING rtree(rid, min_lat, max_lat, min_lon, max_lon)",
]
POSTGRES_SCHEMA = [
    "CREATE INDEX IF NOT EXISTS organizations_province ON organizations (province, rid)",
    "CREATE INDEX IF NOT EXISTS organizations_prefecture ON organizations (prefecture, rid)",
    "CREATE INDEX IF NOT EXISTS organizations_county ON organizations (county, rid)",
    "CREATE INDEX IF NOT EXISTS organizations_type ON organizations (agency_type, rid)",
    "CREATE INDEX IF NOT EXISTS organizations_point ON organizations (lat, lon)",
]
PG_SEARCH_TEXT = "(keywords || ' ' || replace(pinyin, ' ', '') || ' ' || initials)"
POSTGRES_TRIGRAM = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    f"CREATE INDEX IF NOT EXISTS organizations_search ON organizations "
    f"USING gin ({PG_SEARCH_TEXT} gin_trgm_ops)",
]


# The search index's tokens are computed by `domain.text`; when those rules change, this number
# does, and the index is rebuilt from the stored rows at start (its deletes must see the tokens
# that were inserted).
SEARCH_INDEX_VERSION = 3


def _chunks(keys: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    for start in range(0, len(keys), size):
        yield keys[start : start + size]


def _joined(values: list[str]) -> str:
    return "," + ",".join(values) + "," if values else ","


def _split(text: str) -> list[str]:
    return [v for v in text.split(",") if v]


class DirectoryReadModel:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.dialect = db.dialect
        statements = [s.replace("INTEGER PRIMARY KEY,", "BIGINT PRIMARY KEY,") for s in SCHEMA]
        if self.dialect == "sqlite":
            db.executescript([*SCHEMA, *SQLITE_SCHEMA])
            self._check_search_index()
        else:
            db.executescript([*statements, *POSTGRES_SCHEMA])
            self.trigram = self._try_trigram()
        self._schedules: dict[str, int] = {}

    def _check_search_index(self) -> None:
        with self.db.transaction() as cursor:
            cursor.execute("SELECT value FROM directory_meta WHERE key = 'search_index'")
            row = cursor.fetchone()
            if row is not None and int(row[0]) == SEARCH_INDEX_VERSION:
                return
            cursor.execute("SELECT count(*) FROM organizations")
            counted = cursor.fetchone()
            if counted is not None and int(counted[0]) > 0:
                log.warning("search rules changed; rebuilding the search index", rows=counted[0])
                self._rebuild_search_index(cursor)
            cursor.execute(
                upsert("directory_meta", ("key", "value"), ("key",)),
                ("search_index", SEARCH_INDEX_VERSION),
            )

    @staticmethod
    def _rebuild_search_index(cursor: Cursor) -> None:
        cursor.execute("INSERT INTO org_fts (org_fts) VALUES ('delete-all')")
        cursor.execute(f"SELECT {', '.join(LISTING_FIELDS)} FROM organizations")
        rows = [listing_of(row) for row in cursor.fetchall()]
        for start in range(0, len(rows), 5000):
            cursor.executemany(
                "INSERT INTO org_fts (rowid, zh, py, ini, tag, facet) VALUES (?, ?, ?, ?, ?, ?)",
                [(listing.rid, *_tokens(listing)) for listing in rows[start : start + 5000]],
            )

    def _try_trigram(self) -> bool:
        try:
            self.db.executescript(POSTGRES_TRIGRAM)
        except Exception as error:
            log.warning("pg_trgm is not available; search scans", error=str(error))
            return False
        return True

    def sources(self) -> list[SourceState]:
        return tracking.load_sources(self.db)

    # -- reading for a batch -------------------------------------------------------------------

    def load(self, cursor: Cursor, agency_keys: set[str], person_keys: set[str]) -> Changes:
        changes = Changes()
        pairs = sorted(tuple(k.split(":", 1)) for k in agency_keys)
        for chunk in _chunks(pairs, 400):
            where = " OR ".join("(origin = ? AND agency_id = ?)" for _ in chunk)
            cursor.execute(
                f"SELECT {', '.join(LISTING_FIELDS)} FROM organizations WHERE {where}",
                [value for pair in chunk for value in pair],
            )
            for row in cursor.fetchall():
                listing = listing_of(row)
                key = f"{listing.origin}:{listing.agency_id}"
                changes.stored[key] = listing
                changes.listings[key] = Listing(**{**listing.__dict__})
        for chunk in _chunks(sorted(person_keys)):
            cursor.execute(
                f"SELECT {', '.join(PERSON_FIELDS)} FROM persons "
                f"WHERE key IN ({', '.join('?' * len(chunk))})",
                list(chunk),
            )
            for row in cursor.fetchall():
                person = Person(**dict(zip(PERSON_FIELDS, row, strict=True)))
                changes.persons[person.key] = person
        return changes

    def serials(self, cursor: Cursor, count: int) -> Iterable[int]:
        """`count` fresh serials for row ids, reserved in the batch's transaction."""
        cursor.execute("SELECT value FROM directory_meta WHERE key = 'serial'")
        row = cursor.fetchone()
        first = int(row[0]) if row else 1
        cursor.execute(
            upsert("directory_meta", ("key", "value"), ("key",)), ("serial", first + count)
        )
        return iter(range(first, first + count))

    def _schedule(self, cursor: Cursor, text: str) -> int | None:
        if not text:
            return None
        found = self._schedules.get(text)
        if found is not None:
            return found
        cursor.execute("SELECT id FROM schedules WHERE hours = ?", (text,))
        row = cursor.fetchone()
        if row is None:
            cursor.execute("INSERT INTO schedules (hours) VALUES (?)", (text,))
            cursor.execute("SELECT id FROM schedules WHERE hours = ?", (text,))
            row = cursor.fetchone()
        assert row is not None
        self._schedules[text] = int(row[0])
        return int(row[0])

    def forget_cached(self) -> None:
        """After a rolled-back batch: schedule ids read or made in it may not exist."""
        self._schedules.clear()

    # -- writing a batch -----------------------------------------------------------------------

    def write(
        self,
        cursor: Cursor,
        changes: Changes,
        dead_letters: list[DeadLetter],
        sources: Iterable[SourceState],
    ) -> None:
        inserts: list[Listing] = []
        updates: list[Listing] = []
        removed: list[Listing] = []
        counts: Counter[tuple[Any, ...]] = Counter()
        services: Counter[tuple[Any, ...]] = Counter()
        for key in sorted(changes.dirty):
            new = changes.listings[key]
            new.schedule_id = self._schedule(cursor, new.hours)
            old = changes.stored.get(key)
            if old is not None:
                counted = _count_key(old)
                counts[counted] -= 1
                services[counted] -= len(old.services)
                if old.rid != new.rid:
                    removed.append(old)
                    inserts.append(new)
                else:
                    updates.append(new)
            else:
                inserts.append(new)
            counted = _count_key(new)
            counts[counted] += 1
            services[counted] += len(new.services)
        if removed:
            cursor.executemany(
                "DELETE FROM organizations WHERE rid = ?", [(old.rid,) for old in removed]
            )
        columns = [*LISTING_FIELDS, "type_rank", "n_services"]
        cursor.executemany(
            f"INSERT INTO organizations ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' * len(columns))})",
            [_row(listing) for listing in inserts],
        )
        assignments = ", ".join(f"{c} = ?" for c in columns[1:])
        cursor.executemany(
            f"UPDATE organizations SET {assignments} WHERE rid = ?",
            [(*_row(listing)[1:], listing.rid) for listing in updates],
        )
        if self.dialect == "sqlite":
            self._write_indexes(cursor, changes, inserts, updates, removed)
        cursor.executemany(
            upsert(
                "org_counts",
                ("province", "prefecture", "county", "agency_type", "closed", "n", "n_services"),
                ("county", "agency_type", "closed"),
                add=("n", "n_services"),
            ),
            [(*k, n, services[k]) for k, n in counts.items() if n or services[k]],
        )
        cursor.executemany(
            upsert("persons", PERSON_FIELDS, ("key",)),
            [
                tuple(getattr(changes.persons[k], f) for f in PERSON_FIELDS)
                for k in sorted(changes.dirty_persons)
            ],
        )
        cursor.executemany(
            upsert(
                "credit",
                ("subject", "kind", "at", "reference", "detail"),
                ("subject", "kind", "reference"),
            ),
            [_credit_row(entry) for entry in changes.credit],
        )
        tracking.write_tracking(cursor, dead_letters, sources)

    def _write_indexes(
        self,
        cursor: Cursor,
        changes: Changes,
        inserts: list[Listing],
        updates: list[Listing],
        removed: list[Listing],
    ) -> None:
        stale = [*removed, *(changes.stored[_key(u)] for u in updates)]
        cursor.executemany(
            "INSERT INTO org_fts (org_fts, rowid, zh, py, ini, tag, facet) "
            "VALUES ('delete', ?, ?, ?, ?, ?, ?)",
            [(old.rid, *_tokens(old)) for old in stale],
        )
        cursor.executemany(
            "INSERT INTO org_fts (rowid, zh, py, ini, tag, facet) VALUES (?, ?, ?, ?, ?, ?)",
            [(new.rid, *_tokens(new)) for new in [*inserts, *updates]],
        )
        cursor.executemany("DELETE FROM org_geo WHERE rid = ?", [(old.rid,) for old in stale])
        cursor.executemany(
            "INSERT INTO org_geo (rid, min_lat, max_lat, min_lon, max_lon) VALUES (?, ?, ?, ?, ?)",
            [
                (new.rid, new.lat, new.lat, new.lon, new.lon)
                for new in [*inserts, *updates]
                if new.lat is not None and new.lon is not None
            ],
        )

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.db.reading() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()


def _key(listing: Listing) -> str:
    return f"{listing.origin}:{listing.agency_id}"


def _count_key(listing: Listing) -> tuple[Any, ...]:
    return (
        listing.province,
        listing.prefecture,
        listing.county,
        listing.agency_type,
        int(listing.is_closed),
    )


def _tokens(listing: Listing) -> tuple[str, str, str, str, str]:
    return (
        chinese_tokens(listing.keywords),
        pinyin_tokens(listing.pinyin),
        initials_tokens(listing.initials),
        tag_tokens(listing.tags),
        listing.facets(),
    )


def _row(listing: Listing) -> tuple[Any, ...]:
    values = []
    for name in LISTING_FIELDS:
        value = getattr(listing, name)
        if name in ("services", "languages"):
            value = _joined(value)
        elif name == "accessible":
            value = int(value)
        values.append(value)
    return (*values, listing.type_rank, len(listing.services))


def listing_of(row: Sequence[Any]) -> Listing:
    values = dict(zip(LISTING_FIELDS, row, strict=False))
    values["services"] = _split(values["services"])
    values["languages"] = _split(values["languages"])
    values["accessible"] = bool(values["accessible"])
    return Listing(**values)


def _credit_row(entry: CreditEntry) -> tuple[Any, ...]:
    return (
        entry.subject,
        entry.kind,
        entry.at,
        entry.reference,
        json.dumps(entry.detail, ensure_ascii=False, sort_keys=True),
    )

"""Directory queries: which organizations match a citizen's question, in which order, how many.

Filters combine with AND. Results come in listing order (kind of agency, then registration), or
nearest first when a point is given. On SQLite the FTS5 index answers text, place, kind, service,
language, licence and opening-hours filters in one pass and the R*Tree answers "near this point";
on PostgreSQL (and for the benchmark's naive baseline) the same criteria become column predicates.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pls.sqlstore import Cursor
from services.directory.adapters.readmodel import (
    LISTING_FIELDS,
    PERSON_FIELDS,
    PG_SEARCH_TEXT,
    DirectoryReadModel,
    listing_of,
)
from services.directory.domain import hours, identity
from services.directory.domain.geometry import EARTH_RADIUS_M, Circle
from services.directory.domain.listing import Listing, Person, language_token
from services.directory.domain.profile import kind_of, service_rank
from services.directory.domain.text import Term, fts_expression, implied_kinds

Level = Literal["province", "prefecture", "county"]
FACET_OF_LEVEL = {"province": "p", "prefecture": "f", "county": "c"}


@dataclass(frozen=True)
class Region:
    level: Level
    code: str


@dataclass(frozen=True)
class Criteria:
    """A question to the directory. Every criterion given must hold (AND)."""

    search: tuple[Term, ...] = ()
    region: Region | None = None
    agency_types: tuple[str, ...] = ()
    service: str | None = None
    language: str | None = None
    open_at: datetime | None = None
    near: Circle | None = None
    modified_after: datetime | None = None
    licence_status: str | None = None
    organization_id: str | None = None
    include_closed: bool = False

    @property
    def only_place_and_kind(self) -> bool:
        """Whether the pre-aggregated counts can give the total."""
        return not (
            self.search
            or self.service
            or self.language
            or self.open_at
            or self.near
            or self.modified_after
            or self.licence_status
            or self.organization_id
        )


@dataclass(frozen=True)
class Hit:
    listing: Listing
    distance_m: float | None = None


@dataclass
class Found:
    total: int
    hits: list[Hit] = field(default_factory=list)
    exact: bool = True  # False: at least `total` (counting stopped at the count limit)


class _Nothing(Exception):
    """The criteria cannot match anything (e.g. nothing is open at that hour)."""


COUNT_LIMIT = 10_000


class DirectoryQueries:
    """Totals of text searches are exact up to `count_limit`; past it they say "at least", as
    search engines do: nobody pages through half a million mediation committees, and counting
    them all would cost every such search a tenth of a second."""

    def __init__(self, readmodel: DirectoryReadModel, *, count_limit: int = COUNT_LIMIT) -> None:
        self.rm = readmodel
        self.count_limit = count_limit
        self.db = readmodel.db
        self._schedules: dict[int, list[hours.Period]] = {}
        self._lock = threading.Lock()

    def forget_cached(self) -> None:
        """After the read model was replaced: its schedule ids may mean other hours."""
        with self._lock:
            self._schedules = {}

    # -- opening hours -------------------------------------------------------------------------

    def open_schedules(self, cursor: Cursor, at: datetime) -> list[int]:
        with self._lock:
            cursor.execute("SELECT count(*) FROM schedules")
            row = cursor.fetchone()
            if row is None or int(row[0]) != len(self._schedules):
                cursor.execute("SELECT id, hours FROM schedules")
                self._schedules = {
                    int(i): hours.parse_canonical(text) for i, text in cursor.fetchall()
                }
            schedules = dict(self._schedules)
        return sorted(i for i, periods in schedules.items() if hours.is_open(periods, at))

    # -- organizations -------------------------------------------------------------------------

    def organizations(self, criteria: Criteria, offset: int, limit: int) -> Found:
        with self.db.reading() as cursor:
            try:
                total, exact, ranked = self._find(cursor, criteria, offset, limit)
            except _Nothing:
                return Found(0)
            return Found(total, self._hits(cursor, ranked), exact)

    def _limited(self, counted: int) -> tuple[int, bool]:
        """A count made with `LIMIT count_limit + 1`: (total to show, whether it is exact)."""
        return min(counted, self.count_limit), counted <= self.count_limit

    def services(
        self, criteria: Criteria, offset: int, limit: int
    ) -> tuple[int, bool, list[tuple[Hit, str]]]:
        """One row per service an organization offers, in organization order."""
        with self.db.reading() as cursor:
            try:
                total_organizations, exact, ranked = self._find(cursor, criteria, 0, offset + limit)
            except _Nothing:
                return 0, True, []
            if criteria.service is not None or not exact:
                total = total_organizations
            else:
                total = self._service_total(cursor, criteria, total_organizations)
            rows = []
            for hit in self._hits(cursor, ranked):
                for service in hit.listing.services:
                    if criteria.service in (None, service):
                        rows.append((hit, service))
            return total, exact, rows[offset : offset + limit]

    def _service_total(self, cursor: Cursor, criteria: Criteria, organizations: int) -> int:
        if criteria.only_place_and_kind and not criteria.include_closed:
            return self._counted(cursor, criteria, "n_services")
        if organizations == 0:
            return 0
        _total, _exact, ranked = self._find(cursor, criteria, 0, organizations)
        rids = [rid for rid, _ in ranked]
        found = 0
        for start in range(0, len(rids), 500):
            chunk = rids[start : start + 500]
            cursor.execute(
                f"SELECT sum(n_services) FROM organizations WHERE rid IN ({', '.join('?' * len(chunk))})",
                chunk,
            )
            row = cursor.fetchone()
            found += int(row[0] or 0) if row else 0
        return found

    def _find(
        self, cursor: Cursor, criteria: Criteria, offset: int, limit: int
    ) -> tuple[int, bool, list[tuple[int, float | None]]]:
        """(total, whether it is exact, (row id, distance) of each row of the page)."""
        if self.rm.dialect == "sqlite":
            if criteria.near is not None:
                return self._near(cursor, criteria, offset, limit, search="fts")
            expression = self._fts(cursor, criteria)
            if expression is not None:
                return self._by_index(cursor, criteria, expression, offset, limit)
            return self._listed(cursor, criteria, offset, limit)
        if criteria.near is not None:
            return self._near(cursor, criteria, offset, limit, search="like")
        return self._scan(cursor, criteria, offset, limit, search="like")

    def _hits(self, cursor: Cursor, ranked: list[tuple[int, float | None]]) -> list[Hit]:
        if not ranked:
            return []
        rids = [rid for rid, _ in ranked]
        cursor.execute(
            f"SELECT {', '.join(LISTING_FIELDS)} FROM organizations "
            f"WHERE rid IN ({', '.join('?' * len(rids))})",
            rids,
        )
        listings = {row[0]: listing_of(row) for row in cursor.fetchall()}
        return [Hit(listings[rid], distance) for rid, distance in ranked if rid in listings]

    # -- SQLite: the FTS5 index ------------------------------------------------------------------

    def _facets(self, cursor: Cursor, criteria: Criteria) -> list[str]:
        facets = []
        if criteria.region is not None:
            facets.append(FACET_OF_LEVEL[criteria.region.level] + criteria.region.code)
        if criteria.agency_types:
            ranks = sorted({f"t{kind_of(t).rank}" for t in criteria.agency_types})
            facets.append("(" + " OR ".join(ranks) + ")")
        if criteria.service is not None:
            facets.append(f"s{service_rank(criteria.service)}")
        if criteria.language is not None:
            facets.append(f"l{language_token(criteria.language)}")
        if criteria.licence_status is not None:
            facets.append(f"k{criteria.licence_status}")
        if criteria.open_at is not None:
            open_now = self.open_schedules(cursor, criteria.open_at)
            if not open_now:
                raise _Nothing
            facets.append("(" + " OR ".join(f"h{i}" for i in open_now) + ")")
        return facets

    def _fts(self, cursor: Cursor, criteria: Criteria) -> str | None:
        parts = [str(fts_expression(term)) for term in criteria.search]
        facets = self._facets(cursor, criteria)
        if facets:
            parts.append("{facet}: (" + " AND ".join(facets) + ")")
        if not parts:
            return None
        expression = " AND ".join(parts)
        if not criteria.include_closed:
            expression = f"({expression}) NOT {{facet}}: xclosed"
        return expression

    def _by_index(
        self, cursor: Cursor, criteria: Criteria, expression: str, offset: int, limit: int
    ) -> tuple[int, bool, list[tuple[int, float | None]]]:
        extra, params = self._extra(criteria)
        source = "org_fts"
        if extra:
            source = "org_fts JOIN organizations o ON o.rid = org_fts.rowid"

        def page(match: str, skip: int, take: int) -> list[tuple[int, float | None]]:
            cursor.execute(
                f"SELECT org_fts.rowid FROM {source} WHERE org_fts MATCH ?{extra} "
                "ORDER BY org_fts.rowid LIMIT ? OFFSET ?",
                [match, *params, take, skip],
            )
            return [(int(r[0]), None) for r in cursor.fetchall()]

        def counted(match: str, at_most: int) -> int:
            cursor.execute(
                f"SELECT count(*) FROM (SELECT 1 FROM {source} WHERE org_fts MATCH ?{extra} "
                "LIMIT ?) AS matched",
                [match, *params, at_most],
            )
            row = cursor.fetchone()
            return int(row[0]) if row else 0

        ranked: list[tuple[int, float | None]] = []
        skip = offset
        for tier in self._tiers(criteria, expression):
            rows = page(tier, skip, limit - len(ranked))
            ranked += rows
            skip = 0 if rows else skip - counted(tier, skip)
            if len(ranked) >= limit:
                break
        if criteria.only_place_and_kind and not criteria.include_closed:
            return self._counted(cursor, criteria, "n"), True, ranked
        cursor.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM {source} WHERE org_fts MATCH ?{extra} "
            "LIMIT ?) AS matched",
            [expression, *params, self.count_limit + 1],
        )
        row = cursor.fetchone()
        return (*self._limited(int(row[0]) if row else 0), ranked)

    def _tiers(self, criteria: Criteria, expression: str) -> list[str]:
        """A search's matches in the order they are shown: those matching on the words of their
        place and kind first (gzls: law firms in 广州 and 赣州, before firms whose own name has
        those initials), then among them and among the rest, the kinds the search names."""
        if not criteria.search:
            return [expression]
        on_tags = [fts_expression(t, tags_only=True) for t in criteria.search]
        named = self._named_kinds(criteria)
        kinds = (
            "{facet}: (" + " OR ".join(f"t{kind_of(k).rank}" for k in named) + ")"
            if named
            else None
        )
        tiers = [expression]
        if all(on_tags):
            tagged = " AND ".join(str(t) for t in on_tags)
            tiers = [f"({expression}) AND ({tagged})", f"({expression}) NOT ({tagged})"]
        if kinds is None:
            return tiers
        return [
            part for tier in tiers for part in (f"({tier}) AND {kinds}", f"({tier}) NOT {kinds}")
        ]

    @staticmethod
    def _named_kinds(criteria: Criteria) -> tuple[str, ...]:
        if not criteria.search or criteria.agency_types:
            return ()
        return implied_kinds(criteria.search)

    @staticmethod
    def _extra(criteria: Criteria) -> tuple[str, list[Any]]:
        clauses, params = [], []
        if criteria.modified_after is not None:
            clauses.append(" AND o.modified_at > ?")
            params.append(criteria.modified_after.isoformat())
        if criteria.organization_id is not None:
            clauses.append(" AND o.id = ?")
            params.append(criteria.organization_id)
        return "".join(clauses), params

    def _listed(
        self, cursor: Cursor, criteria: Criteria, offset: int, limit: int
    ) -> tuple[int, bool, list[tuple[int, float | None]]]:
        extra, params = self._extra(criteria)
        where = "1 = 1" if criteria.include_closed else "o.closed_at IS NULL"
        cursor.execute(
            f"SELECT o.rid FROM organizations o WHERE {where}{extra} ORDER BY o.rid LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        ranked: list[tuple[int, float | None]] = [(int(r[0]), None) for r in cursor.fetchall()]
        if criteria.only_place_and_kind and not criteria.include_closed:
            total = self._counted(cursor, criteria, "n")
        else:
            cursor.execute(f"SELECT count(*) FROM organizations o WHERE {where}{extra}", params)
            row = cursor.fetchone()
            total = int(row[0]) if row else 0
        return total, True, ranked

    @staticmethod
    def _counted(cursor: Cursor, criteria: Criteria, column: str) -> int:
        clauses, params = ["closed = 0"], []
        if criteria.region is not None:
            clauses.append(f"{criteria.region.level} = ?")
            params.append(criteria.region.code)
        if criteria.agency_types:
            clauses.append(f"agency_type IN ({', '.join('?' * len(criteria.agency_types))})")
            params.extend(criteria.agency_types)
        cursor.execute(
            f"SELECT COALESCE(sum({column}), 0) FROM org_counts WHERE {' AND '.join(clauses)}",
            params,
        )
        row = cursor.fetchone()
        return int(row[0]) if row else 0

    # -- column predicates: PostgreSQL, proximity, and the naive baseline -------------------------

    def _predicates(
        self, cursor: Cursor, criteria: Criteria, search: Literal["fts", "like"]
    ) -> tuple[list[str], list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if criteria.region is not None:
            clauses.append(f"o.{criteria.region.level} = ?")
            params.append(criteria.region.code)
        if criteria.agency_types:
            clauses.append(f"o.agency_type IN ({', '.join('?' * len(criteria.agency_types))})")
            params.extend(criteria.agency_types)
        if criteria.service is not None:
            clauses.append("o.services LIKE ?")
            params.append(f"%,{criteria.service},%")
        if criteria.language is not None:
            clauses.append("o.languages LIKE ?")
            params.append(f"%,{criteria.language},%")
        if criteria.licence_status is not None:
            clauses.append("o.licence_status = ?")
            params.append(criteria.licence_status)
        if criteria.open_at is not None:
            open_now = self.open_schedules(cursor, criteria.open_at)
            if not open_now:
                raise _Nothing
            clauses.append(f"o.schedule_id IN ({', '.join('?' * len(open_now))})")
            params.extend(open_now)
        if criteria.modified_after is not None:
            clauses.append("o.modified_at > ?")
            params.append(criteria.modified_after.isoformat())
        if criteria.organization_id is not None:
            clauses.append("o.id = ?")
            params.append(criteria.organization_id)
        if not criteria.include_closed:
            clauses.append("o.closed_at IS NULL")
        if criteria.search and search == "fts":
            clauses.append("o.rid IN (SELECT rowid FROM org_fts WHERE org_fts MATCH ?)")
            params.append(" AND ".join(str(fts_expression(t)) for t in criteria.search))
        elif criteria.search:
            text = (
                PG_SEARCH_TEXT.replace("keywords", "o.keywords")
                .replace("pinyin", "o.pinyin")
                .replace("initials", "o.initials")
            )
            operator = "ILIKE" if self.rm.dialect == "postgres" else "LIKE"
            for term in criteria.search:
                clauses.append(f"{text} {operator} ?")
                params.append(f"%{term.text}%")
        return clauses, params

    def _scan(
        self,
        cursor: Cursor,
        criteria: Criteria,
        offset: int,
        limit: int,
        search: Literal["fts", "like"],
        table: str = "organizations o",
        limited: bool = True,
    ) -> tuple[int, bool, list[tuple[int, float | None]]]:
        clauses, params = self._predicates(cursor, criteria, search)
        where = " AND ".join(clauses) or "1 = 1"
        order, order_params = "o.rid", []
        if limited and criteria.search:
            operator = "ILIKE" if self.rm.dialect == "postgres" else "LIKE"
            tagged = " AND ".join(f"replace(o.tags, ' ', '') {operator} ?" for _ in criteria.search)
            named = self._named_kinds(criteria)
            kinds = f"o.agency_type IN ({', '.join('?' * len(named))})" if named else "1 = 0"
            order = (
                f"CASE WHEN {tagged} THEN 0 ELSE 1 END, CASE WHEN {kinds} THEN 0 ELSE 1 END, o.rid"
            )
            order_params = [*(f"%{t.text}%" for t in criteria.search), *named]
        cursor.execute(
            f"SELECT o.rid FROM {table} WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
            [*params, *order_params, limit, offset],
        )
        ranked: list[tuple[int, float | None]] = [(int(r[0]), None) for r in cursor.fetchall()]
        if limited and criteria.only_place_and_kind and not criteria.include_closed:
            return self._counted(cursor, criteria, "n"), True, ranked
        if limited:
            cursor.execute(
                f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {where} LIMIT ?) AS matched",
                [*params, self.count_limit + 1],
            )
            row = cursor.fetchone()
            return (*self._limited(int(row[0]) if row else 0), ranked)
        cursor.execute(f"SELECT count(*) FROM {table} WHERE {where}", params)
        row = cursor.fetchone()
        return (int(row[0]) if row else 0), True, ranked

    def _distance_sql(self) -> str:
        least = "LEAST" if self.rm.dialect == "postgres" else "min"
        return (
            f"2 * {EARTH_RADIUS_M} * asin({least}(1.0, sqrt("
            "power(sin(radians(o.lat - ?) / 2), 2) + "
            "cos(radians(?)) * cos(radians(o.lat)) * power(sin(radians(o.lon - ?) / 2), 2))))"
        )

    def _near(
        self,
        cursor: Cursor,
        criteria: Criteria,
        offset: int,
        limit: int,
        search: Literal["fts", "like"],
        naive: bool = False,
    ) -> tuple[int, bool, list[tuple[int, float | None]]]:
        circle = criteria.near
        assert circle is not None
        clauses, params = self._predicates(cursor, criteria, search)
        min_lat, max_lat, min_lon, max_lon = circle.box()
        if naive:
            source = "organizations o NOT INDEXED"
            clauses.append("o.lat IS NOT NULL")
        elif self.rm.dialect == "sqlite":
            source = "org_geo g JOIN organizations o ON o.rid = g.rid"
            clauses = [
                "g.min_lat >= ?",
                "g.max_lat <= ?",
                "g.min_lon >= ?",
                "g.max_lon <= ?",
                *clauses,
            ]
            params = [min_lat, max_lat, min_lon, max_lon, *params]
        else:
            source = "organizations o"
            clauses = ["o.lat BETWEEN ? AND ?", "o.lon BETWEEN ? AND ?", *clauses]
            params = [min_lat, max_lat, min_lon, max_lon, *params]
        inner = (
            f"SELECT o.rid AS rid, {self._distance_sql()} AS d FROM {source} "
            f"WHERE {' AND '.join(clauses)}"
        )
        inner_params = [circle.lat, circle.lat, circle.lon, *params]
        cursor.execute(
            f"SELECT rid, d, count(*) OVER () FROM ({inner}) AS near WHERE d <= ? "
            "ORDER BY d, rid LIMIT ? OFFSET ?",
            [*inner_params, circle.radius_m, limit, offset],
        )
        rows = cursor.fetchall()
        if rows:
            total = int(rows[0][2])
        else:
            cursor.execute(
                f"SELECT count(*) FROM ({inner}) AS near WHERE d <= ?",
                [*inner_params, circle.radius_m],
            )
            row = cursor.fetchone()
            total = int(row[0]) if row else 0
        return total, True, [(int(r[0]), float(r[1])) for r in rows]

    # -- the naive baseline ----------------------------------------------------------------------

    def full_scan(self, criteria: Criteria, offset: int, limit: int) -> Found:
        """The same question answered by reading every row: the benchmark's baseline."""
        with self.db.reading() as cursor:
            try:
                if criteria.near is not None:
                    total, _, ranked = self._near(
                        cursor, criteria, offset, limit, search="like", naive=True
                    )
                else:
                    total, _, ranked = self._scan(
                        cursor,
                        criteria,
                        offset,
                        limit,
                        search="like",
                        table="organizations o NOT INDEXED",
                        limited=False,
                    )
            except _Nothing:
                return Found(0)
            return Found(total, self._hits(cursor, ranked))

    # -- single records --------------------------------------------------------------------------

    def organization(self, organization_id: str) -> Listing | None:
        rows = self.rm.query(
            f"SELECT {', '.join(LISTING_FIELDS)} FROM organizations WHERE id = ?",
            (organization_id,),
        )
        return listing_of(rows[0]) if rows else None

    def location(self, location_id: str) -> Listing | None:
        organization = identity.organization_of_location(location_id)
        return self.organization(organization) if organization else None

    def service(self, service_id: str) -> tuple[Listing, str] | None:
        candidates = identity.candidates_of_service(service_id)
        if not candidates:
            return None
        ids = [organization for organization, _ in candidates]
        rows = self.rm.query(
            f"SELECT {', '.join(LISTING_FIELDS)} FROM organizations "
            f"WHERE id IN ({', '.join('?' * len(ids))})",
            ids,
        )
        for row in rows:
            listing = listing_of(row)
            for organization, kind in candidates:
                if organization == listing.id and kind in listing.services:
                    return listing, kind
        return None

    def complaints_upheld(self, subjects: Sequence[str]) -> dict[str, int]:
        if not subjects:
            return {}
        rows = self.rm.query(
            "SELECT subject, count(*) FROM credit WHERE kind = 'complaint_upheld' "
            f"AND subject IN ({', '.join('?' * len(subjects))}) GROUP BY subject",
            list(subjects),
        )
        return {subject: int(n) for subject, n in rows}

    def credit(self, subject: str) -> list[dict[str, Any]]:
        rows = self.rm.query(
            "SELECT kind, at, reference, detail FROM credit WHERE subject = ? ORDER BY at, id",
            (subject,),
        )
        return [
            {"kind": kind, "at": at, "reference": reference, "detail": json.loads(detail)}
            for kind, at, reference, detail in rows
        ]

    # -- personnel -------------------------------------------------------------------------------

    def persons(
        self,
        *,
        name: str | None,
        licence_number: str | None,
        role: str | None,
        organization_id: str | None,
        include_former: bool,
        offset: int,
        limit: int,
    ) -> tuple[int, list[Person]]:
        clauses: list[str] = []
        params: list[Any] = []
        if name is not None:
            text = name.strip().lower()
            ranges = []
            for column in ("name", "pinyin", "initials"):
                ranges.append(f"({column} >= ? AND {column} < ?)")
                params.extend([text, text + "\U0010ffff"])
            clauses.append("(" + " OR ".join(ranges) + ")")
        if licence_number is not None:
            clauses.append("licence_number >= ? AND licence_number < ?")
            params.extend([licence_number, licence_number + "\U0010ffff"])
        if role is not None:
            clauses.append("role = ?")
            params.append(role)
        if organization_id is not None:
            clauses.append("organization_id = ?")
            params.append(organization_id)
        if not include_former:
            clauses.append("status = 'active'")
        where = " AND ".join(clauses) or "1 = 1"
        with self.db.reading() as cursor:
            cursor.execute(f"SELECT count(*) FROM persons WHERE {where}", params)
            row = cursor.fetchone()
            total = int(row[0]) if row else 0
            cursor.execute(
                f"SELECT {', '.join(PERSON_FIELDS)} FROM persons WHERE {where} "
                "ORDER BY name, key LIMIT ? OFFSET ?",
                [*params, limit, offset],
            )
            people = [Person(**dict(zip(PERSON_FIELDS, r, strict=True))) for r in cursor.fetchall()]
        return total, people

    def person(self, person_id: str) -> Person | None:
        rows = self.rm.query(
            f"SELECT {', '.join(PERSON_FIELDS)} FROM persons WHERE id = ?", (person_id,)
        )
        return Person(**dict(zip(PERSON_FIELDS, rows[0], strict=True))) if rows else None

    def organizations_by_id(self, ids: Sequence[str]) -> dict[str, Listing]:
        if not ids:
            return {}
        rows = self.rm.query(
            f"SELECT {', '.join(LISTING_FIELDS)} FROM organizations "
            f"WHERE id IN ({', '.join('?' * len(ids))})",
            list(dict.fromkeys(ids)),
        )
        return {listing.id: listing for listing in map(listing_of, rows)}

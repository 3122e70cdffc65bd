"""National queries over the pre-aggregated read model."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pls import divisions
from pls.intake import tracking
from services.ministry_hub.adapters.readmodel import NationalReadModel
from services.ministry_hub.domain.national import FLOW_FIELDS

CLOSED_STATUSES = ("concluded", "callback_done", "rated", "rejected", "transferred")
_CLOSED = list(CLOSED_STATUSES)
# Grouping by the leading columns of the key alone reads the rows in key order, without sorting.
_OPEN_SUM = f"SUM(CASE WHEN status IN ({', '.join('?' * len(_CLOSED))}) THEN 0 ELSE n END)"


@dataclass(frozen=True)
class Scope:
    """Which part of the country a question is about. Filters combine with AND."""

    province: str | None = None
    prefecture: str | None = None
    county: str | None = None
    service_type: str | None = None
    channel: str | None = None
    day_from: date | None = None
    day_to: date | None = None

    @property
    def below_province(self) -> bool:
        return self.prefecture is not None or self.county is not None


def _where(clauses: list[tuple[str, Any]]) -> tuple[str, list[Any]]:
    used = [(sql, value) for sql, value in clauses if value is not None]
    if not used:
        return "", []
    return " WHERE " + " AND ".join(sql for sql, _ in used), [value for _, value in used]


def _moment(now: datetime | None) -> str:
    """The present as deadlines are written (UTC, ISO 8601), to compare with `due_at`."""
    return (now or datetime.now(UTC)).astimezone(UTC).isoformat()


def _days(first: date | None, last: date | None) -> list[tuple[str, Any]]:
    return [
        ("day >= ?", first.isoformat() if first else None),
        ("day <= ?", last.isoformat() if last else None),
    ]


def _months(first: str | None, last: str | None) -> list[tuple[str, Any]]:
    return [("month >= ?", first), ("month <= ?", last)]


def _split_by_month(
    first: date | None, last: date | None
) -> tuple[list[tuple[date | None, date | None]], tuple[str | None, str | None] | None]:
    """A period as whole calendar months (first and last month, None for open ends) and the
    spans of days before and after them; only days when it holds no whole month."""
    start = first if first is None or first.day == 1 else _next_month(first)
    end = (
        last
        if last is None or _next_month(last) == last + timedelta(days=1)
        else (last.replace(day=1) - timedelta(days=1))
    )
    if start is not None and end is not None and start > end:
        return [(first, last)], None
    spans: list[tuple[date | None, date | None]] = []
    if first is not None and start is not None and first < start:
        spans.append((first, start - timedelta(days=1)))
    if last is not None and end is not None and end < last:
        spans.append((end + timedelta(days=1), last))
    return spans, (
        start.isoformat()[:7] if start else None,
        end.isoformat()[:7] if end else None,
    )


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


class NationalQueries:
    def __init__(self, readmodel: NationalReadModel) -> None:
        self.rm = readmodel

    # -- current state -------------------------------------------------------------------------

    def case_totals(self, scope: Scope) -> dict[str, Any]:
        if scope.below_province:
            table = "case_counts"
            geo = [
                ("origin = ?", scope.province),
                ("prefecture = ?", scope.prefecture),
                ("county = ?", scope.county),
            ]
        elif scope.province is not None:
            table = "province_counts"
            geo = [("origin = ?", scope.province)]
        else:
            table, geo = "national_counts", []
        where, params = _where(
            [*geo, ("service_type = ?", scope.service_type), ("channel = ?", scope.channel)]
        )
        rows = self.rm.query(
            f"SELECT service_type, channel, status, outcome, SUM(n) FROM {table}{where} "
            "GROUP BY service_type, channel, status, outcome",
            params,
        )
        totals: dict[str, Any] = {
            "total": 0,
            "open": 0,
            "by_status": defaultdict(int),
            "by_service_type": defaultdict(int),
            "by_channel": defaultdict(int),
            "by_outcome": defaultdict(int),
        }
        for service_type, channel, status, outcome, n in rows:
            n = int(n)
            if not n:
                continue
            totals["total"] += n
            if status not in CLOSED_STATUSES:
                totals["open"] += n
            totals["by_status"][status] += n
            totals["by_service_type"][service_type] += n
            totals["by_channel"][channel] += n
            if outcome:
                totals["by_outcome"][outcome] += n
        for key in ("by_status", "by_service_type", "by_channel", "by_outcome"):
            totals[key] = dict(sorted(totals[key].items()))
        return totals

    # -- flows ---------------------------------------------------------------------------------

    def _flow_source(self, scope: Scope) -> tuple[str, list[tuple[str, Any]]] | None:
        """The narrowest daily flow table that answers for the scope, and its filters."""
        days = _days(scope.day_from, scope.day_to)
        if scope.county is not None:
            if scope.service_type is not None:
                return None  # county flows are not kept per service
            return "flows_county", [
                ("origin = ?", scope.province),
                ("prefecture = ?", scope.prefecture),
                ("county = ?", scope.county),
                *days,
            ]
        if scope.prefecture is not None:
            if scope.service_type is not None:
                return None
            return "flows_prefecture", [
                ("origin = ?", scope.province),
                ("prefecture = ?", scope.prefecture),
                *days,
            ]
        if scope.province is not None:
            return "flows_province", [
                ("origin = ?", scope.province),
                ("service_type = ?", scope.service_type),
                *days,
            ]
        return "flows_national", [("service_type = ?", scope.service_type), *days]

    def flows(self, scope: Scope) -> dict[str, int] | None:
        if scope.channel is not None:
            return None
        source = self._flow_source(scope)
        if source is None:
            return None
        table, clauses = source
        where, params = _where(clauses)
        sums = ", ".join(f"COALESCE(SUM({f}), 0)" for f in FLOW_FIELDS)
        row = self.rm.query(f"SELECT {sums} FROM {table}{where}", params)[0]
        return {name: int(value) for name, value in zip(FLOW_FIELDS, row, strict=True)}

    def timeseries(self, scope: Scope, metrics: list[str]) -> list[dict[str, Any]] | None:
        source = self._flow_source(scope)
        if source is None or scope.channel is not None:
            return None
        table, clauses = source
        where, params = _where(clauses)
        sums = ", ".join(f"SUM({m})" for m in metrics)
        rows = self.rm.query(
            f"SELECT day, {sums} FROM {table}{where} GROUP BY day ORDER BY day", params
        )
        return [
            {"day": row[0], "values": dict(zip(metrics, (int(v) for v in row[1:]), strict=True))}
            for row in rows
        ]

    def open_overdue(self, scope: Scope, now: datetime | None = None) -> int:
        where, params = _where(
            [
                ("origin = ?", scope.province),
                ("prefecture = ?", scope.prefecture),
                ("county = ?", scope.county),
                ("service_type = ?", scope.service_type),
                ("due_at < ?", _moment(now)),
            ]
        )
        table = "open_deadlines" if scope.below_province else "open_deadlines_province"
        rows = self.rm.query(f"SELECT COALESCE(SUM(n), 0) FROM {table}{where}", params)
        return int(rows[0][0])

    # -- comparisons ---------------------------------------------------------------------------

    def by_province(self, scope: Scope) -> dict[str, dict[str, Any]]:
        """Per province: cases, flows, overdue deadlines, complaints and agencies."""
        result: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(int))
        where, params = _where(
            [("service_type = ?", scope.service_type), ("channel = ?", scope.channel)]
        )
        for origin, total, still_open in self.rm.query(
            f"SELECT origin, SUM(n), {_OPEN_SUM} FROM province_counts{where} GROUP BY origin",
            [*_CLOSED, *params],
        ):
            result[origin]["total"] += int(total)
            result[origin]["open"] += int(still_open)
        if scope.channel is None:
            sums = ", ".join(f"SUM({f})" for f in FLOW_FIELDS)
            service = ("service_type = ?", scope.service_type)
            days, months = _split_by_month(scope.day_from, scope.day_to)
            parts = [("flows_province", [service, *_days(*span)]) for span in days]
            if months is not None:
                parts.append(("flows_province_month", [service, *_months(*months)]))
            for table, clauses in parts:
                where, params = _where(clauses)
                for row in self.rm.query(
                    f"SELECT origin, {sums} FROM {table}{where} GROUP BY origin", params
                ):
                    for name, value in zip(FLOW_FIELDS, row[1:], strict=True):
                        result[row[0]][name] += int(value or 0)
        where, params = _where(
            [("service_type = ?", scope.service_type), ("due_at < ?", _moment(None))]
        )
        for origin, n in self.rm.query(
            f"SELECT origin, SUM(n) FROM open_deadlines_province{where} GROUP BY origin", params
        ):
            result[origin]["open_overdue"] = int(n)
        for origin, n in self.rm.query(
            "SELECT origin, SUM(n) FROM complaint_counts GROUP BY origin"
        ):
            result[origin]["complaints"] = int(n)
        for origin, n in self.rm.query(
            "SELECT origin, SUM(n) FROM agency_counts WHERE standing <> 'closed' GROUP BY origin"
        ):
            result[origin]["agencies"] = int(n)
        return {origin: dict(values) for origin, values in result.items()}

    def drill_down(self, scope: Scope, level: str) -> dict[str, dict[str, Any]]:
        """Per prefecture of a province (`level="prefecture"`) or per county of a prefecture."""
        column = level
        result: dict[str, dict[str, Any]] = defaultdict(lambda: defaultdict(int))
        geo = [
            ("origin = ?", scope.province),
            ("prefecture = ?", scope.prefecture),
            ("county = ?", scope.county),
        ]
        where, params = _where(
            [*geo, ("service_type = ?", scope.service_type), ("channel = ?", scope.channel)]
        )
        for key, total, still_open in self.rm.query(
            f"SELECT {column}, SUM(n), {_OPEN_SUM} FROM case_counts{where} GROUP BY {column}",
            [*_CLOSED, *params],
        ):
            result[key]["total"] += int(total)
            result[key]["open"] += int(still_open)
        if scope.service_type is None and scope.channel is None:
            table = (
                "flows_prefecture"
                if level == "prefecture" and scope.county is None
                else ("flows_county")
            )
            clauses = geo if table == "flows_county" else geo[:2]
            where, params = _where([*clauses, *_days(scope.day_from, scope.day_to)])
            sums = ", ".join(f"SUM({f})" for f in FLOW_FIELDS)
            for row in self.rm.query(
                f"SELECT {column}, {sums} FROM {table}{where} GROUP BY {column}", params
            ):
                for name, value in zip(FLOW_FIELDS, row[1:], strict=True):
                    result[row[0]][name] += int(value or 0)
        where, params = _where(
            [*geo, ("service_type = ?", scope.service_type), ("due_at < ?", _moment(None))]
        )
        for key, n in self.rm.query(
            f"SELECT {column}, SUM(n) FROM open_deadlines{where} GROUP BY {column}", params
        ):
            result[key]["open_overdue"] = int(n)
        return {key: dict(values) for key, values in result.items()}

    # -- one case ------------------------------------------------------------------------------

    def case(self, origin: str, case_id: str) -> dict[str, Any] | None:
        """One case's national row, by its primary key."""
        rows = self.rm.query(
            "SELECT prefecture, county, service_type, channel, status, outcome, received_at, "
            "agency_id, categories, detained FROM cases WHERE key = ?",
            (f"{origin}:{case_id}",),
        )
        if not rows:
            return None
        names = ("prefecture", "county", "service_type", "channel", "status", "outcome")
        row = rows[0]
        return {
            "province": origin,
            "case_id": case_id,
            **dict(zip(names, row[:6], strict=True)),
            "received_at": row[6],
            "agency_id": row[7],
            "applicant_categories": [c for c in row[8].split(",") if c],
            "detained": bool(row[9]),
        }

    # -- dead letters --------------------------------------------------------------------------

    def dead_letters(
        self, origin: str | None, offset: int, limit: int
    ) -> tuple[int, list[dict[str, Any]]]:
        return tracking.list_dead_letters(self.rm.db, origin, offset, limit)


def name_of(code: str) -> str:
    return divisions.gazetteer().name(code)

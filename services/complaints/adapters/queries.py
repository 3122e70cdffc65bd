"""National supervision queries: what is overdue now, rates per province and agency, credit."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pls.intake import tracking
from services.complaints.adapters.readmodel import (
    COMPLAINT_FIELDS,
    DEADLINE_FIELDS,
    SupervisionReadModel,
    instant,
    stamp,
)
from services.complaints.domain.rules import DeadlineClock, SupervisionRules

UPHELD = ("upheld", "partly_upheld")


@dataclass(frozen=True)
class OverdueFilter:
    kind: str | None = None
    province: str | None = None
    agency_id: str | None = None
    category: str | None = None
    min_days_overdue: float | None = None


def _where(clauses: list[tuple[str, Any]]) -> tuple[str, list[Any]]:
    used = [(sql, value) for sql, value in clauses if value is not None]
    return " AND ".join(sql for sql, _ in used), [value for _, value in used]


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


class SupervisionQueries:
    def __init__(
        self, readmodel: SupervisionReadModel, rules: SupervisionRules, clock: DeadlineClock
    ) -> None:
        self.rm = readmodel
        self.rules = rules
        self.clock = clock

    # -- overdue ---------------------------------------------------------------------------------

    def overdue(
        self, where: OverdueFilter, now: datetime, offset: int, limit: int
    ) -> tuple[int, list[dict[str, Any]]]:
        """Open deadlines past due at `now`, longest overdue first."""
        threshold = now
        if where.min_days_overdue:
            timeline = self.clock.timeline
            threshold = timeline.real(
                timeline.supervised(now) - timedelta(days=where.min_days_overdue)
            )
        clause, params = _where(
            [
                ("kind = ?", where.kind),
                ("province = ?", where.province),
                ("agency_id = ?", where.agency_id),
                ("category = ?", where.category),
            ]
        )
        condition = "done_at IS NULL AND due_at < ?" + (f" AND {clause}" if clause else "")
        params = [stamp(threshold), *params]
        total = int(
            self.rm.query(f"SELECT COUNT(*) FROM deadlines WHERE {condition}", params)[0][0]
        )
        rows = self.rm.rows(
            f"SELECT {', '.join(DEADLINE_FIELDS)} FROM deadlines WHERE {condition} "
            "ORDER BY due_at, key LIMIT ? OFFSET ?",
            [*params, limit, offset],
            DEADLINE_FIELDS,
        )
        return total, [self._overdue_item(row, now) for row in rows]

    def _overdue_item(self, row: dict[str, Any], now: datetime) -> dict[str, Any]:
        due = instant(row["due_at"])
        rule = self.rules.by_id(row["rule_id"])
        return {
            **row,
            "started_at": instant(row["started_at"]),
            "due_at": due,
            "days_overdue": round(self.clock.days_overdue(due, now), 2),
            "working_days_overdue": self.clock.working_days_overdue(due, now),
            "escalation": ("none", "province", "ministry")[row["escalation_level"]],
            "basis": rule.basis if rule else None,
        }

    def complaint(self, province: str, complaint_id: str) -> dict[str, Any] | None:
        found = self.rm.rows(
            f"SELECT {', '.join(COMPLAINT_FIELDS)} FROM complaints WHERE key = ?",
            [f"{province}:{complaint_id}"],
            COMPLAINT_FIELDS,
        )
        if not found:
            return None
        deadlines = self.rm.rows(
            f"SELECT {', '.join(DEADLINE_FIELDS)} FROM deadlines "
            "WHERE province = ? AND subject_id = ? ORDER BY started_at, key",
            [province, complaint_id],
            DEADLINE_FIELDS,
        )
        return {**found[0], "deadlines": deadlines}

    # -- rates -----------------------------------------------------------------------------------

    def rates(self, by: str, province: str | None, now: datetime) -> list[dict[str, Any]]:
        """Per province (`by="province"`) or per agency: complaints per 10k services, share
        handled in time, median days to resolve, share upheld."""
        per_agency = by == "agency"
        group = "province, agency_id" if per_agency else "province"
        scope, params = _where([("province = ?", province)])
        agency_only = "agency_id IS NOT NULL" if per_agency else ""
        conditions = " AND ".join(c for c in (scope, agency_only) if c)
        where = f" WHERE {conditions}" if conditions else ""
        rows: dict[tuple[str, ...], dict[str, Any]] = defaultdict(lambda: defaultdict(int))

        def key(values: tuple[Any, ...]) -> tuple[str, ...]:
            return tuple(str(v) for v in values[: 2 if per_agency else 1])

        service_rows = self.rm.query(
            f"SELECT province, agency_id, n FROM services{' WHERE province = ?' if province else ''}",
            [province] if province else [],
        )
        for prov, agency, n in service_rows:
            if per_agency and agency:
                rows[(prov, agency)]["services"] += int(n)
            elif not per_agency and not agency:
                rows[(prov,)]["services"] += int(n)
        for found in self.rm.query(
            f"SELECT {group}, COUNT(*), "
            "SUM(CASE WHEN resolved_at IS NOT NULL AND outcome IS NOT NULL THEN 1 ELSE 0 END), "
            f"SUM(CASE WHEN outcome IN ('upheld', 'partly_upheld') THEN 1 ELSE 0 END) "
            f"FROM complaints{where} GROUP BY {group}",
            params,
        ):
            values = rows[key(found)]
            values["complaints"] += int(found[-3])
            values["resolved"] += int(found[-2] or 0)
            values["upheld"] += int(found[-1] or 0)
        deadline_where = " AND ".join(c for c in ("kind = 'complaint'", scope, agency_only) if c)
        for found in self.rm.query(
            f"SELECT {group}, SUM(CASE WHEN met = 1 THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN met = 0 THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN done_at IS NULL AND due_at < ? THEN 1 ELSE 0 END) "
            f"FROM deadlines WHERE {deadline_where} GROUP BY {group}",
            [stamp(now), *params],
        ):
            values = rows[key(found)]
            values["deadlines_met"] += int(found[-3] or 0)
            values["deadlines_late"] += int(found[-2] or 0)
            values["open_overdue"] += int(found[-1] or 0)
        durations: dict[tuple[str, ...], list[float]] = defaultdict(list)
        for found in self.rm.query(
            f"SELECT {group}, days_to_resolve FROM complaints{where}"
            + (" AND" if where else " WHERE")
            + " days_to_resolve IS NOT NULL",
            params,
        ):
            durations[key(found)].append(float(found[-1]))
        result = []
        for group_key, values in sorted(rows.items()):
            met, late, overdue = (
                values["deadlines_met"],
                values["deadlines_late"],
                values["open_overdue"],
            )
            days = durations.get(group_key)
            result.append(
                {
                    "province": group_key[0],
                    "agency_id": group_key[1] if per_agency else None,
                    "services": values["services"],
                    "complaints": values["complaints"],
                    "complaints_per_10k": round(
                        values["complaints"] * 10_000 / values["services"], 2
                    )
                    if values["services"]
                    else None,
                    "deadlines_met": met,
                    "deadlines_late": late,
                    "open_overdue": overdue,
                    "share_in_time": _ratio(met, met + late + overdue),
                    "resolved": values["resolved"],
                    "median_days_to_resolve": round(statistics.median(days), 2) if days else None,
                    "upheld": values["upheld"],
                    "share_upheld": _ratio(values["upheld"], values["resolved"]),
                }
            )
        return result

    # -- credit ----------------------------------------------------------------------------------

    def credit(self, agency_id: str, province: str | None) -> list[dict[str, Any]]:
        """Complaints against the agency (or its staff) published as upheld, and any withdrawn."""
        scope, params = _where([("province = ?", province)])
        return self.rm.rows(
            f"SELECT {', '.join(COMPLAINT_FIELDS)} FROM complaints WHERE agency_id = ? "
            "AND credit IN ('published', 'withdraw_due', 'withdrawn')"
            + (f" AND {scope}" if scope else "")
            + " ORDER BY resolved_at, key",
            [agency_id, *params],
            COMPLAINT_FIELDS,
        )

    def credit_summary(
        self, province: str | None, offset: int, limit: int
    ) -> tuple[int, list[dict[str, Any]]]:
        """Agencies with upheld complaints in their credit record, most first."""
        scope, params = _where([("province = ?", province)])
        where = "agency_id IS NOT NULL AND credit IN ('published', 'withdraw_due')" + (
            f" AND {scope}" if scope else ""
        )
        total = int(
            self.rm.query(
                f"SELECT COUNT(*) FROM (SELECT province, agency_id FROM complaints WHERE {where} "
                "GROUP BY province, agency_id) AS agencies",
                params,
            )[0][0]
        )
        rows = self.rm.query(
            f"SELECT province, agency_id, COUNT(*), MAX(resolved_at) FROM complaints WHERE {where} "
            "GROUP BY province, agency_id ORDER BY COUNT(*) DESC, province, agency_id "
            "LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return total, [
            {
                "province": r[0],
                "agency_id": r[1],
                "upheld": int(r[2]),
                "last_resolved_at": instant(r[3]) if r[3] else None,
            }
            for r in rows
        ]

    def dead_letters(
        self, origin: str | None, offset: int, limit: int
    ) -> tuple[int, list[dict[str, Any]]]:
        return tracking.list_dead_letters(self.rm.db, origin, offset, limit)

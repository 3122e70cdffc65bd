"""The decisions national supervision records, each exactly once.

Every decision's id is derived from what it is about (province, complaint or case, rule, round of
handling, level), so however often a deadline is checked, the service restarts or a province's
event arrives twice, a second decision about the same thing cannot be recorded.
"""

from __future__ import annotations

import uuid
from dataclasses import fields
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.domain import Aggregate

NAMESPACE = UUID("3c0e6a8f-52d1-4b7e-9f14-6d2a8b0c7e55")
_BASE_FIELDS = {"originator_id", "originator_version", "timestamp"}


def decision_id(kind: str, *about: object) -> UUID:
    return uuid.uuid5(NAMESPACE, "/".join([kind, *(str(part) for part in about)]))


class Decision(Aggregate):
    """A recorded decision: its fields are those of the event that recorded it."""

    class Recorded(Aggregate.Created):
        def apply(self, aggregate: Any) -> None:
            for field in fields(self):
                if field.name not in _BASE_FIELDS:
                    setattr(aggregate, field.name, getattr(self, field.name))

    def __init__(self) -> None:
        pass


class DeadlineMissed(Decision):
    """A phase of handling a complaint ran past its deadline."""

    class Recorded(Decision.Recorded):
        province: str
        complaint_id: str
        rule_id: str
        phase: str
        round: int
        started_at: datetime
        due_at: datetime
        against: str
        agency_id: str | None
        category: str
        detected_at: datetime

    @staticmethod
    def id_for(province: str, complaint_id: str, rule_id: str, round: int) -> UUID:
        return decision_id("deadline_missed", province, complaint_id, rule_id, round)


class Escalation(Decision):
    """An overdue complaint escalated for supervision (督办) at a level."""

    class Recorded(Decision.Recorded):
        province: str
        complaint_id: str
        rule_id: str
        phase: str
        round: int
        level: str
        due_at: datetime
        escalated_at: datetime
        agency_id: str | None
        category: str

    @staticmethod
    def id_for(province: str, complaint_id: str, rule_id: str, round: int, level: str) -> UUID:
        return decision_id("escalation", province, complaint_id, rule_id, round, level)


class CallbackMissed(Decision):
    """A dissatisfied rating was not followed by a callback in time."""

    class Recorded(Decision.Recorded):
        province: str
        case_id: str
        rule_id: str
        round: int
        rated_at: datetime
        due_at: datetime
        agency_id: str | None
        service_type: str | None
        detected_at: datetime

    @staticmethod
    def id_for(province: str, case_id: str, round: int) -> UUID:
        return decision_id("callback_missed", province, case_id, round)


class Upholding(Decision):
    """A complaint a province found upheld or partly upheld: an entry in the credit record."""

    class Recorded(Decision.Recorded):
        province: str
        complaint_id: str
        round: int
        against: str
        agency_id: str | None
        person_id: str | None
        service_type: str | None
        category: str
        outcome: str
        finding: str | None
        resolved_at: datetime

        def apply(self, aggregate: Any) -> None:
            super().apply(aggregate)
            aggregate.withdrawn_at = None

    class Withdrawn(Aggregate.Event):
        province: str
        complaint_id: str
        agency_id: str | None
        person_id: str | None
        withdrawn_at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.withdrawn_at = self.withdrawn_at

    if TYPE_CHECKING:
        province: str
        complaint_id: str
        agency_id: str | None
        person_id: str | None
        withdrawn_at: datetime | None

    @staticmethod
    def id_for(province: str, complaint_id: str, round: int) -> UUID:
        return decision_id("upheld", province, complaint_id, round)

    def withdraw(self, at: datetime) -> None:
        """A later round of handling no longer upholds the complaint."""
        if self.withdrawn_at is None:
            self.trigger_event(
                self.Withdrawn,
                province=self.province,
                complaint_id=self.complaint_id,
                agency_id=self.agency_id,
                person_id=self.person_id,
                withdrawn_at=at,
            )

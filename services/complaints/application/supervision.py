"""The supervision application: the decisions national supervision records, each exactly once.

Each method derives the decision's id from what it is about, and records it only if no decision
with that id exists; a concurrent attempt loses on the event store's uniqueness and finds the one
that won. Its event store is the service's own system of record, published through its journal.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError, Recording

from services.complaints.domain.decisions import (
    CallbackMissed,
    DeadlineMissed,
    Decision,
    Escalation,
    Upholding,
)

D = TypeVar("D", bound=Decision)


class Supervision(Application[UUID]):
    name = "Supervision"

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        # Told of every committed transaction's recordings, in the thread that committed it.
        self.on_recorded: list[Callable[[list[Recording[UUID]]], None]] = []

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        recordings = super().save(*objs, **kwargs)
        if recordings:
            for listener in self.on_recorded:
                listener(recordings)
        return recordings

    def _find(self, kind: type[D], decision_id: UUID) -> D | None:
        try:
            found: Any = self.repository.get(decision_id)
        except AggregateNotFoundError:
            return None
        return found if isinstance(found, kind) else None

    def _record_once(self, kind: type[D], decision_id: UUID, **fields: Any) -> tuple[D, bool]:
        existing = self._find(kind, decision_id)
        if existing is not None:
            return existing, False
        decision: D = kind._create(kind.Recorded, id=decision_id, **fields)
        try:
            self.save(decision)
        except IntegrityError:
            found = self._find(kind, decision_id)
            assert found is not None
            return found, False
        return decision, True

    # -- decisions -------------------------------------------------------------------------------

    def record_deadline_missed(self, **fields: Any) -> tuple[DeadlineMissed, bool]:
        decision_id = DeadlineMissed.id_for(
            fields["province"], fields["complaint_id"], fields["rule_id"], fields["round"]
        )
        return self._record_once(DeadlineMissed, decision_id, **fields)

    def escalate(self, **fields: Any) -> tuple[Escalation, bool]:
        decision_id = Escalation.id_for(
            fields["province"],
            fields["complaint_id"],
            fields["rule_id"],
            fields["round"],
            fields["level"],
        )
        return self._record_once(Escalation, decision_id, **fields)

    def record_callback_missed(self, **fields: Any) -> tuple[CallbackMissed, bool]:
        decision_id = CallbackMissed.id_for(fields["province"], fields["case_id"], fields["round"])
        return self._record_once(CallbackMissed, decision_id, **fields)

    def record_upheld(self, **fields: Any) -> tuple[Upholding, bool]:
        decision_id = Upholding.id_for(fields["province"], fields["complaint_id"], fields["round"])
        return self._record_once(Upholding, decision_id, **fields)

    def withdraw_upholding(
        self, province: str, complaint_id: str, round: int, at: datetime
    ) -> Upholding | None:
        upholding = self._find(Upholding, Upholding.id_for(province, complaint_id, round))
        if upholding is None or upholding.withdrawn_at is not None:
            return upholding
        upholding.withdraw(at)
        try:
            self.save(upholding)
        except IntegrityError:
            return self._find(Upholding, upholding.id)
        return upholding

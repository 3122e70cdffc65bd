"""What the decisions already recorded say about a rebuilt supervision read model.

The read model is derived from the provinces' events, except for what the deadline watch writes
after recording a decision: a deadline's `missed_recorded` and `escalation_level`, a complaint's
credit state (`published`, `withdraw_due`, `withdrawn`). A read model rebuilt from the provinces
alone would have the watch decide again: harmless where a decision's id makes it once-only, but
not where it matters what was published before (an upholding published for one round and taken
back in a later one). So a rebuilt read model takes those marks from the service's own event
store, the system of record of its decisions, before it goes live.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from pls.sqlstore import Database
from services.complaints.adapters.readmodel import key_of
from services.complaints.application.supervision import Supervision
from services.complaints.domain.decisions import (
    CallbackMissed,
    DeadlineMissed,
    Escalation,
    Upholding,
)

LEVELS = {"province": 1, "ministry": 2}


@dataclass
class Recorded:
    """Every decision in the event store, keyed by what it is about."""

    missed: set[tuple[str, str, str, int]] = field(default_factory=set)
    escalated: dict[tuple[str, str, str, int], int] = field(default_factory=dict)
    callbacks_missed: set[tuple[str, str, int]] = field(default_factory=set)
    # complaint key -> {round: withdrawn}
    upholdings: dict[str, dict[int, bool]] = field(default_factory=dict)

    @classmethod
    def read(cls, supervision: Supervision, page: int = 5000) -> Recorded:
        recorded = cls()
        rounds: dict[UUID, tuple[str, int]] = {}
        position = 0
        while True:
            notifications = supervision.recorder.select_notifications(
                start=position + 1, limit=page
            )
            if not notifications:
                return recorded
            for notification in notifications:
                recorded._take(supervision.mapper.to_domain_event(notification), rounds)
            position = notifications[-1].id

    def _take(self, event: Any, rounds: dict[UUID, tuple[str, int]]) -> None:
        if isinstance(event, DeadlineMissed.Recorded):
            self.missed.add((event.province, event.complaint_id, event.rule_id, event.round))
        elif isinstance(event, Escalation.Recorded):
            about = (event.province, event.complaint_id, event.rule_id, event.round)
            self.escalated[about] = max(self.escalated.get(about, 0), LEVELS.get(event.level, 0))
        elif isinstance(event, CallbackMissed.Recorded):
            self.callbacks_missed.add((event.province, event.case_id, event.round))
        elif isinstance(event, Upholding.Recorded):
            key = key_of(event.province, event.complaint_id)
            rounds[event.originator_id] = (key, event.round)
            self.upholdings.setdefault(key, {})[event.round] = False
        elif isinstance(event, Upholding.Withdrawn) and event.originator_id in rounds:
            key, round_ = rounds[event.originator_id]
            self.upholdings[key][round_] = True


def settle(db: Database, recorded: Recorded) -> None:
    """Set the rebuilt read model's marks from the decisions recorded, so the watch decides only
    what is still to decide, exactly as it would have on the live read model."""
    with db.transaction() as cursor:
        cursor.execute("SELECT key, kind, province, subject_id, rule_id, round FROM deadlines")
        marks = []
        for key, kind, province, subject, rule, round_ in cursor.fetchall():
            if kind == "complaint":
                level = recorded.escalated.get((province, subject, rule, round_), 0)
                # Missed is settled once the province escalation was recorded too.
                done = (province, subject, rule, round_) in recorded.missed and level >= 1
            else:
                level, done = 0, (province, subject, round_) in recorded.callbacks_missed
            if done or level:
                marks.append((int(done), level, key))
        cursor.executemany(
            "UPDATE deadlines SET missed_recorded = ?, escalation_level = ? WHERE key = ?", marks
        )
        cursor.execute("SELECT key, credit, credit_round FROM complaints WHERE credit <> 'none'")
        credit = {key: (state, round_) for key, state, round_ in cursor.fetchall()}
        changes = []
        for key in set(credit) | set(recorded.upholdings):
            state, round_ = credit.get(key, ("none", None))
            upheld = recorded.upholdings.get(key, {})
            standing = [r for r, withdrawn in upheld.items() if not withdrawn]
            taken_back = [r for r, withdrawn in upheld.items() if withdrawn]
            upheld_now = state in ("due", "published")  # the last outcome upholds it
            if upheld_now:
                state, round_ = ("published", max(standing)) if standing else ("due", round_)
            elif standing:
                state, round_ = "withdraw_due", max(standing)
            elif taken_back:
                state, round_ = "withdrawn", max(taken_back)
            changes.append((state, round_, key))
        cursor.executemany(
            "UPDATE complaints SET credit = ?, credit_round = ? WHERE key = ?", changes
        )

"""The deadline watch: passed deadlines and new findings into the supervision's decisions.

It runs every few seconds and after each applied batch. A deadline past due is recorded as missed
and escalated to the province; one still open `escalate_after` working days later is escalated to
the ministry; a resolution found upheld enters the credit record (and leaves it again when a later
round no longer upholds it). Each decision is recorded once whatever happens: the read model says
what is still to do, and the application refuses a second decision about the same thing.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

import structlog
from prometheus_client import Counter

from contracts.vocabulary import EscalationLevel
from pls.clock import Clock
from services.complaints.adapters.readmodel import SupervisionReadModel, instant
from services.complaints.application.projection import SupervisionProjection
from services.complaints.application.supervision import Supervision

log = structlog.get_logger(__name__)
DECISIONS = Counter(
    "pls_complaints_decisions_total", "Supervision decisions recorded", ["decision"]
)


class DeadlineWatch:
    def __init__(
        self,
        readmodel: SupervisionReadModel,
        projection: SupervisionProjection,
        supervision: Supervision,
        clock: Clock,
        *,
        interval: float = 5.0,
    ) -> None:
        self.readmodel = readmodel
        self.projection = projection
        self.supervision = supervision
        self.clock = clock
        self.interval = interval
        self.last_error: str | None = None
        self.last_checked: datetime | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        projection.after_commit.append(self.wake)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="deadline-watch", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.check()
                self.last_error = None
            except Exception as error:  # the next round tries again; nothing is half-decided
                self.last_error = repr(error)
                log.exception("deadline watch failed; retrying")
            self._wake.wait(self.interval)
            self._wake.clear()

    def check(self) -> int:
        """Record every decision that is due now; returns how many were newly recorded."""
        with self.projection.lock:
            now = self.clock.now()
            recorded = self._missed(now) + self._ministry(now) + self._credit(now)
            self.last_checked = now
        return recorded

    def _missed(self, now: datetime) -> int:
        recorded = 0
        for deadline in self.readmodel.newly_missed(now):
            if deadline["kind"] == "complaint":
                recorded += self._record_missed(deadline, now)
                recorded += self._escalate(deadline, EscalationLevel.PROVINCE, now)
                level = max(1, deadline["escalation_level"])
            else:
                _, new = self.supervision.record_callback_missed(
                    province=deadline["province"],
                    case_id=deadline["subject_id"],
                    rule_id=deadline["rule_id"],
                    round=deadline["round"],
                    rated_at=instant(deadline["started_at"]),
                    due_at=instant(deadline["due_at"]),
                    agency_id=deadline["agency_id"],
                    service_type=deadline["service_type"],
                    detected_at=now,
                )
                recorded += self._count(new, "callback_missed")
                level = deadline["escalation_level"]
            self.readmodel.mark(
                "deadlines", deadline["key"], missed_recorded=1, escalation_level=level
            )
        return recorded

    def _record_missed(self, deadline: dict[str, Any], now: datetime) -> int:
        _, new = self.supervision.record_deadline_missed(
            province=deadline["province"],
            complaint_id=deadline["subject_id"],
            rule_id=deadline["rule_id"],
            phase=deadline["phase"],
            round=deadline["round"],
            started_at=instant(deadline["started_at"]),
            due_at=instant(deadline["due_at"]),
            against=deadline["against"],
            agency_id=deadline["agency_id"],
            category=deadline["category"],
            detected_at=now,
        )
        return self._count(new, "deadline_missed")

    def _escalate(self, deadline: dict[str, Any], level: EscalationLevel, now: datetime) -> int:
        _, new = self.supervision.escalate(
            province=deadline["province"],
            complaint_id=deadline["subject_id"],
            rule_id=deadline["rule_id"],
            phase=deadline["phase"],
            round=deadline["round"],
            level=level.value,
            due_at=instant(deadline["due_at"]),
            escalated_at=now,
            agency_id=deadline["agency_id"],
            category=deadline["category"],
        )
        return self._count(new, f"escalated_{level.value}")

    def _ministry(self, now: datetime) -> int:
        recorded = 0
        for deadline in self.readmodel.due_for_ministry(now):
            recorded += self._escalate(deadline, EscalationLevel.MINISTRY, now)
            self.readmodel.mark("deadlines", deadline["key"], escalation_level=2)
        return recorded

    def _credit(self, now: datetime) -> int:
        recorded = 0
        for complaint in self.readmodel.credit_pending():
            if complaint["credit"] == "due":
                _, new = self.supervision.record_upheld(
                    province=complaint["province"],
                    complaint_id=complaint["complaint_id"],
                    round=complaint["credit_round"],
                    against=complaint["against"],
                    agency_id=complaint["agency_id"],
                    person_id=complaint["person_id"],
                    service_type=complaint["service_type"],
                    category=complaint["category"],
                    outcome=complaint["outcome"],
                    finding=complaint["finding"],
                    resolved_at=instant(complaint["resolved_at"]),
                )
                recorded += self._count(new, "upheld")
                self.readmodel.mark("complaints", complaint["key"], credit="published")
            else:
                self.supervision.withdraw_upholding(
                    complaint["province"], complaint["complaint_id"], complaint["credit_round"], now
                )
                recorded += self._count(True, "upholding_withdrawn")
                self.readmodel.mark("complaints", complaint["key"], credit="withdrawn")
        return recorded

    @staticmethod
    def _count(new: bool, decision: str) -> int:
        if new:
            DECISIONS.labels(decision).inc()
        return int(new)

"""A service complaint (服务投诉) about an agency, a person or a platform service.

Statuses follow the Open311 / FixMyStreet vocabulary adapted to this domain:
received → accepted or not accepted (with a reason) → investigating → action taken → resolved
(upheld, partly upheld or not upheld, with a finding) → closed; a resolved, not accepted or closed
complaint can be reopened and investigated again. Each step records who took it (the command's
actor), when it took effect (`at`, which may be earlier than when it was recorded) and when it was
recorded. The finding's free text and the complainant's personal data stay in the province.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from contracts.vocabulary import ComplaintOutcome, ComplaintStatus
from services.province_node.domain.base import NodeAggregate
from services.province_node.domain.errors import (
    FindingRequired,
    OutcomeRequired,
    ReasonRequired,
    StepBeforePreviousStep,
    TransitionNotAllowed,
)

C = ComplaintStatus
NEXT_STATUSES: dict[str, set[str]] = {
    C.RECEIVED: {C.ACCEPTED, C.NOT_ACCEPTED},
    C.ACCEPTED: {C.INVESTIGATING},
    C.INVESTIGATING: {C.ACTION_TAKEN, C.RESOLVED},
    C.ACTION_TAKEN: {C.RESOLVED},
    C.RESOLVED: {C.CLOSED, C.REOPENED},
    C.NOT_ACCEPTED: {C.CLOSED, C.REOPENED},
    C.CLOSED: {C.REOPENED},
    C.REOPENED: {C.INVESTIGATING},
}
UPHELD = {ComplaintOutcome.UPHELD.value, ComplaintOutcome.PARTLY_UPHELD.value}


class Complaint(NodeAggregate):
    """A complaint and how it was handled."""

    class Filed(NodeAggregate.Created):
        province: str
        against: str
        agency_id: str | None
        person_id: str | None
        service_type: str | None
        case_id: str | None
        category: str
        channel: str
        received_at: datetime
        complainant: dict[str, Any]
        complainant_id: str
        description: str | None

        def evolve(self, complaint: Complaint) -> None:
            complaint.province = self.province
            complaint.against = self.against
            complaint.agency_id = self.agency_id
            complaint.person_id = self.person_id
            complaint.service_type = self.service_type
            complaint.case_id = self.case_id
            complaint.category = self.category
            complaint.channel = self.channel
            complaint.received_at = self.received_at
            complaint.complainant = dict(self.complainant)
            complaint.complainant_id = self.complainant_id
            complaint.description = self.description
            complaint.status = C.RECEIVED.value
            complaint.last_step_at = self.received_at
            complaint.round = 0
            complaint.not_accepted_reason = None
            complaint.outcome = None
            complaint.finding = None
            complaint.finding_text = None
            complaint.history = []
            complaint.record_step(self, C.RECEIVED.value, self.received_at)

    class StatusChanged(NodeAggregate.Event):
        """The generic status change recorded by earlier versions (still replayed)."""

        status: str
        note: str | None

        def evolve(self, complaint: Complaint) -> None:
            complaint.status = self.status
            complaint.record_step(self, self.status, self.timestamp)

    class Step(NodeAggregate.Event):
        """A step of the handling process, effective `at`."""

        status: ClassVar[str] = ""
        at: datetime
        note: str | None

        def evolve(self, complaint: Complaint) -> None:
            complaint.status = self.status
            complaint.last_step_at = self.at
            self.change(complaint)
            complaint.record_step(self, self.status, self.at, **self.particulars())

        def change(self, complaint: Complaint) -> None:
            """What else the step changes."""

        def particulars(self) -> dict[str, Any]:
            return {}

    class Accepted(Step):
        status: ClassVar[str] = C.ACCEPTED.value

    class NotAccepted(Step):
        status: ClassVar[str] = C.NOT_ACCEPTED.value
        reason: str

        def change(self, complaint: Complaint) -> None:
            complaint.not_accepted_reason = self.reason

        def particulars(self) -> dict[str, Any]:
            return {"reason": self.reason}

    class InvestigationStarted(Step):
        status: ClassVar[str] = C.INVESTIGATING.value

    class ActionTaken(Step):
        status: ClassVar[str] = C.ACTION_TAKEN.value
        action: str

        def particulars(self) -> dict[str, Any]:
            return {"action": self.action}

    class Resolved(Step):
        status: ClassVar[str] = C.RESOLVED.value
        outcome: str
        finding: str
        finding_text: str | None

        def change(self, complaint: Complaint) -> None:
            complaint.outcome = self.outcome
            complaint.finding = self.finding
            complaint.finding_text = self.finding_text

        def particulars(self) -> dict[str, Any]:
            return {"outcome": self.outcome, "finding": self.finding}

    class Closed(Step):
        status: ClassVar[str] = C.CLOSED.value

    class Reopened(Step):
        status: ClassVar[str] = C.REOPENED.value
        reason: str

        def change(self, complaint: Complaint) -> None:
            complaint.round += 1
            complaint.not_accepted_reason = None
            complaint.outcome = None
            complaint.finding = None
            complaint.finding_text = None

        def particulars(self) -> dict[str, Any]:
            return {"reason": self.reason}

    if TYPE_CHECKING:  # state, set by the events above
        province: str
        against: str
        agency_id: str | None
        person_id: str | None
        service_type: str | None
        case_id: str | None
        category: str
        channel: str
        received_at: datetime
        complainant: dict[str, Any]
        complainant_id: str
        description: str | None
        status: str
        last_step_at: datetime
        round: int
        not_accepted_reason: str | None
        outcome: str | None
        finding: str | None
        finding_text: str | None
        history: list[dict[str, Any]]

    @classmethod
    def file(cls, *, id: UUID, **fields: Any) -> Complaint:
        return cls._create(cls.Filed, id=id, **fields)

    def record_step(self, event: Any, status: str, at: datetime, **particulars: Any) -> None:
        self.history.append(
            {
                "status": status,
                "at": at,
                "recorded_at": event.timestamp,
                "actor": event.actor,
                **particulars,
            }
        )

    # -- the handling process --------------------------------------------------------------------

    def _step(self, event_class: type[Any], at: datetime, **fields: Any) -> None:
        target = event_class.status
        allowed = NEXT_STATUSES.get(self.status, set())
        if target not in allowed:
            choices = ", ".join(sorted(allowed)) or "none"
            raise TransitionNotAllowed(
                f"a complaint that is {self.status} can move only to: {choices}"
            )
        if at < self.last_step_at:
            raise StepBeforePreviousStep(
                f"{StepBeforePreviousStep.rule} ({target} at {at.isoformat()} is before "
                f"{self.status} at {self.last_step_at.isoformat()})"
            )
        self.trigger_event(event_class, at=at, **fields)

    def accept(self, at: datetime, note: str | None = None) -> None:
        self._step(self.Accepted, at, note=note)

    def decline(self, reason: str | None, at: datetime, note: str | None = None) -> None:
        if not reason:
            raise ReasonRequired()
        self._step(self.NotAccepted, at, reason=reason, note=note)

    def investigate(self, at: datetime, note: str | None = None) -> None:
        self._step(self.InvestigationStarted, at, note=note)

    def take_action(self, action: str, at: datetime, note: str | None = None) -> None:
        self._step(self.ActionTaken, at, action=action, note=note)

    def resolve(
        self,
        outcome: str | None,
        finding: str | None,
        at: datetime,
        finding_text: str | None = None,
        note: str | None = None,
    ) -> None:
        if not outcome:
            raise OutcomeRequired()
        if not finding:
            raise FindingRequired()
        self._step(
            self.Resolved,
            at,
            outcome=outcome,
            finding=finding,
            finding_text=finding_text,
            note=note,
        )

    def close(self, at: datetime, note: str | None = None) -> None:
        self._step(self.Closed, at, note=note)

    def reopen(self, reason: str, at: datetime, note: str | None = None) -> None:
        self._step(self.Reopened, at, reason=reason, note=note)

    def change_status(
        self,
        status: str,
        at: datetime,
        *,
        note: str | None = None,
        reason: str | None = None,
        action: str | None = None,
        outcome: str | None = None,
        finding: str | None = None,
        finding_text: str | None = None,
    ) -> None:
        """Move to `status`, with what that step must state (the generic form of the steps)."""
        if status == C.ACCEPTED:
            self.accept(at, note)
        elif status == C.NOT_ACCEPTED:
            self._refuse_unless_allowed(status)
            self.decline(reason, at, note)
        elif status == C.INVESTIGATING:
            self.investigate(at, note)
        elif status == C.ACTION_TAKEN:
            self.take_action(action or "other", at, note)
        elif status == C.RESOLVED:
            self._refuse_unless_allowed(status)
            self.resolve(outcome, finding, at, finding_text, note)
        elif status == C.CLOSED:
            self.close(at, note)
        elif status == C.REOPENED:
            self.reopen(reason or "other", at, note)
        else:
            self._refuse_unless_allowed(status)

    def _refuse_unless_allowed(self, status: str) -> None:
        """The process is checked before the particulars, so a wrong step is named as such."""
        allowed = NEXT_STATUSES.get(self.status, set())
        if status not in allowed:
            choices = ", ".join(sorted(allowed)) or "none"
            raise TransitionNotAllowed(
                f"a complaint that is {self.status} can move only to: {choices}"
            )

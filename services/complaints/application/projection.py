"""The supervision projection: the provinces' complaint and case events into deadline clocks.

Each handler is a few lines on the rows of one complaint or case. A batch's rows and every
source's new position are written in one transaction, so each event counts exactly once; the
decisions that follow from the rows (a deadline missed, an upheld finding) are left to the watch.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import singledispatchmethod

from contracts.envelope import CloudEvent
from contracts.events import case as ce
from contracts.events import complaint as cpe
from contracts.events.base import EventData
from contracts.vocabulary import ComplaintStatus, SupervisionPhase
from pls.intake import tracking
from pls.intake.intake import Batch, DeadLetter, SourceState
from pls.sqlstore import Cursor
from services.complaints.adapters.readmodel import Row, SupervisionReadModel, key_of, stamp
from services.complaints.domain.rules import DeadlineClock, SupervisionRules

UPHELD = {"upheld", "partly_upheld"}
DISSATISFIED_UP_TO = 2  # ratings of 1 and 2 need a callback
INTERESTING_CASE_EVENTS = {
    "opened",
    "assigned",
    "transferred",
    "reopened",
    "rated",
    "callback_done",
}
P = SupervisionPhase
S = ComplaintStatus


def interested_in(type_name: str) -> bool:
    """Complaint events, and the case events that count services or start callback clocks."""
    parts = type_name.split(".")  # cn.gov.moj.pls.<aggregate>.<event>.v<n>
    if len(parts) != 7:
        return False
    aggregate, event = parts[4], parts[5]
    return aggregate == "complaint" or (aggregate == "case" and event in INTERESTING_CASE_EVENTS)


@dataclass
class Applying:
    """One event being applied: where it came from, and the batch's open transaction."""

    origin: str
    envelope: CloudEvent
    cursor: Cursor
    services: Counter[tuple[str, str]]


class SupervisionProjection:
    def __init__(
        self, readmodel: SupervisionReadModel, rules: SupervisionRules, clock: DeadlineClock
    ) -> None:
        self.readmodel = readmodel
        self.rules = rules
        self.clock = clock
        self.lock = threading.Lock()  # the watch acts on a settled view, never mid-batch
        self.after_commit: list[Callable[[], None]] = []

    def sources(self) -> list[SourceState]:
        return self.readmodel.sources()

    def commit(self, batch: Batch) -> None:
        with self.lock, self.readmodel.db.transaction() as cursor:
            services: Counter[tuple[str, str]] = Counter()
            dead_letters = list(batch.dead_letters)
            for item in batch.events:
                applying = Applying(item.origin, item.envelope, cursor, services)
                problem = self.process_event(item.data, applying)
                if problem:
                    dead_letters.append(
                        DeadLetter(
                            origin=item.origin,
                            subject=None,
                            reason=problem,
                            body=item.envelope.model_dump_json().encode(),
                            stream_sequence=None,
                            event_id=item.envelope.id,
                            sequence=item.envelope.sequence_number,
                        )
                    )
            self.readmodel.count_services(cursor, services)
            tracking.write_tracking(cursor, dead_letters, batch.sources.values())
        for listener in self.after_commit:
            listener()

    # -- deadlines -------------------------------------------------------------------------------

    def _start(self, cursor: Cursor, complaint: Row, phase: SupervisionPhase, at: datetime) -> None:
        rule = self.rules.for_phase(
            phase, complaint["province"], complaint["category"], complaint["service_type"]
        )
        if rule is None:
            return
        due = self.clock.due(rule, at)
        self.readmodel.put_deadline(
            cursor,
            Row(
                {
                    "key": f"{complaint['key']}:{rule.id}:{complaint['round']}",
                    "kind": "complaint",
                    "province": complaint["province"],
                    "subject_id": complaint["complaint_id"],
                    "rule_id": rule.id,
                    "phase": phase.value,
                    "round": complaint["round"],
                    "against": complaint["against"],
                    "agency_id": complaint["agency_id"],
                    "category": complaint["category"],
                    "service_type": complaint["service_type"],
                    "started_at": stamp(at),
                    "due_at": stamp(due),
                    "escalate_at": stamp(self.clock.escalation_due(rule, due)),
                    "done_at": None,
                    "met": None,
                    "missed_recorded": 0,
                    "escalation_level": 0,
                }
            ),
        )

    def _end(self, cursor: Cursor, complaint: Row, at: datetime, *phases: SupervisionPhase) -> None:
        self.readmodel.end_deadlines(
            cursor, complaint["province"], complaint["complaint_id"], [p.value for p in phases], at
        )

    # -- events ----------------------------------------------------------------------------------

    @singledispatchmethod
    def process_event(self, data: EventData, applying: Applying) -> str | None:
        """Events supervision does not act on (they are still tracked and hashed)."""
        return None

    @process_event.register
    def _(self, data: cpe.ComplaintFiled, applying: Applying) -> str | None:
        key = key_of(applying.origin, data.complaint_id)
        if self.readmodel.complaint(applying.cursor, key) is not None:
            return None  # filed twice under one id: the first one counts
        complaint = Row(
            {
                "key": key,
                "province": applying.origin,
                "complaint_id": data.complaint_id,
                "against": data.against.value,
                "agency_id": data.agency_id,
                "person_id": data.person_id,
                "service_type": data.service_type.value if data.service_type else None,
                "category": data.category.value,
                "channel": data.channel.value,
                "status": S.RECEIVED.value,
                "round": 0,
                "received_at": stamp(data.received_at),
                "credit": "none",
                "updated_at": stamp(applying.envelope.time),
            }
        )
        self.readmodel.put_complaint(applying.cursor, complaint)
        self._start(applying.cursor, complaint, P.ACCEPTANCE, data.received_at)
        return None

    def _complaint(self, data: cpe.ComplaintEvent, applying: Applying) -> Row | str:
        found = self.readmodel.complaint(
            applying.cursor, key_of(applying.origin, data.complaint_id)
        )
        if found is None:
            return f"data.complaint_id: complaint {data.complaint_id} was never filed at {applying.origin}"
        return found

    def _save(self, complaint: Row, applying: Applying, status: ComplaintStatus) -> None:
        complaint["status"] = status.value
        complaint["updated_at"] = stamp(applying.envelope.time)
        self.readmodel.put_complaint(applying.cursor, complaint)

    def _accepted(self, complaint: Row, at: datetime, applying: Applying) -> None:
        complaint["accepted_at"] = stamp(at)
        self._end(applying.cursor, complaint, at, P.ACCEPTANCE)
        self._start(applying.cursor, complaint, P.RESOLUTION, at)
        self._save(complaint, applying, S.ACCEPTED)

    def _not_accepted(self, complaint: Row, at: datetime, applying: Applying) -> None:
        self._end(applying.cursor, complaint, at, P.ACCEPTANCE)
        self._save(complaint, applying, S.NOT_ACCEPTED)

    def _resolved(
        self,
        complaint: Row,
        at: datetime,
        outcome: str | None,
        finding: str | None,
        applying: Applying,
    ) -> None:
        complaint["outcome"], complaint["finding"] = outcome, finding
        complaint["resolved_at"] = stamp(at)
        received = datetime.fromisoformat(complaint["received_at"])
        complaint["days_to_resolve"] = round(self.clock.timeline.days_between(received, at), 3)
        self._end(applying.cursor, complaint, at, P.ACCEPTANCE, P.RESOLUTION)
        self._credit(complaint, outcome)
        self._save(complaint, applying, S.RESOLVED)

    @staticmethod
    def _credit(complaint: Row, outcome: str | None) -> None:
        """What the credit record needs: an entry (due), or one taken back (withdraw_due)."""
        published = complaint["credit"] in ("published", "withdraw_due")
        if outcome in UPHELD:
            if published:
                complaint["credit"] = "published"
            else:
                complaint["credit"], complaint["credit_round"] = "due", complaint["round"]
        elif outcome is not None:
            if published:
                complaint["credit"] = "withdraw_due"
            elif complaint["credit"] == "due":
                complaint["credit"] = "none"

    def _closed(self, complaint: Row, at: datetime, applying: Applying) -> None:
        self._end(applying.cursor, complaint, at, P.ACCEPTANCE, P.RESOLUTION)
        self._save(complaint, applying, S.CLOSED)

    def _reopened(self, complaint: Row, at: datetime, applying: Applying) -> None:
        complaint["round"] += 1
        self._start(applying.cursor, complaint, P.RESOLUTION, at)
        self._save(complaint, applying, S.REOPENED)

    @process_event.register
    def _(self, data: cpe.ComplaintAccepted, applying: Applying) -> str | None:
        complaint = self._complaint(data, applying)
        if isinstance(complaint, str):
            return complaint
        self._accepted(complaint, data.accepted_at, applying)
        return None

    @process_event.register
    def _(self, data: cpe.ComplaintNotAccepted, applying: Applying) -> str | None:
        complaint = self._complaint(data, applying)
        if isinstance(complaint, str):
            return complaint
        self._not_accepted(complaint, data.decided_at, applying)
        return None

    @process_event.register
    def _(self, data: cpe.ComplaintInvestigationStarted, applying: Applying) -> str | None:
        complaint = self._complaint(data, applying)
        if isinstance(complaint, str):
            return complaint
        self._save(complaint, applying, S.INVESTIGATING)
        return None

    @process_event.register
    def _(self, data: cpe.ComplaintActionTaken, applying: Applying) -> str | None:
        complaint = self._complaint(data, applying)
        if isinstance(complaint, str):
            return complaint
        self._save(complaint, applying, S.ACTION_TAKEN)
        return None

    @process_event.register
    def _(self, data: cpe.ComplaintResolved, applying: Applying) -> str | None:
        complaint = self._complaint(data, applying)
        if isinstance(complaint, str):
            return complaint
        self._resolved(
            complaint, data.resolved_at, data.outcome.value, data.finding.value, applying
        )
        return None

    @process_event.register
    def _(self, data: cpe.ComplaintClosed, applying: Applying) -> str | None:
        complaint = self._complaint(data, applying)
        if isinstance(complaint, str):
            return complaint
        self._closed(complaint, data.closed_at, applying)
        return None

    @process_event.register
    def _(self, data: cpe.ComplaintReopened, applying: Applying) -> str | None:
        complaint = self._complaint(data, applying)
        if isinstance(complaint, str):
            return complaint
        self._reopened(complaint, data.reopened_at, applying)
        return None

    @process_event.register
    def _(self, data: cpe.ComplaintStatusChanged, applying: Applying) -> str | None:
        """The generic v1 form: a step event before it already said so, or an older province."""
        complaint = self._complaint(data, applying)
        if isinstance(complaint, str):
            return complaint
        status, at = data.status, applying.envelope.time
        if complaint["status"] == status.value:
            return None
        if status is S.ACCEPTED:
            self._accepted(complaint, at, applying)
        elif status is S.NOT_ACCEPTED:
            self._not_accepted(complaint, at, applying)
        elif status is S.RESOLVED:
            self._resolved(complaint, at, None, None, applying)
        elif status is S.CLOSED:
            self._closed(complaint, at, applying)
        elif status is S.REOPENED:
            self._reopened(complaint, at, applying)
        else:
            self._save(complaint, applying, status)
        return None

    # -- cases: services delivered, and callbacks after dissatisfied ratings ------------------------

    def _case(self, case_id: str, applying: Applying) -> Row | None:
        return self.readmodel.case(applying.cursor, key_of(applying.origin, case_id))

    @process_event.register
    def _(self, data: ce.CaseOpened, applying: Applying) -> str | None:
        key = key_of(applying.origin, data.case_id)
        if self.readmodel.case(applying.cursor, key) is not None:
            return None
        applying.services[(applying.origin, "")] += 1
        self.readmodel.put_case(
            applying.cursor,
            Row(
                {
                    "key": key,
                    "province": applying.origin,
                    "case_id": data.case_id,
                    "service_type": data.service_type.value,
                    "agency_id": None,
                    "round": 0,
                    "callback_round": None,
                }
            ),
        )
        return None

    def _assigned(self, case_id: str, agency_id: str, applying: Applying) -> None:
        applying.services[(applying.origin, agency_id)] += 1
        case = self._case(case_id, applying)
        if case is not None:
            case["agency_id"] = agency_id
            self.readmodel.put_case(applying.cursor, case)

    @process_event.register
    def _(self, data: ce.CaseAssigned, applying: Applying) -> str | None:
        self._assigned(data.case_id, data.agency_id, applying)
        return None

    @process_event.register
    def _(self, data: ce.CaseTransferred, applying: Applying) -> str | None:
        if data.to_agency_id is not None:
            self._assigned(data.case_id, data.to_agency_id, applying)
        return None

    @process_event.register
    def _(self, data: ce.CaseReopened, applying: Applying) -> str | None:
        case = self._case(data.case_id, applying)
        if case is not None:
            case["round"] += 1
            self.readmodel.put_case(applying.cursor, case)
        return None

    @process_event.register
    def _(self, data: ce.CaseRated, applying: Applying) -> str | None:
        if data.overall > DISSATISFIED_UP_TO:
            return None
        case = self._case(data.case_id, applying)
        service_type = case["service_type"] if case else None
        round_ = case["round"] if case else 0
        if case is not None and case["callback_round"] == round_:
            return None  # the applicant was already called back about this conclusion
        rule = self.rules.for_phase(P.CALLBACK, applying.origin, service_type=service_type)
        if rule is None:
            return None
        rated_at = applying.envelope.time
        due = self.clock.due(rule, rated_at)
        self.readmodel.put_deadline(
            applying.cursor,
            Row(
                {
                    "key": f"{key_of(applying.origin, data.case_id)}:{rule.id}:{round_}",
                    "kind": "callback",
                    "province": applying.origin,
                    "subject_id": data.case_id,
                    "rule_id": rule.id,
                    "phase": P.CALLBACK.value,
                    "round": round_,
                    "agency_id": case["agency_id"] if case else None,
                    "service_type": service_type,
                    "started_at": stamp(rated_at),
                    "due_at": stamp(due),
                    "escalate_at": None,
                    "missed_recorded": 0,
                    "escalation_level": 0,
                }
            ),
        )
        return None

    @process_event.register
    def _(self, data: ce.CaseCallbackDone, applying: Applying) -> str | None:
        at = applying.envelope.time
        self.readmodel.end_deadlines(
            applying.cursor, applying.origin, data.case_id, [P.CALLBACK.value], at
        )
        case = self._case(data.case_id, applying)
        if case is not None:
            case["callback_round"] = case["round"]
            self.readmodel.put_case(applying.cursor, case)
        return None

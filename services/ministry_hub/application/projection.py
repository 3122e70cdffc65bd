"""The national projection: applicable events into the national read model, a batch at a time.

Each handler is a few lines that move a case between counted states and add to the day's flows.
The batch's rows, its dead letters and every source's new position are written in one transaction
by the read model, which is what makes each event count exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from functools import singledispatchmethod
from typing import Any

from contracts.envelope import CloudEvent
from contracts.events import agency as ae
from contracts.events import case as ce
from contracts.events import complaint as cpe
from contracts.events.base import EventData
from pls import divisions
from pls.deadlines import DeadlineRule, Milestone, RuleBook, WorkingCalendar, due_at, local_date
from pls.dispatch import Dispatch
from pls.intake.intake import Applicable, Batch, DeadLetter, SourceState
from services.ministry_hub.adapters.readmodel import NationalReadModel
from services.ministry_hub.domain.national import (
    SATISFIED_FROM,
    CaseRow,
    Changes,
    DeadlineRow,
    day_of,
)

# What a reopened case has behind it: with its agency still assigned it is back at work and must
# be concluded again; without one (a refused case) it must be decided again, as when it was opened.
REACHED_WITH_AGENCY = frozenset(
    (Milestone.OPENED, Milestone.DECIDED, Milestone.ACCEPTED, Milestone.ASSIGNED)
)
REACHED_WITHOUT_AGENCY = frozenset((Milestone.OPENED,))


def case_key(origin: str, case_id: str) -> str:
    return f"{origin}:{case_id}"


class NationalProjection:
    def __init__(
        self, readmodel: NationalReadModel, rules: RuleBook, calendar: WorkingCalendar
    ) -> None:
        self.readmodel = readmodel
        self.rules = rules
        self.calendar = calendar
        # When a rule's period runs out depends only on the day it started (China time): worked
        # out once per rule and day, not for every case opened that day.
        self._due: dict[tuple[int, date], str] = {}

    def _due_at(self, rule: DeadlineRule, at: datetime) -> str:
        key = (id(rule), local_date(at))  # rules live as long as the rule book
        due = self._due.get(key)
        if due is None:
            if len(self._due) >= 100_000:
                self._due.clear()
            due = self._due[key] = due_at(rule, at, self.calendar).isoformat()
        return due

    def sources(self) -> list[SourceState]:
        return self.readmodel.sources()

    def reset(self, origin: str) -> SourceState:
        """Forget one origin's rows, so that its history can be applied again from its journal."""
        return self.readmodel.reset(origin)

    def begin_bulk_load(self) -> None:
        """A rebuild starts: the pre-aggregated views are made once at its end, not per batch."""
        self.readmodel.defer_derived()

    def end_bulk_load(self) -> None:
        self.readmodel.derive()

    def commit(self, batch: Batch) -> None:
        """Apply a batch and record it, with the sources' positions, in one transaction."""
        with self.readmodel.db.transaction() as cursor:
            changes = self.readmodel.prefetch(cursor, *self._keys(batch.events))
            dead_letters = list(batch.dead_letters)
            for item in batch.events:
                problem = _process(self, item.data, item.envelope, item.origin, changes)
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
            self.readmodel.write(cursor, changes, dead_letters, batch.sources.values())

    @staticmethod
    def _keys(events: list[Applicable]) -> tuple[set[str], set[str], set[str]]:
        cases, agencies, complaints = set(), set(), set()
        for event in events:
            data = event.data
            if isinstance(data, ce.CaseEvent):
                cases.add(case_key(event.origin, data.case_id))
            elif isinstance(data, ae.AgencyEvent):
                agencies.add(f"{event.origin}:{data.agency_id}")
            elif isinstance(data, cpe.ComplaintEvent):
                complaints.add(f"{event.origin}:{data.complaint_id}")
        return cases, agencies, complaints

    # -- deadlines -----------------------------------------------------------------------------

    def _start_deadlines(
        self, row: CaseRow, milestone: Milestone, at: datetime, changes: Changes
    ) -> None:
        self._start(
            row, self.rules.starting_at(row.service_type, milestone, row.origin), at, changes
        )

    def _start(
        self, row: CaseRow, rules: Iterable[DeadlineRule], at: datetime, changes: Changes
    ) -> None:
        for rule in rules:
            replaced = changes.deadlines.get((row.key, rule.id))
            if replaced is not None and replaced.done_at is None:
                changes.open_deadline(replaced, -1)
            deadline = changes.deadlines[(row.key, rule.id)] = DeadlineRow(
                case_key=row.key,
                rule_id=rule.id,
                origin=row.origin,
                prefecture=row.prefecture,
                county=row.county,
                service_type=row.service_type,
                started_at=at.isoformat(),
                due_at=self._due_at(rule, at),
            )
            changes.open_deadline(deadline, 1)

    def _end_deadlines(
        self, row: CaseRow, milestone: Milestone, at: datetime, changes: Changes
    ) -> None:
        for rule in self.rules.ending_at(row.service_type, milestone):
            deadline = changes.deadlines.get((row.key, rule.id))
            if deadline is None or deadline.done_at is not None:
                continue
            deadline.done_at = at.isoformat()
            deadline.met = datetime.fromisoformat(deadline.due_at) >= at
            changes.open_deadline(deadline, -1)
            changes.flow(
                row, day_of(at), **{"deadlines_met" if deadline.met else "deadlines_late": 1}
            )

    def _drop_open_deadlines(self, row: CaseRow, changes: Changes) -> None:
        for key, deadline in list(changes.deadlines.items()):
            if key[0] == row.key and deadline.done_at is None:
                del changes.deadlines[key]
                changes.dropped_deadlines.add(key)
                changes.open_deadline(deadline, -1)

    # -- events --------------------------------------------------------------------------------

    @singledispatchmethod
    def process_event(
        self, data: EventData, envelope: CloudEvent, origin: str, changes: Changes
    ) -> str | None:
        """Events the national view does not count (they are still tracked and hashed)."""
        return None

    def _row(self, data: ce.CaseEvent, origin: str, changes: Changes) -> CaseRow | None:
        return changes.cases.get(case_key(origin, data.case_id))

    @process_event.register
    def _(
        self, data: ce.CaseOpened, envelope: CloudEvent, origin: str, changes: Changes
    ) -> str | None:
        key = case_key(origin, data.case_id)
        if key in changes.cases:
            return None  # opened twice under one id: the first one counts
        if divisions.province_of(data.county) != origin:
            return f"data.county: {data.county} is not in {origin}"
        row = CaseRow(
            key=key,
            origin=origin,
            prefecture=divisions.prefecture_of(data.county) or data.county,
            county=data.county,
            service_type=data.service_type.value,
            channel=data.channel.value,
            status="received",
            outcome=None,
            received_at=data.received_at.isoformat(),
            categories=",".join(sorted(c.value for c in data.applicant_categories)),
            detained=data.detained,
        )
        changes.add(row)
        changes.flow(row, day_of(data.received_at), opened=1)
        self._start_deadlines(row, Milestone.OPENED, data.received_at, changes)
        return None

    def _lifecycle(self, data: ce.CaseEvent, origin: str, changes: Changes) -> CaseRow | str:
        row = self._row(data, origin, changes)
        if row is None:
            return f"data.case_id: case {data.case_id} was never opened at {origin}"
        return row

    @process_event.register
    def _(
        self, data: ce.CaseAccepted, envelope: CloudEvent, origin: str, changes: Changes
    ) -> str | None:
        row = self._lifecycle(data, origin, changes)
        if isinstance(row, str):
            return row
        changes.move(row, status="accepted")
        for milestone in (Milestone.DECIDED, Milestone.ACCEPTED):
            self._end_deadlines(row, milestone, envelope.time, changes)
        self._start_deadlines(row, Milestone.ACCEPTED, envelope.time, changes)
        return None

    @process_event.register
    def _(
        self, data: ce.CaseRejected, envelope: CloudEvent, origin: str, changes: Changes
    ) -> str | None:
        row = self._lifecycle(data, origin, changes)
        if isinstance(row, str):
            return row
        changes.move(row, status="rejected")
        changes.flow(row, day_of(envelope.time), rejected=1)
        self._end_deadlines(row, Milestone.DECIDED, envelope.time, changes)
        # A refused case is not served: what still ran for it (a mediation's or a notarization's
        # completion, counted from the application) stops without counting as met or late.
        self._drop_open_deadlines(row, changes)
        return None

    @process_event.register
    def _(
        self, data: ce.CaseAssigned, envelope: CloudEvent, origin: str, changes: Changes
    ) -> str | None:
        row = self._lifecycle(data, origin, changes)
        if isinstance(row, str):
            return row
        changes.move(row, status="assigned", agency_id=data.agency_id)
        self._end_deadlines(row, Milestone.ASSIGNED, envelope.time, changes)
        return None

    @process_event.register
    def _(
        self, data: ce.CaseStarted, envelope: CloudEvent, origin: str, changes: Changes
    ) -> str | None:
        row = self._lifecycle(data, origin, changes)
        if isinstance(row, str):
            return row
        changes.move(row, status="in_progress")
        return None

    @process_event.register
    def _(
        self, data: ce.CaseTransferred, envelope: CloudEvent, origin: str, changes: Changes
    ) -> str | None:
        row = self._lifecycle(data, origin, changes)
        if isinstance(row, str):
            return row
        if data.to_province is not None:
            changes.move(row, status="transferred")
            changes.flow(row, day_of(envelope.time), transferred_out=1)
            self._drop_open_deadlines(row, changes)
        else:
            changes.move(row, status="assigned", agency_id=data.to_agency_id)
        return None

    @process_event.register
    def _(
        self, data: ce.CaseConcluded, envelope: CloudEvent, origin: str, changes: Changes
    ) -> str | None:
        row = self._lifecycle(data, origin, changes)
        if isinstance(row, str):
            return row
        changes.move(row, status="concluded", outcome=data.outcome.value)
        changes.flow(row, day_of(envelope.time), concluded=1)
        self._end_deadlines(row, Milestone.CONCLUDED, envelope.time, changes)
        return None

    @process_event.register
    def _(
        self, data: ce.CaseCallbackDone, envelope: CloudEvent, origin: str, changes: Changes
    ) -> str | None:
        row = self._lifecycle(data, origin, changes)
        if isinstance(row, str):
            return row
        changes.move(row, status="callback_done")
        dissatisfied = 1 if data.result.value == "dissatisfied" else 0
        changes.flow(row, day_of(envelope.time), callbacks=1, callbacks_dissatisfied=dissatisfied)
        return None

    @process_event.register
    def _(
        self, data: ce.CaseRated, envelope: CloudEvent, origin: str, changes: Changes
    ) -> str | None:
        row = self._lifecycle(data, origin, changes)
        if isinstance(row, str):
            return row
        changes.move(row, status="rated")
        changes.flow(
            row,
            day_of(envelope.time),
            rated=1,
            rating_sum=data.overall,
            attitude_sum=data.attitude,
            efficiency_sum=data.efficiency,
            competence_sum=data.competence,
            satisfied=1 if data.overall >= SATISFIED_FROM else 0,
        )
        return None

    @process_event.register
    def _(
        self, data: ce.CaseReopened, envelope: CloudEvent, origin: str, changes: Changes
    ) -> str | None:
        row = self._lifecycle(data, origin, changes)
        if isinstance(row, str):
            return row
        reached = REACHED_WITH_AGENCY if row.agency_id else REACHED_WITHOUT_AGENCY
        changes.move(row, status="in_progress" if row.agency_id else "received", outcome=None)
        self._start(
            row,
            self.rules.restarting(row.service_type, reached, row.origin),
            envelope.time,
            changes,
        )
        return None

    # -- agencies and complaints -----------------------------------------------------------------

    def _agency(self, agency_id: str, origin: str, changes: Changes, **values: Any) -> None:
        key = f"{origin}:{agency_id}"
        agency = changes.agencies.get(key)
        if agency is None:
            if "agency_type" not in values:
                return
            agency = {"key": key, "origin": origin, "licence_status": "active", "closed": 0}
        else:
            changes.agency_counts[(origin, str(agency["agency_type"]), _standing(agency))] -= 1
        agency.update(values)
        changes.agencies[key] = agency
        changes.dirty_agencies.add(key)
        changes.agency_counts[(origin, str(agency["agency_type"]), _standing(agency))] += 1

    @process_event.register
    def _(
        self, data: ae.AgencyRegistered, envelope: CloudEvent, origin: str, changes: Changes
    ) -> str | None:
        self._agency(
            data.agency_id, origin, changes, agency_type=data.agency_type.value, county=data.county
        )
        return None

    @process_event.register
    def _(
        self, data: ae.AgencyUpdated, envelope: CloudEvent, origin: str, changes: Changes
    ) -> str | None:
        self._agency(
            data.agency_id, origin, changes, agency_type=data.agency_type.value, county=data.county
        )
        return None

    @process_event.register
    def _(
        self, data: ae.AgencyLicenceSuspended, envelope: CloudEvent, origin: str, changes: Changes
    ) -> str | None:
        self._agency(data.agency_id, origin, changes, licence_status="suspended")
        return None

    @process_event.register
    def _(
        self, data: ae.AgencyLicenceRevoked, envelope: CloudEvent, origin: str, changes: Changes
    ) -> str | None:
        self._agency(data.agency_id, origin, changes, licence_status="revoked")
        return None

    @process_event.register
    def _(
        self, data: ae.AgencyLicenceRestored, envelope: CloudEvent, origin: str, changes: Changes
    ) -> str | None:
        self._agency(data.agency_id, origin, changes, licence_status="active")
        return None

    @process_event.register
    def _(
        self, data: ae.AgencyClosed, envelope: CloudEvent, origin: str, changes: Changes
    ) -> str | None:
        self._agency(data.agency_id, origin, changes, closed=1)
        return None

    def _complaint(self, complaint_id: str, origin: str, changes: Changes, **values: Any) -> None:
        key = f"{origin}:{complaint_id}"
        complaint = changes.complaints.get(key)
        if complaint is None:
            if "category" not in values:
                return
            complaint = {"key": key, "origin": origin}
        else:
            changes.complaint_counts[
                (origin, str(complaint["category"]), str(complaint["status"]))
            ] -= 1
        complaint.update(values)
        changes.complaints[key] = complaint
        changes.dirty_complaints.add(key)
        changes.complaint_counts[
            (origin, str(complaint["category"]), str(complaint["status"]))
        ] += 1

    @process_event.register
    def _(
        self, data: cpe.ComplaintFiled, envelope: CloudEvent, origin: str, changes: Changes
    ) -> str | None:
        self._complaint(
            data.complaint_id,
            origin,
            changes,
            category=data.category.value,
            status="received",
            against=data.against.value,
            service_type=data.service_type.value if data.service_type else None,
        )
        return None

    @process_event.register
    def _(
        self, data: cpe.ComplaintStatusChanged, envelope: CloudEvent, origin: str, changes: Changes
    ) -> str | None:
        self._complaint(data.complaint_id, origin, changes, status=data.status.value)
        return None


def _standing(agency: dict[str, Any]) -> str:
    return "closed" if agency.get("closed") else str(agency.get("licence_status", "active"))


_process = Dispatch(NationalProjection, "process_event")

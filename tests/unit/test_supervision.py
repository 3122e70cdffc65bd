"""National supervision of complaints and callbacks: deadline clocks in working days, decisions
recorded once, the credit record; driven with a clock the test sets."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from contracts.envelope import parse_event
from contracts.events import case as ce
from contracts.events import complaint as cpe
from contracts.events.base import EventData
from pls.clock import ManualClock, Timeline
from pls.deadlines import CHINA, WorkingCalendar
from pls.intake.intake import Applicable, Batch
from pls.publication.journal import Journal
from pls.sqlstore import SQLiteDatabase
from pls.trust.keys import SigningKey
from services.complaints.adapters.publication import SupervisionPublication
from services.complaints.adapters.queries import OverdueFilter, SupervisionQueries
from services.complaints.adapters.readmodel import SupervisionReadModel
from services.complaints.adapters.rules import load_rules
from services.complaints.application.projection import SupervisionProjection, interested_in
from services.complaints.application.supervision import Supervision
from services.complaints.application.watch import DeadlineWatch
from services.complaints.domain.rules import DeadlineClock, SupervisionRule, SupervisionRules
from tests.unit.samples import AGENCY_ID, PSEUDONYM, event_body

GD = "440000"
RULES = load_rules()
CALENDAR = WorkingCalendar()
BEFORE_NATIONAL_DAY = datetime.fromisoformat("2026-09-28T10:00:00+08:00")  # a Monday


def china(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CHINA)


@dataclass
class Ministry:
    """The supervision service's pieces in one process, with a clock the test sets."""

    clock: ManualClock
    readmodel: SupervisionReadModel
    projection: SupervisionProjection
    app: Supervision
    publication: SupervisionPublication
    watch: DeadlineWatch
    queries: SupervisionQueries
    sequences: dict[str, Iterator[int]] = field(default_factory=dict)

    def apply(self, *events: tuple[EventData, datetime] | EventData, origin: str = GD) -> None:
        """Apply province events in one batch, as the applier does; then the watch looks."""
        items = []
        for event in events:
            data, at = event if isinstance(event, tuple) else (event, BEFORE_NATIONAL_DAY)
            sequence = next(self.sequences.setdefault(origin, itertools.count(1)))
            envelope, parsed = parse_event(event_body(data, sequence, origin=origin, time=at))
            items.append(Applicable(origin, envelope, parsed))
        self.projection.commit(Batch(events=items))

    def at(self, moment: datetime) -> int:
        """Set the clock and let the watch record what is due."""
        self.clock.set(moment)
        return self.watch.check()

    def overdue(self, **filters: Any) -> list[dict[str, Any]]:
        return self.queries.overdue(OverdueFilter(**filters), self.clock.now(), 0, 100)[1]

    def published(self) -> list[dict[str, Any]]:
        while self.publication.run_once():
            pass
        entries = self.publication.store.journal_after(0, 10_000)
        return [orjson.loads(entry.body) for entry in entries]

    def published_of(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.published() if e["type"] == f"cn.gov.moj.pls.{event}.v1"]


def build(tmp_path: Path, rules: SupervisionRules = RULES, timeline: Timeline | None = None) -> Any:
    db = SQLiteDatabase(tmp_path / "supervision.db")
    readmodel = SupervisionReadModel(db)
    clock = ManualClock(BEFORE_NATIONAL_DAY)
    deadlines = DeadlineClock(CALENDAR, timeline or Timeline())
    projection = SupervisionProjection(readmodel, rules, deadlines)
    app = Supervision(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    publication = SupervisionPublication(app, Journal(db), signer=SigningKey.generate())
    watch = DeadlineWatch(readmodel, projection, app, clock)
    return Ministry(
        clock,
        readmodel,
        projection,
        app,
        publication,
        watch,
        SupervisionQueries(readmodel, rules, deadlines),
    )


@pytest.fixture
def ministry(tmp_path: Path) -> Iterator[Ministry]:
    built = build(tmp_path)
    yield built
    built.readmodel.db.close()


def filed(
    complaint_id: str = "c-1",
    *,
    received_at: datetime = BEFORE_NATIONAL_DAY,
    category: str = "fees",
    service_type: str | None = "lawyer",
) -> cpe.ComplaintFiled:
    return cpe.ComplaintFiled(
        complaint_id=complaint_id,
        against="agency",
        agency_id=AGENCY_ID,
        service_type=service_type,
        category=category,
        channel="hotline_12348",
        received_at=received_at,
        complainant_id=PSEUDONYM,
    )


# -- deadlines in working days -------------------------------------------------------------------


def test_ten_working_days_over_national_day_2026_run_out_on_16_october() -> None:
    ten = SupervisionRule(
        id="ten", phase="resolution", days=10, count="working", basis="test", certainty="default"
    )
    due = DeadlineClock(CALENDAR, Timeline()).due(ten, BEFORE_NATIONAL_DAY)
    # 29, 30 Sep; 1-7 Oct off; 8, 9, 10 (Saturday, worked in lieu), 12, 13, 14, 15, 16 Oct.
    assert due == china("2026-10-17T00:00:00")
    assert due == datetime(2026, 10, 16, 16, 0, tzinfo=UTC)


def test_the_acceptance_decision_is_due_on_the_adjusted_working_saturday() -> None:
    rule = RULES.for_phase("acceptance", GD, "fees", "lawyer")
    assert rule is not None and (rule.days, rule.count) == (5, "working")
    due = DeadlineClock(CALENDAR, Timeline()).due(rule, BEFORE_NATIONAL_DAY)
    assert due == china("2026-10-11T00:00:00")  # the end of Saturday 10 October


def test_the_most_specific_rule_applies_and_provinces_can_override_it() -> None:
    assert RULES.for_phase("resolution", GD, "fees", "lawyer").id == "complaint_resolution"  # type: ignore[union-attr]
    assert (
        RULES.for_phase("resolution", GD, "misconduct", "lawyer").id  # type: ignore[union-attr]
        == "complaint_resolution_misconduct"
    )
    appraisal = RULES.for_phase("acceptance", GD, "misconduct", "judicial_appraisal")
    assert appraisal is not None and (appraisal.id, appraisal.days) == (
        "appraisal_complaint_acceptance",
        7,
    )
    acceptance = RULES.by_id("complaint_acceptance")
    assert acceptance is not None
    overridden = SupervisionRules.model_validate(
        {"rules": [{**acceptance.model_dump(), "provinces": {"510000": {"days": 3}}}]}
    )
    assert overridden.for_phase("acceptance", "510000").days == 3  # type: ignore[union-attr]
    assert overridden.for_phase("acceptance", GD).days == 5  # type: ignore[union-attr]


def test_every_rule_names_its_basis_and_how_certain_it_is() -> None:
    phases = {rule.phase.value for rule in RULES.rules}
    assert phases == {"acceptance", "resolution", "callback"}
    for rule in RULES.rules:
        assert rule.basis.strip(), rule.id
        assert rule.certainty in {"statute", "rule", "practice", "default"}


# -- overdue exactly when due; escalation once --------------------------------------------------


def test_a_complaint_is_overdue_exactly_when_its_deadline_passes(ministry: Ministry) -> None:
    ministry.apply(filed())
    assert ministry.at(china("2026-10-10T23:59:59")) == 0
    assert ministry.overdue() == []
    ministry.at(china("2026-10-11T00:00:01"))
    (item,) = ministry.overdue()
    assert (item["subject_id"], item["phase"], item["rule_id"]) == (
        "c-1",
        "acceptance",
        "complaint_acceptance",
    )
    assert item["escalation"] == "province"
    assert item["working_days_overdue"] == 0  # Sunday 11 October is no working day
    ministry.clock.set(china("2026-10-13T09:00:00"))
    assert ministry.overdue()[0]["working_days_overdue"] == 1  # Monday 12 October has passed


def test_an_overdue_complaint_is_escalated_once_however_often_it_is_checked(
    ministry: Ministry,
) -> None:
    ministry.apply(filed())
    assert ministry.at(china("2026-10-12T09:00:00")) == 2  # missed, escalated to the province
    assert ministry.at(china("2026-10-12T10:00:00")) == 0
    # The read model forgets what it did (as if rebuilt): the decisions are not taken again.
    ministry.readmodel.mark("deadlines", "440000:c-1:complaint_acceptance:0", missed_recorded=0)
    assert ministry.at(china("2026-10-12T11:00:00")) == 0
    # The province's event arrives again: it changes nothing.
    ministry.projection.commit(
        Batch(
            events=[Applicable(GD, *parse_event(event_body(filed(), 99, time=BEFORE_NATIONAL_DAY)))]
        )
    )
    assert ministry.at(china("2026-10-12T12:00:00")) == 0
    assert len(ministry.published_of("complaint.deadline_missed")) == 1
    (escalated,) = ministry.published_of("complaint.escalated")
    assert escalated["source"] == "/pls/moj/complaints"
    assert escalated["data"]["level"] == "province"
    assert escalated["data"]["complaint_id"] == "c-1"


def test_a_complaint_still_open_five_working_days_later_goes_to_the_ministry(
    ministry: Ministry,
) -> None:
    ministry.apply(filed())
    ministry.at(china("2026-10-12T09:00:00"))
    # Due at the end of 10 October; five working days later is the end of 16 October.
    assert ministry.at(china("2026-10-16T23:59:00")) == 0
    assert ministry.at(china("2026-10-17T00:01:00")) == 1
    assert ministry.at(china("2026-10-19T00:01:00")) == 0
    levels = [e["data"]["level"] for e in ministry.published_of("complaint.escalated")]
    assert levels == ["province", "ministry"]
    assert ministry.overdue()[0]["escalation"] == "ministry"


def test_a_complaint_accepted_in_time_is_not_overdue_and_its_resolution_clock_starts(
    ministry: Ministry,
) -> None:
    accepted_at = china("2026-10-09T16:00:00")
    ministry.apply(
        filed(), (cpe.ComplaintAccepted(complaint_id="c-1", accepted_at=accepted_at), accepted_at)
    )
    ministry.at(china("2026-10-12T09:00:00"))
    assert ministry.overdue() == []
    assert ministry.published_of("complaint.deadline_missed") == []
    detail = ministry.queries.complaint(GD, "c-1")
    assert detail is not None
    phases = {d["phase"]: d for d in detail["deadlines"]}
    assert phases["acceptance"]["met"] == 1
    # 30 working days from Friday 9 October, 10 October (a Saturday) worked: Thursday 19 November.
    assert phases["resolution"]["due_at"].startswith("2026-11-19T16:00:00")


def test_an_acceptance_recorded_after_the_due_date_counts_as_late(ministry: Ministry) -> None:
    late = china("2026-10-13T10:00:00")
    ministry.apply(filed(), (cpe.ComplaintAccepted(complaint_id="c-1", accepted_at=late), late))
    ministry.at(china("2026-10-13T11:00:00"))
    (rates,) = ministry.queries.rates("province", None, ministry.clock.now())
    assert (rates["deadlines_met"], rates["deadlines_late"]) == (0, 1)


def test_a_step_for_a_complaint_never_filed_is_dead_lettered(ministry: Ministry) -> None:
    at = china("2026-10-09T10:00:00")
    ministry.apply((cpe.ComplaintAccepted(complaint_id="nobody", accepted_at=at), at))
    (reason,) = [r[0] for r in ministry.readmodel.query("SELECT reason FROM dead_letters")]
    assert "never filed" in reason


# -- the credit record ---------------------------------------------------------------------------


def resolved_steps(outcome: str, at: datetime, finding: str = "improper_fees") -> list[Any]:
    return [
        (cpe.ComplaintAccepted(complaint_id="c-1", accepted_at=at), at),
        (cpe.ComplaintInvestigationStarted(complaint_id="c-1", started_at=at), at),
        (
            cpe.ComplaintResolved(
                complaint_id="c-1", outcome=outcome, finding=finding, resolved_at=at
            ),
            at,
        ),
    ]


def test_an_upheld_complaint_enters_the_agency_credit_record_once(ministry: Ministry) -> None:
    at = china("2026-10-09T10:00:00")
    ministry.apply(filed(), *resolved_steps("partly_upheld", at))
    ministry.at(china("2026-10-09T11:00:00"))
    ministry.at(china("2026-10-09T12:00:00"))
    (upheld,) = ministry.published_of("complaint.upheld")
    assert upheld["data"]["outcome"] == "partly_upheld"
    assert upheld["data"]["agency_id"] == AGENCY_ID
    assert upheld["data"]["finding"] == "improper_fees"
    (entry,) = ministry.queries.credit(AGENCY_ID, None)
    assert entry["credit"] == "published"
    assert entry["resolved_at"].startswith("2026-10-09T02:00:00")


def test_a_complaint_not_upheld_leaves_no_credit_entry(ministry: Ministry) -> None:
    at = china("2026-10-09T10:00:00")
    ministry.apply(filed(), *resolved_steps("not_upheld", at, "no_fault_found"))
    ministry.at(china("2026-10-09T11:00:00"))
    assert ministry.published_of("complaint.upheld") == []
    assert ministry.queries.credit(AGENCY_ID, None) == []


def test_a_reopened_complaint_found_not_upheld_is_withdrawn_from_the_credit_record(
    ministry: Ministry,
) -> None:
    at = china("2026-10-09T10:00:00")
    ministry.apply(filed(), *resolved_steps("upheld", at))
    ministry.at(china("2026-10-09T11:00:00"))
    again = china("2026-10-12T10:00:00")
    ministry.apply(
        (
            cpe.ComplaintReopened(complaint_id="c-1", reason="new_evidence", reopened_at=again),
            again,
        ),
        (cpe.ComplaintInvestigationStarted(complaint_id="c-1", started_at=again), again),
        (
            cpe.ComplaintResolved(
                complaint_id="c-1",
                outcome="not_upheld",
                finding="no_fault_found",
                resolved_at=again,
            ),
            again,
        ),
    )
    ministry.at(china("2026-10-12T11:00:00"))
    assert len(ministry.published_of("complaint.upheld")) == 1
    (withdrawn,) = ministry.published_of("complaint.upholding_withdrawn")
    assert withdrawn["data"]["complaint_id"] == "c-1"
    (entry,) = ministry.queries.credit(AGENCY_ID, None)
    assert entry["credit"] == "withdrawn"


def test_the_older_status_change_beside_a_step_changes_nothing(ministry: Ministry) -> None:
    at = china("2026-10-09T10:00:00")
    ministry.apply(
        filed(),
        (cpe.ComplaintAccepted(complaint_id="c-1", accepted_at=at), at),
        (cpe.ComplaintStatusChanged(complaint_id="c-1", status="accepted"), at + timedelta(days=9)),
    )
    detail = ministry.queries.complaint(GD, "c-1")
    assert detail is not None and detail["accepted_at"].startswith("2026-10-09T02:00:00")


def test_a_province_publishing_only_status_changes_is_still_supervised(ministry: Ministry) -> None:
    late = china("2026-10-14T10:00:00")
    ministry.apply(
        filed(), (cpe.ComplaintStatusChanged(complaint_id="c-1", status="accepted"), late)
    )
    ministry.at(china("2026-10-14T11:00:00"))
    detail = ministry.queries.complaint(GD, "c-1")
    assert detail is not None and detail["status"] == "accepted"
    acceptance = next(d for d in detail["deadlines"] if d["phase"] == "acceptance")
    assert acceptance["met"] == 0


# -- callbacks -----------------------------------------------------------------------------------


def rated(case_id: str, overall: int) -> ce.CaseRated:
    return ce.CaseRated(
        case_id=case_id, overall=overall, attitude=overall, efficiency=overall, competence=overall
    )


def test_a_dissatisfied_rating_needs_a_callback_within_three_working_days(
    ministry: Ministry,
) -> None:
    monday = china("2026-10-12T10:00:00")
    ministry.apply(
        (ce.CaseAssigned(case_id="k-1", agency_id=AGENCY_ID), monday),
        (rated("k-1", 2), monday),
        (rated("k-2", 1), monday),
        (rated("k-3", 3), monday),
        (ce.CaseCallbackDone(case_id="k-1", result="dissatisfied"), monday + timedelta(days=1)),
    )
    assert ministry.at(china("2026-10-15T23:59:00")) == 0
    assert ministry.at(china("2026-10-16T00:01:00")) == 1
    (item,) = ministry.overdue(kind="callback")
    assert item["subject_id"] == "k-2"
    assert ministry.at(china("2026-10-16T09:00:00")) == 0
    (missed,) = ministry.published_of("case.callback_missed")
    assert missed["data"]["case_id"] == "k-2"
    assert ministry.overdue(kind="complaint") == []


# -- filters and rates ---------------------------------------------------------------------------


def test_overdue_items_are_filtered_by_province_agency_category_and_days(
    ministry: Ministry,
) -> None:
    ministry.apply(filed("c-1"), filed("c-2", category="attitude"))
    ministry.apply(filed("c-3", received_at=china("2026-10-12T09:00:00")), origin="510000")
    ministry.clock.set(china("2026-10-20T09:00:00"))
    assert len(ministry.overdue()) == 3
    assert {i["subject_id"] for i in ministry.overdue(province=GD)} == {"c-1", "c-2"}
    assert [i["subject_id"] for i in ministry.overdue(category="attitude")] == ["c-2"]
    assert len(ministry.overdue(agency_id=AGENCY_ID)) == 3
    assert ministry.overdue(agency_id="another") == []
    # c-1 and c-2 were due at the end of 10 October, c-3 at the end of 19 October.
    assert {i["subject_id"] for i in ministry.overdue(min_days_overdue=5)} == {"c-1", "c-2"}


def test_rates_per_province_and_agency(ministry: Ministry) -> None:
    opened = [
        ce.CaseOpened(
            case_id=f"k-{n}",
            service_type="lawyer",
            channel="web",
            county="440106",
            received_at=BEFORE_NATIONAL_DAY,
            applicant_id=PSEUDONYM,
        )
        for n in range(4)
    ]
    assigned = [ce.CaseAssigned(case_id=f"k-{n}", agency_id=AGENCY_ID) for n in range(2)]
    at = china("2026-10-09T10:00:00")
    ministry.apply(*opened, *assigned, filed(), *resolved_steps("upheld", at))
    ministry.at(china("2026-10-09T11:00:00"))
    (province,) = ministry.queries.rates("province", None, ministry.clock.now())
    assert (province["services"], province["complaints"]) == (4, 1)
    assert province["complaints_per_10k"] == 2500.0
    assert province["share_upheld"] == 1.0
    assert province["median_days_to_resolve"] == pytest.approx(11.0, abs=0.01)
    assert province["share_in_time"] == 1.0
    (agency,) = ministry.queries.rates("agency", GD, ministry.clock.now())
    assert (agency["agency_id"], agency["services"], agency["complaints"]) == (AGENCY_ID, 2, 1)
    assert agency["complaints_per_10k"] == 5000.0


def test_the_service_reads_only_the_events_it_supervises() -> None:
    assert interested_in("cn.gov.moj.pls.complaint.resolved.v1")
    assert interested_in("cn.gov.moj.pls.case.rated.v1")
    assert not interested_in("cn.gov.moj.pls.case.concluded.v1")
    assert not interested_in("cn.gov.moj.pls.agency.registered.v1")


# -- a compressed timeline for demonstrations ----------------------------------------------------


def test_a_compressed_timeline_runs_working_days_out_in_seconds(tmp_path: Path) -> None:
    epoch = BEFORE_NATIONAL_DAY
    fast = build(tmp_path, timeline=Timeline(scale=86_400 / 5, epoch=epoch))  # a day every 5 s
    fast.apply(filed(received_at=epoch))
    # Five working days from 10:00 on 28 September end with 10 October: 12.58 days at 5 s a day.
    assert fast.at(epoch + timedelta(seconds=62)) == 0
    assert fast.at(epoch + timedelta(seconds=64)) == 2
    (item,) = fast.overdue()
    assert item["days_overdue"] == pytest.approx(0.2, abs=0.05)
    fast.readmodel.db.close()

"""The national projection: what ministry staff see after provinces' events are applied."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from contracts.envelope import parse_event
from contracts.events import agency as ae
from contracts.events import case as ce
from contracts.events import complaint as cpe
from contracts.events.base import EventData
from pls.deadlines import DEFAULT_RULES, WorkingCalendar, load_rules
from pls.intake.intake import Applicable, Batch, Delivery, Intake
from pls.rebuild import Store, absorb_tables
from pls.sqlstore import SQLiteDatabase, open_database
from services.ministry_hub.adapters.queries import NationalQueries, Scope
from services.ministry_hub.adapters.readmodel import DERIVED, SHARD_TABLES, NationalReadModel
from services.ministry_hub.application.projection import NationalProjection
from services.ministry_hub.domain.national import FLOW_FIELDS
from services.ministry_hub.entrypoints.api.national import summarise
from tests.unit.samples import AGENCY_ID, COUNTY, PSEUDONYM, event_body

GD = "440000"
OPENED_AT = datetime.fromisoformat("2026-03-02T10:00:00+08:00")  # a Monday, no holiday near
DAY = timedelta(days=1)


@dataclass
class Hub:
    readmodel: NationalReadModel
    projection: NationalProjection
    queries: NationalQueries
    sequences: dict[str, Iterator[int]] = field(default_factory=dict)

    def applicable(self, data: EventData, at: datetime = OPENED_AT, origin: str = GD) -> Applicable:
        sequence = next(self.sequences.setdefault(origin, itertools.count(1)))
        envelope, parsed = parse_event(event_body(data, sequence, origin=origin, time=at))
        return Applicable(origin, envelope, parsed)

    def apply(self, *events: tuple[EventData, datetime] | EventData, origin: str = GD) -> None:
        """Apply events in one batch (one transaction), as the applier does."""
        items = []
        for event in events:
            data, at = event if isinstance(event, tuple) else (event, OPENED_AT)
            items.append(self.applicable(data, at, origin))
        self.projection.commit(Batch(events=items))

    def totals(self, scope: Scope | None = None) -> dict[str, Any]:
        return self.queries.case_totals(scope or Scope())

    def flows(self, scope: Scope | None = None) -> dict[str, int]:
        flows = self.queries.flows(scope or Scope())
        assert flows is not None
        return flows

    def dead_letters(self) -> list[tuple[Any, ...]]:
        return self.readmodel.query("SELECT origin, event_id, sequence, reason FROM dead_letters")

    def deadlines(self) -> dict[str, tuple[Any, ...]]:
        rows = self.readmodel.query("SELECT case_key, rule_id, due_at, done_at, met FROM deadlines")
        return {f"{row[0].split(':')[1]}/{row[1]}": row[2:] for row in rows}


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    db = SQLiteDatabase(tmp_path / "national.db")
    readmodel = NationalReadModel(db)
    projection = NationalProjection(readmodel, load_rules(DEFAULT_RULES), WorkingCalendar())
    yield Hub(readmodel, projection, NationalQueries(readmodel))
    db.close()


def opened(
    case_id: str,
    service_type: str = "legal_aid",
    county: str = COUNTY,
    at: datetime = OPENED_AT,
    channel: str = "hotline_12348",
) -> ce.CaseOpened:
    return ce.CaseOpened(
        case_id=case_id,
        service_type=service_type,
        channel=channel,
        county=county,
        received_at=at,
        applicant_id=PSEUDONYM,
    )


# -- current state ---------------------------------------------------------------------------


def test_an_opened_case_is_counted_as_received(hub: Hub) -> None:
    hub.apply(opened("c1"))
    totals = hub.totals()
    assert totals["total"] == 1
    assert totals["open"] == 1
    assert totals["by_status"] == {"received": 1}
    assert totals["by_service_type"] == {"legal_aid": 1}
    assert totals["by_channel"] == {"hotline_12348": 1}


@pytest.mark.parametrize("one_batch", [True, False])
def test_a_case_moves_between_statuses_and_is_counted_once(hub: Hub, one_batch: bool) -> None:
    steps: list[EventData] = [
        opened("c1"),
        ce.CaseAccepted(case_id="c1"),
        ce.CaseAssigned(case_id="c1", agency_id=AGENCY_ID),
        ce.CaseStarted(case_id="c1"),
        ce.CaseConcluded(case_id="c1", outcome="representation_completed"),
    ]
    if one_batch:
        hub.apply(*steps)
    else:
        for step in steps:
            hub.apply(step)

    totals = hub.totals()
    assert totals["total"] == 1
    assert totals["open"] == 0
    assert totals["by_status"] == {"concluded": 1}
    assert totals["by_outcome"] == {"representation_completed": 1}


def test_accepting_then_concluding_does_not_double_count(hub: Hub) -> None:
    hub.apply(opened("c1", "consultation"), opened("c2", "consultation"))
    hub.apply(ce.CaseAccepted(case_id="c1"))
    assert hub.totals()["by_status"] == {"accepted": 1, "received": 1}
    hub.apply(ce.CaseConcluded(case_id="c1", outcome="advice_given"))
    totals = hub.totals()
    assert totals["by_status"] == {"concluded": 1, "received": 1}
    assert totals["total"] == 2
    assert totals["open"] == 1


def test_counts_hold_at_every_level_of_the_country(hub: Hub) -> None:
    hub.apply(opened("c1"), opened("c2", county="440303"), ce.CaseAccepted(case_id="c2"))
    assert hub.totals(Scope(province=GD))["total"] == 2
    assert hub.totals(Scope(province=GD, prefecture="440100"))["by_status"] == {"received": 1}
    assert hub.totals(Scope(province=GD, county="440303"))["by_status"] == {"accepted": 1}
    assert hub.totals(Scope(province="110000"))["total"] == 0
    assert hub.totals(Scope(service_type="mediation"))["total"] == 0


def test_provinces_are_counted_apart(hub: Hub) -> None:
    hub.apply(opened("c1"))
    hub.apply(opened("c1", county="110101"), origin="110000")
    hub.apply(ce.CaseAccepted(case_id="c1"), origin="110000")
    assert hub.totals(Scope(province=GD))["by_status"] == {"received": 1}
    assert hub.totals(Scope(province="110000"))["by_status"] == {"accepted": 1}
    assert hub.totals()["total"] == 2


def test_a_case_opened_twice_under_one_id_counts_once(hub: Hub) -> None:
    hub.apply(opened("c1"))
    hub.apply(opened("c1", service_type="mediation"))
    assert hub.totals()["by_service_type"] == {"legal_aid": 1}
    assert hub.flows()["opened"] == 1


def served(case_id: str, service_type: str, outcome: str) -> tuple[EventData, ...]:
    """A case opened, accepted, assigned to the agency and concluded."""
    return (
        opened(case_id, service_type),
        ce.CaseAccepted(case_id=case_id),
        ce.CaseAssigned(case_id=case_id, agency_id=AGENCY_ID),
        ce.CaseConcluded(case_id=case_id, outcome=outcome),
    )


def test_a_reopened_case_is_open_again(hub: Hub) -> None:
    hub.apply(*served("c1", "legal_aid", "aid_terminated"))
    hub.apply(ce.CaseReopened(case_id="c1", reason="objection_upheld"))
    totals = hub.totals()
    assert totals["by_status"] == {"in_progress": 1}
    assert totals["by_outcome"] == {}
    assert totals["open"] == 1

    hub.apply(opened("c2"), ce.CaseRejected(case_id="c2", reason="outside_scope"))
    hub.apply(ce.CaseReopened(case_id="c2", reason="new_facts"))
    assert hub.totals()["by_status"] == {"in_progress": 1, "received": 1}


def test_a_case_transferred_out_leaves_the_open_count(hub: Hub) -> None:
    hub.apply(opened("c1"), ce.CaseTransferred(case_id="c1", to_province="110000"))
    totals = hub.totals()
    assert totals["by_status"] == {"transferred": 1}
    assert totals["open"] == 0
    assert hub.flows()["transferred_out"] == 1
    assert "c1/legal_aid_decision" not in hub.deadlines()


# -- flows -----------------------------------------------------------------------------------


def test_flows_add_up_openings_conclusions_and_ratings(hub: Hub) -> None:
    hub.apply(*(opened(f"c{n}", "consultation") for n in range(1, 5)))
    hub.apply(*(ce.CaseConcluded(case_id=f"c{n}", outcome="advice_given") for n in range(1, 4)))
    hub.apply(
        ce.CaseRated(case_id="c1", overall=5, attitude=5, efficiency=4, competence=5),
        ce.CaseRated(case_id="c2", overall=4, attitude=3, efficiency=3, competence=4),
        ce.CaseRated(case_id="c3", overall=2, attitude=1, efficiency=2, competence=3),
        ce.CaseCallbackDone(case_id="c3", result="dissatisfied"),
    )

    flows = hub.flows()
    assert flows["opened"] == 4
    assert flows["concluded"] == 3
    assert flows["rated"] == 3
    assert flows["rating_sum"] == 11
    assert flows["attitude_sum"] == 9
    assert flows["satisfied"] == 2
    assert flows["callbacks"] == 1
    assert flows["callbacks_dissatisfied"] == 1

    summary = summarise(SimpleNamespace(queries=hub.queries), Scope())
    assert summary.satisfaction is not None
    assert summary.satisfaction.satisfied_share == pytest.approx(2 / 3, abs=1e-4)
    assert summary.satisfaction.average_overall == pytest.approx(11 / 3, abs=1e-3)
    assert summary.cases.total == 4
    assert summary.cases.by_status == {"callback_done": 1, "rated": 2, "received": 1}


def test_flows_fall_on_the_china_day_they_happened(hub: Hub) -> None:
    late_evening = datetime.fromisoformat("2026-03-02T23:30:00+08:00")  # 15:30 UTC, same day
    hub.apply(opened("c1", "consultation", at=late_evening))
    hub.apply(
        (
            ce.CaseConcluded(case_id="c1", outcome="advice_given"),
            datetime.fromisoformat("2026-03-03T00:30:00+08:00"),
        )
    )
    march_2 = Scope(day_from=OPENED_AT.date(), day_to=OPENED_AT.date())
    march_3 = Scope(day_from=OPENED_AT.date() + DAY, day_to=OPENED_AT.date() + DAY)
    assert (hub.flows(march_2)["opened"], hub.flows(march_2)["concluded"]) == (1, 0)
    assert (hub.flows(march_3)["opened"], hub.flows(march_3)["concluded"]) == (0, 1)


def test_rejections_are_counted(hub: Hub) -> None:
    hub.apply(opened("c1"), ce.CaseRejected(case_id="c1", reason="not_eligible_financial"))
    assert hub.flows()["rejected"] == 1
    assert hub.totals()["by_status"] == {"rejected": 1}


# -- deadlines -------------------------------------------------------------------------------


def test_a_legal_aid_decision_within_7_days_meets_its_deadline(hub: Hub) -> None:
    hub.apply(opened("c1"))
    hub.apply((ce.CaseAccepted(case_id="c1"), OPENED_AT + 7 * DAY))
    assert hub.flows()["deadlines_met"] == 1
    assert hub.flows()["deadlines_late"] == 0
    due_at, done_at, met = hub.deadlines()["c1/legal_aid_decision"]
    assert datetime.fromisoformat(due_at) == datetime.fromisoformat("2026-03-10T00:00:00+08:00")
    assert done_at is not None
    assert met == 1


def test_a_legal_aid_decision_after_8_days_is_late(hub: Hub) -> None:
    hub.apply(opened("c1"))
    hub.apply((ce.CaseAccepted(case_id="c1"), OPENED_AT + 8 * DAY))
    assert hub.flows()["deadlines_late"] == 1
    assert hub.flows()["deadlines_met"] == 0
    assert hub.deadlines()["c1/legal_aid_decision"][2] == 0


def test_a_refusal_is_a_decision_too(hub: Hub) -> None:
    hub.apply(opened("c1"), opened("c2"))
    hub.apply(
        (ce.CaseRejected(case_id="c1", reason="outside_scope"), OPENED_AT + 6 * DAY),
        (ce.CaseRejected(case_id="c2", reason="outside_scope"), OPENED_AT + 9 * DAY),
    )
    assert (hub.flows()["deadlines_met"], hub.flows()["deadlines_late"]) == (1, 1)


def test_a_refused_mediation_or_notarization_leaves_no_deadline_running(hub: Hub) -> None:
    hub.apply(opened("c1", "mediation"), opened("c2", "notarization"), opened("c3", "mediation"))
    months_later = OPENED_AT + 60 * DAY
    assert hub.queries.open_overdue(Scope(), now=months_later) == 3
    hub.apply(
        (ce.CaseRejected(case_id="c1", reason="outside_scope"), OPENED_AT + DAY),
        (ce.CaseRejected(case_id="c2", reason="outside_scope"), OPENED_AT + DAY),
    )
    assert hub.queries.open_overdue(Scope(), now=months_later) == 1  # c3 is still being mediated
    assert set(hub.deadlines()) == {"c3/mediation_conclusion"}
    assert (hub.flows()["deadlines_met"], hub.flows()["deadlines_late"]) == (0, 0)


def test_the_last_day_runs_until_midnight_china_time(hub: Hub) -> None:
    hub.apply(opened("c1"), opened("c2"))
    last_minute = datetime.fromisoformat("2026-03-09T23:59:00+08:00")
    hub.apply(
        (ce.CaseAccepted(case_id="c1"), last_minute),
        (ce.CaseAccepted(case_id="c2"), last_minute + 2 * timedelta(minutes=1)),
    )
    assert hub.deadlines()["c1/legal_aid_decision"][2] == 1
    assert hub.deadlines()["c2/legal_aid_decision"][2] == 0


def test_acceptance_starts_the_assignment_clock(hub: Hub) -> None:
    hub.apply(opened("c1"), (ce.CaseAccepted(case_id="c1"), OPENED_AT + DAY))
    assert hub.deadlines()["c1/legal_aid_assignment"][1] is None  # running
    hub.apply((ce.CaseAssigned(case_id="c1", agency_id=AGENCY_ID), OPENED_AT + 5 * DAY))
    assert hub.deadlines()["c1/legal_aid_assignment"][2] == 0  # 4 days: over the 3 allowed
    assert (hub.flows()["deadlines_met"], hub.flows()["deadlines_late"]) == (1, 1)


def test_a_reopened_case_must_be_concluded_again_within_the_period(hub: Hub) -> None:
    *before, concluded = served("c1", "mediation", "agreement_reached")
    hub.apply(*before, (concluded, OPENED_AT + 10 * DAY))
    assert hub.deadlines()["c1/mediation_conclusion"][2] == 1
    reopened_at = OPENED_AT + 20 * DAY  # 2026-03-22
    hub.apply((ce.CaseReopened(case_id="c1", reason="agreement_not_performed"), reopened_at))
    due_at, done_at, _ = hub.deadlines()["c1/mediation_conclusion"]
    assert done_at is None  # running again, 30 days from the reopening
    assert datetime.fromisoformat(due_at) == datetime.fromisoformat("2026-04-22T00:00:00+08:00")
    assert hub.queries.open_overdue(Scope(), now=reopened_at + 31 * DAY) == 1
    assert hub.queries.open_overdue(Scope(), now=reopened_at + 29 * DAY) == 0

    hub.apply((ce.CaseConcluded(case_id="c1", outcome="agreement_reached"), reopened_at + 40 * DAY))
    assert (hub.flows()["deadlines_met"], hub.flows()["deadlines_late"]) == (1, 1)
    assert hub.queries.open_overdue(Scope(), now=reopened_at + 60 * DAY) == 0


def test_a_reopened_refusal_must_be_decided_again(hub: Hub) -> None:
    hub.apply(
        opened("c1"), (ce.CaseRejected(case_id="c1", reason="outside_scope"), OPENED_AT + DAY)
    )
    assert set(hub.deadlines()) == {"c1/legal_aid_decision"}
    reopened_at = OPENED_AT + 30 * DAY
    hub.apply((ce.CaseReopened(case_id="c1", reason="objection_upheld"), reopened_at))
    assert hub.deadlines()["c1/legal_aid_decision"][1] is None  # the decision clock runs again
    assert "c1/legal_aid_assignment" not in hub.deadlines()  # that starts at acceptance
    hub.apply((ce.CaseAccepted(case_id="c1"), reopened_at + 3 * DAY))
    assert hub.deadlines()["c1/legal_aid_decision"][2] == 1
    assert hub.deadlines()["c1/legal_aid_assignment"][1] is None
    assert (hub.flows()["deadlines_met"], hub.flows()["deadlines_late"]) == (2, 0)


def test_a_case_reopened_where_no_rule_runs_to_its_end_gets_no_deadline(hub: Hub) -> None:
    hub.apply(*served("c1", "legal_aid", "aid_terminated"))
    before = hub.deadlines()
    hub.apply(ce.CaseReopened(case_id="c1", reason="objection_upheld"))
    assert hub.deadlines() == before  # legal aid supervises no conclusion period
    assert hub.queries.open_overdue(Scope(), now=OPENED_AT + 400 * DAY) == 0


def test_overdue_open_deadlines_are_counted(hub: Hub) -> None:
    hub.apply(opened("c1"), opened("c2", service_type="consultation"))
    assert hub.queries.open_overdue(Scope(), now=OPENED_AT + 8 * DAY) == 1
    assert hub.queries.open_overdue(Scope(), now=OPENED_AT + 6 * DAY) == 0


# -- refusals --------------------------------------------------------------------------------


def test_an_event_for_an_unknown_case_is_dead_lettered(hub: Hub) -> None:
    hub.apply(opened("c1"))
    hub.apply(ce.CaseConcluded(case_id="ghost", outcome="withdrawn"))
    ((origin, event_id, sequence, reason),) = hub.dead_letters()
    assert (origin, event_id, sequence) == (GD, "440000-2", 2)
    assert "ghost" in reason
    assert "never opened" in reason
    assert hub.totals()["by_status"] == {"received": 1}
    assert hub.flows()["concluded"] == 0


def test_a_case_opened_outside_its_province_is_dead_lettered(hub: Hub) -> None:
    hub.apply(opened("c1", county="110101"))  # 东城区, Beijing, published by Guangdong
    ((origin, _, _, reason),) = hub.dead_letters()
    assert origin == GD
    assert reason.startswith("data.county")
    assert hub.totals()["total"] == 0
    assert hub.flows()["opened"] == 0
    # ... and what follows for that case has nothing to apply to.
    hub.apply(ce.CaseAccepted(case_id="c1"))
    assert len(hub.dead_letters()) == 2


def test_the_corps_counts_its_own_cities(hub: Hub) -> None:
    hub.apply(opened("c1", county="659001"), origin="660000")  # 石河子市
    hub.apply(opened("c2", county="659001"), origin="650000")
    assert hub.totals(Scope(province="660000"))["total"] == 1
    assert hub.totals(Scope(province="650000"))["total"] == 0
    assert len(hub.dead_letters()) == 1


# -- agencies and complaints -----------------------------------------------------------------


def test_agencies_and_complaints_are_counted_by_standing_and_status(hub: Hub) -> None:
    hub.apply(
        ae.AgencyRegistered(
            agency_id="a1",
            registered_at=OPENED_AT,
            agency_type="law_firm",
            name="甲律所",
            county=COUNTY,
            address="天河路",
        ),
        ae.AgencyRegistered(
            agency_id="a2",
            registered_at=OPENED_AT,
            agency_type="law_firm",
            name="乙律所",
            county=COUNTY,
            address="天河路",
        ),
        ae.AgencyLicenceSuspended(agency_id="a1", action="sanction", effective_at=OPENED_AT),
        ae.AgencyClosed(agency_id="a2", closed_at=OPENED_AT),
        cpe.ComplaintFiled(
            complaint_id="k1",
            against="agency",
            agency_id="a1",
            category="fees",
            channel="web",
            received_at=OPENED_AT,
            complainant_id=PSEUDONYM,
        ),
    )
    hub.apply(cpe.ComplaintStatusChanged(complaint_id="k1", status="investigating"))

    standing = {
        (row[0], row[1]): row[2]
        for row in hub.readmodel.query(
            "SELECT agency_type, standing, n FROM agency_counts WHERE n <> 0"
        )
    }
    assert standing == {("law_firm", "suspended"): 1, ("law_firm", "closed"): 1}
    complaints = hub.readmodel.query("SELECT category, status, n FROM complaint_counts WHERE n > 0")
    assert complaints == [("fees", "investigating", 1)]
    by_province = hub.queries.by_province(Scope())
    assert by_province[GD]["agencies"] == 1
    assert by_province[GD]["complaints"] == 1

    hub.apply(
        ae.AgencyLicenceRestored(agency_id="a1", action="review_passed", effective_at=OPENED_AT)
    )
    standing = {
        row[0]: row[1]
        for row in hub.readmodel.query("SELECT standing, n FROM agency_counts WHERE n <> 0")
    }
    assert standing == {"active": 1, "closed": 1}


# -- exactly once, end to end through the intake ---------------------------------------------


def test_a_redelivery_after_a_restart_counts_nothing_twice(hub: Hub) -> None:
    events: list[EventData] = [
        opened("c1", "consultation"),
        ce.CaseConcluded(case_id="c1", outcome="advice_given"),
    ]
    deliveries = [
        Delivery(origin=GD, subject=None, body=event_body(data, n), stream_sequence=n)
        for n, data in enumerate(events, start=1)
    ]
    intake = Intake(hub.readmodel.sources())
    for item in deliveries:
        intake.offer(item)
    batch = intake.take()
    hub.projection.commit(batch)
    intake.committed(batch)

    (stored,) = hub.readmodel.sources()
    assert (stored.origin, stored.sequence, stored.applied, stored.stream_position) == (GD, 2, 2, 2)

    restarted = Intake(hub.readmodel.sources())
    for item in deliveries:
        restarted.offer(item)
    hub.projection.commit(restarted.take())

    assert hub.totals()["total"] == 1
    assert hub.flows()["opened"] == 1
    assert hub.flows()["concluded"] == 1
    (stored,) = hub.readmodel.sources()
    assert stored.duplicates == 2


# -- pre-aggregated tables -------------------------------------------------------------------

FLOW_SUMS = ", ".join(f"SUM({f})" for f in FLOW_FIELDS)


@pytest.fixture
def any_hub(backend: tuple[str, str]) -> Iterator[Hub]:
    """The hub's projection over SQLite and over PostgreSQL."""
    url, schema = backend
    db = open_database(url, schema=schema)
    readmodel = NationalReadModel(db)
    projection = NationalProjection(readmodel, load_rules(DEFAULT_RULES), WorkingCalendar())
    yield Hub(readmodel, projection, NationalQueries(readmodel))
    db.close()


def _random_history(hub: Hub, seed: int = 5) -> None:
    """Cases of three provinces through random lifecycles over two and a half months, in batches;
    some stay open (with open deadlines), some are transferred out, reopened or accepted again."""
    rng = random.Random(seed)
    places = {
        GD: ["440106", "440303", "440604"],
        "110000": ["110101", "110105"],
        "650000": ["650102"],
    }
    services = ["legal_aid", "mediation", "notarization", "judicial_appraisal", "consultation"]
    start = datetime.fromisoformat("2026-01-20T09:00:00+08:00")
    timeline: list[tuple[datetime, str, EventData]] = []
    for n in range(150):
        origin = rng.choice(list(places))
        case_id, service = f"k{n}", rng.choice(services)
        at = start + timedelta(hours=rng.uniform(0, 24 * 75))
        steps: list[EventData] = [opened(case_id, service, rng.choice(places[origin]), at)]
        fate = rng.random()
        if fate < 0.2:
            pass  # still waiting for a decision
        elif fate < 0.3:
            steps.append(ce.CaseRejected(case_id=case_id, reason="outside_scope"))
        elif fate < 0.37:
            steps.append(ce.CaseTransferred(case_id=case_id, to_province="310000"))
        else:
            steps += [
                ce.CaseAccepted(case_id=case_id),
                ce.CaseAssigned(case_id=case_id, agency_id=AGENCY_ID),
            ]
            if fate > 0.5:
                steps.append(ce.CaseConcluded(case_id=case_id, outcome="withdrawn"))
            if fate > 0.8:
                steps += [
                    ce.CaseReopened(case_id=case_id, reason="new_facts"),
                    ce.CaseAccepted(case_id=case_id),
                ]
            if fate > 0.9:
                steps.append(
                    ce.CaseRated(case_id=case_id, overall=4, attitude=5, efficiency=3, competence=4)
                )
        for data in steps:
            timeline.append((at, origin, data))
            at += timedelta(days=rng.uniform(0.2, 12))
    timeline.sort(key=lambda item: item[0])
    for i in range(0, len(timeline), 37):
        items = [hub.applicable(data, at, origin) for at, origin, data in timeline[i : i + 37]]
        hub.projection.commit(Batch(events=items))


def _assert_aggregates_match_rows(hub: Hub) -> None:
    q = hub.readmodel.query
    by_day = "SELECT day, service_type, {s} FROM flows_province GROUP BY day, service_type"
    assert sorted(
        q(f"SELECT day, service_type, {FLOW_SUMS} FROM flows_national GROUP BY day, service_type")
    ) == sorted(q(by_day.format(s=FLOW_SUMS)))
    assert sorted(
        q(
            f"SELECT origin, month, service_type, {FLOW_SUMS} FROM flows_province_month GROUP BY origin, month, service_type"
        )
    ) == sorted(
        q(
            f"SELECT origin, substr(day, 1, 7), service_type, {FLOW_SUMS} FROM flows_province GROUP BY origin, substr(day, 1, 7), service_type"
        )
    )
    assert sorted(
        q(
            f"SELECT origin, prefecture, day, {FLOW_SUMS} FROM flows_prefecture GROUP BY origin, prefecture, day"
        )
    ) == sorted(
        q(
            f"SELECT origin, prefecture, day, {FLOW_SUMS} FROM flows_county GROUP BY origin, prefecture, day"
        )
    )
    assert sorted(
        q("SELECT origin, prefecture, county, service_type, due_at, n FROM open_deadlines")
    ) == sorted(
        q(
            "SELECT origin, prefecture, county, service_type, due_at, COUNT(*) FROM deadlines "
            "WHERE done_at IS NULL GROUP BY origin, prefecture, county, service_type, due_at"
        )
    )
    assert sorted(
        q("SELECT origin, service_type, due_at, n FROM open_deadlines_province")
    ) == sorted(
        q(
            "SELECT origin, service_type, due_at, COUNT(*) FROM deadlines WHERE done_at IS NULL "
            "GROUP BY origin, service_type, due_at"
        )
    )
    assert q("SELECT COUNT(*) FROM open_deadlines WHERE n <= 0") == [(0,)]
    assert q("SELECT COUNT(*) FROM open_deadlines_province WHERE n <= 0") == [(0,)]
    assert sorted(
        q("SELECT service_type, channel, status, outcome, n FROM national_counts WHERE n <> 0")
    ) == sorted(
        q(
            "SELECT service_type, channel, status, COALESCE(outcome, ''), COUNT(*) FROM cases "
            "GROUP BY service_type, channel, status, COALESCE(outcome, '')"
        )
    )


def test_every_pre_aggregated_table_equals_a_count_over_the_rows(any_hub: Hub) -> None:
    _random_history(any_hub)
    assert (
        any_hub.readmodel.query("SELECT COUNT(*) FROM deadlines WHERE done_at IS NULL")[0][0] > 10
    )
    assert (
        any_hub.readmodel.query("SELECT COUNT(*) FROM deadlines WHERE done_at IS NOT NULL")[0][0]
        > 10
    )
    _assert_aggregates_match_rows(any_hub)

    any_hub.projection.reset("110000")
    _assert_aggregates_match_rows(any_hub)

    # A read model written before the derived tables existed gets them filled when it is opened.
    with any_hub.readmodel.db.transaction() as cursor:
        for table in DERIVED:
            cursor.execute(f"DELETE FROM {table}")
    reopened = NationalReadModel(any_hub.readmodel.db)
    _assert_aggregates_match_rows(replace(any_hub, readmodel=reopened))
    assert any_hub.readmodel.query("SELECT COUNT(*) FROM flows_national")[0][0] > 0


def test_a_bulk_load_makes_the_pre_aggregated_tables_once_at_its_end(any_hub: Hub) -> None:
    """A rebuild writes only the rows and the tables the others are derived from, batch by
    batch; the derived ones are made at its end, and batches after it keep them up to date."""
    q = any_hub.readmodel.query
    any_hub.projection.begin_bulk_load()
    _random_history(any_hub)
    assert q("SELECT COUNT(*) FROM cases")[0][0] == 150
    for table in DERIVED:
        assert q(f"SELECT COUNT(*) FROM {table}") == [(0,)], table
    any_hub.projection.end_bulk_load()
    assert q("SELECT COUNT(*) FROM open_deadlines")[0][0] > 10
    _assert_aggregates_match_rows(any_hub)

    _random_history(any_hub, seed=6)  # batch by batch again
    assert q("SELECT COUNT(*) FROM cases")[0][0] > 150
    _assert_aggregates_match_rows(any_hub)


class _Only:
    """A projection that is given only the events of some origins (one process's share)."""

    def __init__(self, projection: NationalProjection, origins: set[str]) -> None:
        self.projection, self.origins = projection, origins

    def commit(self, batch: Batch) -> None:
        self.projection.commit(Batch(events=[e for e in batch.events if e.origin in self.origins]))


def test_a_shard_of_other_provinces_adds_up_to_the_read_model_of_them_all(
    backend: tuple[str, str],
) -> None:
    """A rebuild in two processes: a read model of some provinces and a shard of the others,
    each bulk loaded; once the shard's rows are added in and the views derived, every table is
    row for row the one a single read model of all of them holds."""
    url, schema = backend
    whole, fresh = Store(url, schema), Store(url, schema).beside("rebuild")
    shard = fresh.beside("shard1")
    shares = {fresh: {GD}, shard: {"110000", "650000"}}
    models = {}
    for store in (whole, fresh, shard):
        store.drop()
        db = store.open()
        readmodel = NationalReadModel(db)
        projection = NationalProjection(readmodel, load_rules(DEFAULT_RULES), WorkingCalendar())
        hub = Hub(readmodel, projection, NationalQueries(readmodel))
        if store in shares:
            projection.begin_bulk_load()
            hub = replace(hub, projection=_Only(projection, shares[store]))  # type: ignore[arg-type]
        _random_history(hub)
        db.close()
        models[store] = readmodel
    absorb_tables(fresh, shard, SHARD_TABLES)
    assert not shard.exists()

    def rows(store: Store) -> dict[str, list[tuple[Any, ...]]]:
        db = store.open()
        try:
            readmodel = NationalReadModel(db)
            if store == fresh:
                NationalProjection(
                    readmodel, load_rules(DEFAULT_RULES), WorkingCalendar()
                ).end_bulk_load()
            return {
                table: sorted(readmodel.query(f"SELECT * FROM {table}"), key=repr)
                for table in (*SHARD_TABLES, *DERIVED)
                if table != "dead_letters"
            }
        finally:
            db.close()

    together, added_up = rows(whole), rows(fresh)
    assert len(together["cases"]) == 150
    assert {row[1] for row in added_up["cases"]} == {GD, "110000", "650000"}
    assert added_up == together
    for store in (whole, fresh):
        store.drop()


@pytest.mark.parametrize(
    ("first", "last"),
    [
        (None, None),
        ("2026-01-25", "2026-03-10"),  # part, whole, part month
        ("2026-02-01", "2026-02-28"),  # exactly one month
        ("2026-02-03", "2026-02-17"),  # within a month
        ("2026-03-01", None),
        (None, "2026-02-14"),
        ("2026-03-31", "2026-03-31"),
    ],
)
def test_queries_over_aggregates_equal_sums_over_the_daily_rows(
    any_hub: Hub, first: str | None, last: str | None
) -> None:
    _random_history(any_hub)
    scope = Scope(
        day_from=date.fromisoformat(first) if first else None,
        day_to=date.fromisoformat(last) if last else None,
    )
    where = " AND ".join(c for c, v in (("day >= ?", first), ("day <= ?", last)) if v)
    where = f" WHERE {where}" if where else ""
    params = [v for v in (first, last) if v]
    q = any_hub.readmodel.query
    expected = {
        origin: dict(zip(FLOW_FIELDS, (int(v) for v in row), strict=True))
        for origin, *row in q(
            f"SELECT origin, {FLOW_SUMS} FROM flows_county{where} GROUP BY origin", params
        )
    }
    compared = any_hub.queries.by_province(scope)
    for origin, flows in expected.items():
        assert {f: compared[origin][f] for f in FLOW_FIELDS} == flows
    national = {f: sum(flows[f] for flows in expected.values()) for f in FLOW_FIELDS}
    assert any_hub.flows(scope) == national
    by_prefecture = any_hub.queries.drill_down(replace(scope, province=GD), "prefecture")
    rows = q(
        f"SELECT prefecture, SUM(opened) FROM flows_county{where}{' AND' if where else ' WHERE'} origin = ? GROUP BY prefecture",
        [*params, GD],
    )
    assert {p: by_prefecture[p].get("opened", 0) for p, _ in rows} == {p: int(n) for p, n in rows}


def test_overdue_counts_equal_counts_over_the_open_deadline_rows(any_hub: Hub) -> None:
    _random_history(any_hub)
    q = any_hub.readmodel.query
    for moment in (
        "2026-02-10T00:00:00+00:00",
        "2026-03-15T00:00:00+00:00",
        "2027-01-01T00:00:00+00:00",
    ):
        now = datetime.fromisoformat(moment)
        rows = q(
            "SELECT origin, service_type, COUNT(*) FROM deadlines WHERE done_at IS NULL "
            "AND due_at < ? GROUP BY origin, service_type",
            [now.isoformat()],
        )
        assert any_hub.queries.open_overdue(Scope(), now) == sum(n for *_, n in rows)
        for origin, service, n in rows:
            assert (
                any_hub.queries.open_overdue(Scope(province=origin, service_type=service), now) == n
            )
    overdue = dict(
        q("SELECT origin, COUNT(*) FROM deadlines WHERE done_at IS NULL GROUP BY origin")
    )
    compared = any_hub.queries.by_province(Scope())  # every deadline of 2026 is overdue by now
    assert {o: compared[o].get("open_overdue", 0) for o in overdue} == overdue

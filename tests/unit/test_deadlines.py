"""Deadline rules and China's working-day calendar: when a supervised period runs out."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from pls.deadlines import (
    CHINA,
    DEFAULT_RULES,
    DayCount,
    DeadlineRule,
    Milestone,
    RuleBook,
    WorkingCalendar,
    due_at,
    end_of_day,
    load_rules,
)

RULES = load_rules(DEFAULT_RULES)
CALENDAR = WorkingCalendar()


def rule(rule_id: str) -> DeadlineRule:
    found = RULES.by_id(rule_id)
    assert found is not None, f"rule {rule_id} is missing from the rule book"
    return found


def china(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CHINA)


# -- the rule book ---------------------------------------------------------------------------


def test_every_rule_names_where_it_comes_from() -> None:
    assert RULES.rules
    for each in RULES.rules:
        assert each.basis.strip(), each.id
        assert each.certainty in {"statute", "rule", "practice"}


def test_the_statutory_legal_aid_periods_are_in_calendar_days() -> None:
    decision = rule("legal_aid_decision")
    assert (decision.days, decision.count) == (7, DayCount.CALENDAR)
    assert "第四十三条" in decision.basis
    assignment = rule("legal_aid_assignment")
    assert (assignment.days, assignment.count) == (3, DayCount.CALENDAR)
    assert rule("notarization_completion").count is DayCount.WORKING


def test_rules_are_found_by_service_and_milestone() -> None:
    starting = RULES.starting_at("legal_aid", Milestone.OPENED, "440000")
    assert [r.id for r in starting] == ["legal_aid_decision"]
    ending = RULES.ending_at("legal_aid", Milestone.DECIDED)
    assert [r.id for r in ending] == ["legal_aid_decision"]
    assert RULES.starting_at("consultation", Milestone.OPENED, "440000") == ()


# -- working days ----------------------------------------------------------------------------


def test_national_day_and_its_adjusted_working_saturday_2026() -> None:
    assert not CALENDAR.is_working_day(date(2026, 10, 1))
    assert not CALENDAR.is_working_day(date(2026, 10, 7))  # a Wednesday, still holiday
    assert CALENDAR.is_working_day(date(2026, 10, 10))  # a Saturday, worked in lieu
    assert CALENDAR.is_working_day(date(2026, 9, 20))  # a Sunday, worked in lieu
    assert not CALENDAR.is_working_day(date(2026, 10, 11))  # an ordinary Sunday
    assert CALENDAR.is_working_day(date(2026, 10, 8))


def test_a_notarization_received_before_national_day_is_due_on_23_october() -> None:
    received = china("2026-09-28T09:30:00")  # Monday
    due = due_at(rule("notarization_completion"), received, CALENDAR)
    assert due == datetime(2026, 10, 23, 16, 0, tzinfo=UTC)  # 24:00 on 23 October, China time
    assert due.astimezone(CHINA) == china("2026-10-24T00:00:00")


def test_a_late_evening_in_china_counts_as_that_day() -> None:
    # 01:00 on Monday in China is still Sunday in UTC; the China date is what counts.
    received = datetime(2026, 9, 27, 17, 0, tzinfo=UTC)
    assert due_at(rule("notarization_completion"), received, CALENDAR) == end_of_day(
        date(2026, 10, 23)
    )


def test_working_days_are_counted_from_the_day_after() -> None:
    assert CALENDAR.add_working_days(date(2026, 9, 28), 1) == date(2026, 9, 29)
    assert CALENDAR.add_working_days(date(2026, 9, 30), 1) == date(2026, 10, 8)
    assert CALENDAR.add_working_days(date(2026, 10, 9), 1) == date(2026, 10, 10)
    assert CALENDAR.add_working_days(date(2026, 10, 9), 2) == date(2026, 10, 12)


def test_a_calendar_period_ending_on_a_holiday_runs_to_the_next_working_day() -> None:
    received = china("2026-09-25T15:00:00")  # Friday; 7 days later is 2 October, a holiday
    due = due_at(rule("legal_aid_decision"), received, CALENDAR)
    assert due == end_of_day(date(2026, 10, 8))
    assert due == datetime(2026, 10, 8, 16, 0, tzinfo=UTC)


def test_a_calendar_period_ending_on_a_working_day_is_not_extended() -> None:
    received = china("2026-03-02T10:00:00")  # Monday; 7 days later is Monday 9 March
    assert due_at(rule("legal_aid_decision"), received, CALENDAR) == end_of_day(date(2026, 3, 9))


def test_a_period_that_does_not_extend_past_holidays_ends_on_the_holiday() -> None:
    strict = rule("legal_aid_decision").model_copy(update={"extends_past_holidays": False})
    due = due_at(strict, china("2026-09-25T15:00:00"), CALENDAR)
    assert due == end_of_day(date(2026, 10, 2))


def test_the_end_of_a_day_is_midnight_china_time() -> None:
    assert end_of_day(date(2026, 1, 1)) == datetime(2026, 1, 1, 16, 0, tzinfo=UTC)


# -- beyond the holiday data -----------------------------------------------------------------


def test_years_without_holiday_data_count_monday_to_friday() -> None:
    calendar = WorkingCalendar()
    assert calendar.is_working_day(date(2040, 10, 1))  # a Monday; no arrangement known yet
    assert not calendar.is_working_day(date(2040, 10, 6))  # a Saturday
    received = china("2040-10-01T09:00:00")
    due = due_at(rule("notarization_completion"), received, calendar)
    assert due == end_of_day(date(2040, 10, 22))


def test_configured_holidays_and_workdays_fill_the_gap() -> None:
    golden_week = [date(2040, 10, day) for day in range(1, 8)]
    calendar = WorkingCalendar(extra_holidays=golden_week, extra_workdays=[date(2040, 10, 13)])
    assert not calendar.is_working_day(date(2040, 10, 1))
    assert calendar.is_working_day(date(2040, 10, 13))  # a Saturday made a working day
    # Working days from 1 October: 8-12, 13, 15-19, 22-25.
    assert calendar.add_working_days(date(2040, 10, 1), 15) == date(2040, 10, 25)


def test_configured_days_override_the_official_calendar() -> None:
    calendar = WorkingCalendar(extra_workdays=[date(2026, 10, 5)])
    assert calendar.is_working_day(date(2026, 10, 5))
    assert not CALENDAR.is_working_day(date(2026, 10, 5))


# -- provincial overrides --------------------------------------------------------------------


def test_a_province_override_changes_the_period_for_that_province_only() -> None:
    overridden = DeadlineRule.model_validate(
        {
            **rule("legal_aid_decision").model_dump(),
            "provinces": {"440000": {"days": 5, "count": "working", "basis": "广东省法律援助条例"}},
        }
    )
    book = RuleBook(rules=(overridden,))
    (guangdong,) = book.starting_at("legal_aid", Milestone.OPENED, "440000")
    (beijing,) = book.starting_at("legal_aid", Milestone.OPENED, "110000")
    assert (guangdong.days, guangdong.count, guangdong.basis) == (
        5,
        DayCount.WORKING,
        "广东省法律援助条例",
    )
    assert (beijing.days, beijing.count) == (7, DayCount.CALENDAR)

    received = china("2026-09-28T10:00:00")  # Monday before National Day
    assert due_at(guangdong, received, CALENDAR) == end_of_day(date(2026, 10, 10))
    assert due_at(beijing, received, CALENDAR) == end_of_day(date(2026, 10, 8))


def test_overrides_are_read_from_the_rules_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "- id: mediation_conclusion\n"
        "  service_type: mediation\n"
        "  starts: opened\n"
        "  ends: concluded\n"
        "  days: 30\n"
        "  count: calendar\n"
        "  basis: 人民调解工作惯例\n"
        "  certainty: practice\n"
        "  provinces:\n"
        "    '510000': {days: 15}\n",
        encoding="utf-8",
    )
    book = load_rules(path)
    (sichuan,) = book.starting_at("mediation", Milestone.OPENED, "510000")
    (other,) = book.starting_at("mediation", Milestone.OPENED, "440000")
    assert (sichuan.days, other.days) == (15, 30)
    received = china("2026-03-02T10:00:00")
    assert due_at(sichuan, received, CALENDAR) == end_of_day(date(2026, 3, 17))
    assert due_at(other, received, CALENDAR) == end_of_day(date(2026, 4, 1))


def test_the_rules_file_is_chosen_by_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "only.yaml"
    path.write_text(
        "- {id: only, service_type: arbitration, starts: opened, ends: concluded, days: 60,"
        " count: calendar, basis: 仲裁规则}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("PLS_DEADLINE_RULES", str(path))
    assert [r.id for r in load_rules().rules] == ["only"]


@pytest.mark.parametrize("override", [{"days": 0}, {"weeks": 2}, {"count": "fortnights"}])
def test_a_bad_override_is_refused(override: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        DeadlineRule.model_validate(
            {**rule("legal_aid_decision").model_dump(), "provinces": {"440000": override}}
        )

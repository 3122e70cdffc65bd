"""How citizens' words, hours, places and ids work in the directory, without a database."""

from __future__ import annotations

from datetime import datetime

import pytest

from pls.deadlines import CHINA
from services.directory.domain import hours, identity
from services.directory.domain.geometry import Circle, haversine_m
from services.directory.domain.text import (
    EmptySearch,
    search_keys,
    segment_pinyin,
    short_place_name,
    terms,
)

MONDAY_10 = datetime(2026, 3, 2, 10, 0, tzinfo=CHINA)


@pytest.mark.parametrize(
    ("name", "short"),
    [
        ("广州市", "广州"),
        ("天河区", "天河"),
        ("甘孜藏族自治州", "甘孜"),
        ("黔东南苗族侗族自治州", "黔东南"),
        ("长阳土家族自治县", "长阳"),
        ("新疆维吾尔自治区", "新疆"),
        ("东区", "东区"),
    ],
)
def test_places_are_known_by_the_names_people_say(name: str, short: str) -> None:
    assert short_place_name(name) == short


def test_a_guangzhou_law_firm_answers_to_chinese_pinyin_and_initials() -> None:
    keys = search_keys("正信律师事务所", "体育西路191号", "440106", "law_firm", ["lawyer"])
    assert "广州律师" in keys.keywords.split("|")
    assert "天河区" in keys.keywords
    assert "guang zhou lv shi" in keys.pinyin.split("|")
    assert "gzls" in keys.initials.split()
    assert "zxlssws" in keys.initials.split()


def test_pinyin_is_split_into_the_fewest_syllables_and_may_end_part_way() -> None:
    assert segment_pinyin("guangzhou") == (["guang", "zhou"], False)
    assert segment_pinyin("guangzh") == (["guang", "zh"], True)
    assert segment_pinyin("gzls") is None


def test_a_search_needs_something_to_search_for() -> None:
    assert [t.text for t in terms("天河 GZLS 12348")] == ["天河", "gzls", "12348"]
    with pytest.raises(EmptySearch):
        terms("  ,,  !")


def test_opening_hours_in_china_time_including_past_midnight() -> None:
    weekday = hours.periods([{"day": "mon", "opens": "09:00", "closes": "17:30"}])
    assert hours.is_open(weekday, MONDAY_10)
    assert not hours.is_open(weekday, MONDAY_10.replace(hour=18))
    # 10:00 in Beijing is 02:00 UTC: the same moment, whatever zone it is given in.
    assert hours.is_open(weekday, MONDAY_10.astimezone(CHINA).replace(tzinfo=CHINA))
    overnight = hours.periods([{"day": "sun", "opens": "22:00", "closes": "02:00"}])
    assert hours.is_open(overnight, datetime(2026, 3, 2, 1, 0, tzinfo=CHINA))  # Monday 01:00
    assert not hours.is_open(overnight, datetime(2026, 3, 2, 3, 0, tzinfo=CHINA))
    # Closing when it opens: the whole day, its last minute too.
    all_day = hours.periods([{"day": "mon", "opens": "00:00", "closes": "00:00"}])
    assert hours.is_open(all_day, datetime(2026, 3, 2, 23, 59, 30, tzinfo=CHINA))
    assert not hours.is_open(all_day, datetime(2026, 3, 3, 0, 0, tzinfo=CHINA))
    schedule = [{"day": "tue", "opens": "09:00", "closes": "12:00"}]
    assert hours.parse_canonical(hours.canonical(schedule)) == hours.periods(schedule)


def test_location_and_service_ids_lead_back_to_their_organization() -> None:
    organization = identity.organization_id("440000", "agency-1")
    assert organization == identity.organization_id("440000", "agency-1")
    assert organization != identity.organization_id("110000", "agency-1")
    location = identity.location_id(organization)
    assert identity.organization_of_location(location) == organization
    service = identity.service_id(organization, "lawyer")
    assert (organization, "lawyer") in identity.candidates_of_service(service)
    assert len({location, service, organization}) == 3


def test_distances_and_the_box_around_a_circle() -> None:
    tianhe, yuexiu = (23.1247, 113.3612), (23.1292, 113.2668)
    distance = haversine_m(*tianhe, *yuexiu)
    assert 9_500 < distance < 9_800
    min_lat, max_lat, min_lon, max_lon = Circle(*tianhe, 10_000).box()
    assert min_lat < yuexiu[0] < max_lat
    assert min_lon < yuexiu[1] < max_lon

"""The directory read model: what a citizen finds after provinces' agency events are applied.

Run on SQLite (FTS5 and R*Tree) and on PostgreSQL (column predicates): the answers must agree.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from contracts.events import agency as ae
from contracts.events.base import EventData
from pls.intake.intake import Intake
from pls.sqlstore import open_database
from services.directory.adapters.queries import Criteria, DirectoryQueries, Region
from services.directory.adapters.readmodel import DirectoryReadModel
from services.directory.application.loading import encode, load
from services.directory.application.projection import DirectoryProjection, interested_in
from services.directory.domain import identity
from services.directory.domain.geometry import Circle
from services.directory.domain.text import terms
from tests.unit import directory_samples as samples
from tests.unit.directory_samples import AT, MONDAY_10_CHINA, TIANHE_POINT


@dataclass
class Directory:
    readmodel: DirectoryReadModel
    projection: DirectoryProjection
    queries: DirectoryQueries

    def apply(self, *events: tuple[str, EventData]) -> None:
        load(self.projection, events)

    def names(self, **criteria: object) -> list[str]:
        found = self.queries.organizations(Criteria(**criteria), 0, 50)  # type: ignore[arg-type]
        assert found.total == len(found.hits)
        return [hit.listing.name for hit in found.hits]

    def search(self, text: str, **criteria: object) -> list[str]:
        return self.names(search=tuple(terms(text)), **criteria)

    def listing(self, origin: str, agency_id: str):  # type: ignore[no-untyped-def]
        return self.queries.organization(identity.organization_id(origin, agency_id))


def _directory(url: str, schema: str) -> Iterator[Directory]:
    db = open_database(url, schema=schema)
    readmodel = DirectoryReadModel(db)
    projection = DirectoryProjection(readmodel)
    found = Directory(readmodel, projection, DirectoryQueries(readmodel))
    found.apply(*samples.events())
    yield found
    db.close()


@pytest.fixture
def directory(backend: tuple[str, str]) -> Iterator[Directory]:
    yield from _directory(*backend)


@pytest.fixture
def sqlite_directory(tmp_path: Path) -> Iterator[Directory]:
    """The SQLite read model only: its full-text index is SQLite's own."""
    yield from _directory(str(tmp_path / "directory.db"), "directory")


GUANGZHOU = [
    "天河区法律援助中心",
    "越秀区法律援助中心",
    "广州市越秀公证处",
    "广州市天河公证处",
    "广州正信律师事务所",
]


def test_a_chinese_name_fragment_finds_every_agency_with_it(directory: Directory) -> None:
    assert directory.search("正信") == ["广州正信律师事务所", "赣州正信律师事务所"]
    assert directory.search("越秀") == ["越秀区法律援助中心", "广州市越秀公证处"]
    assert directory.search("体育西路") == ["广州正信律师事务所"]


def test_place_and_kind_in_chinese_pinyin_or_initials(directory: Directory) -> None:
    assert directory.search("广州律师") == ["广州正信律师事务所"]
    assert directory.search("广州 律师") == ["广州正信律师事务所"]
    # 广州 and 赣州 share their initials: both cities' law firms answer to gzls.
    assert directory.search("gzls") == ["广州正信律师事务所", "赣州正信律师事务所"]
    # The kind a search names comes first: 天河 matches all three, 公证 puts the notary first.
    assert directory.search("天河 公证")[0] == "广州市天河公证处"
    assert directory.search("thgz") == ["广州市天河公证处"]
    assert directory.search("gzls", region=Region("province", "440000")) == ["广州正信律师事务所"]
    assert directory.search("guangzhou") == GUANGZHOU
    assert directory.search("shenzhen") == ["深圳明德律师事务所"]
    assert directory.search("zhengxin") == ["广州正信律师事务所", "赣州正信律师事务所"]
    assert directory.search("fayuan") == ["天河区法律援助中心", "越秀区法律援助中心"]
    assert directory.search("guangzh") == GUANGZHOU  # a last syllable not yet finished
    assert directory.search("gz", agency_types=("notary_office",)) == [
        "广州市越秀公证处",
        "广州市天河公证处",
    ]


def test_a_region_code_matches_everything_inside_it_in_listing_order(directory: Directory) -> None:
    assert directory.names(region=Region("prefecture", "440100")) == GUANGZHOU
    assert directory.names(region=Region("county", "440106")) == [
        "天河区法律援助中心",
        "广州市天河公证处",
        "广州正信律师事务所",
    ]
    assert directory.names(region=Region("province", "440000")) == [
        *GUANGZHOU,
        "深圳明德律师事务所",
    ]
    assert directory.names(region=Region("province", "440000"), agency_types=("law_firm",)) == [
        "广州正信律师事务所",
        "深圳明德律师事务所",
    ]
    total = directory.queries.organizations(Criteria(region=Region("province", "440000")), 0, 2)
    assert total.total == 6
    assert len(total.hits) == 2


def test_nearest_legal_aid_centre_comes_first_with_its_distance(directory: Directory) -> None:
    near = Circle(*TIANHE_POINT, 20_000)
    found = directory.queries.organizations(
        Criteria(near=near, agency_types=("legal_aid_centre",)), 0, 10
    )
    assert [h.listing.name for h in found.hits] == ["天河区法律援助中心", "越秀区法律援助中心"]
    first, second = (h.distance_m or 0 for h in found.hits)
    assert first < 100
    assert 9_000 < second < 10_500
    within_5km = directory.names(near=Circle(*TIANHE_POINT, 5_000))
    assert within_5km == ["天河区法律援助中心", "广州市天河公证处", "广州正信律师事务所"]


def test_notary_offices_in_a_prefecture_open_at_a_moment(directory: Directory) -> None:
    monday_10 = directory.names(
        region=Region("prefecture", "440100"),
        agency_types=("notary_office",),
        open_at=MONDAY_10_CHINA,
    )
    assert monday_10 == ["广州市越秀公证处"]
    at_0900 = MONDAY_10_CHINA.replace(hour=9, minute=0)
    assert directory.names(agency_types=("notary_office",), open_at=at_0900) == [
        "广州市越秀公证处",
        "广州市天河公证处",
    ]


def test_filters_combine_with_and(directory: Directory) -> None:
    assert directory.names(language="yue") == ["广州正信律师事务所"]
    assert directory.names(language="en", agency_types=("law_firm",)) == ["深圳明德律师事务所"]
    assert directory.names(service="consultation", region=Region("county", "440106")) == [
        "天河区法律援助中心",
        "广州正信律师事务所",
    ]
    assert directory.search("正信", region=Region("province", "360000")) == ["赣州正信律师事务所"]
    assert directory.search("律师", near=Circle(*TIANHE_POINT, 5_000)) == ["广州正信律师事务所"]
    assert directory.names(modified_after=AT + timedelta(days=36500)) == []


def test_a_revoked_licence_shows_with_its_date_in_the_credit_record(directory: Directory) -> None:
    revoked_at = AT + timedelta(days=3)
    directory.apply(
        (
            "440000",
            ae.AgencyLicenceSuspended(
                agency_id="gd-firm", action="sanction", effective_at=AT, until=revoked_at
            ),
        ),
        (
            "440000",
            ae.AgencyLicenceRevoked(
                agency_id="gd-firm", action="court_order", effective_at=revoked_at
            ),
        ),
    )
    listing = directory.listing("440000", "gd-firm")
    assert listing.licence_status == "revoked"
    assert directory.names(licence_status="revoked") == ["广州正信律师事务所"]
    record = directory.queries.credit(listing.id)
    assert [(e["kind"], e["at"]) for e in record] == [
        ("registered", AT.isoformat()),
        ("licence_suspended", AT.isoformat()),
        ("licence_revoked", revoked_at.isoformat()),
    ]
    assert record[2]["detail"] == {"action": "court_order"}


def test_upheld_complaints_from_the_ministry_count_against_agency_and_person(
    directory: Directory,
) -> None:
    directory.apply(
        ("moj", samples.upheld("c-1", agency_id="gd-firm")),
        ("moj", samples.upheld("c-2", person_id="p-wang")),
        ("440000", samples.upheld("c-3", agency_id="gd-firm")),  # a province may not say so
    )
    firm = directory.listing("440000", "gd-firm").id
    assert directory.queries.complaints_upheld([firm]) == {firm: 1}
    wang = identity.person_id("440000", "p-wang")
    assert [
        e["detail"]["complaint_id"]
        for e in directory.queries.credit(wang)
        if e["kind"] == "complaint_upheld"
    ] == ["c-2"]
    reasons = directory.readmodel.query("SELECT reason FROM dead_letters")
    assert any("only the ministry" in r[0] for r in reasons)


def test_closed_agencies_leave_the_listings_but_keep_their_record(directory: Directory) -> None:
    directory.apply(("110000", ae.AgencyClosed(agency_id="bj-mediation", closed_at=AT)))
    assert directory.names(region=Region("province", "110000")) == []
    assert directory.names(region=Region("province", "110000"), include_closed=True) == [
        "东城区人民调解委员会"
    ]
    assert [
        e["kind"] for e in directory.queries.credit(directory.listing("110000", "bj-mediation").id)
    ] == ["registered", "closed"]


def test_an_update_replaces_the_profile_and_what_finds_it(directory: Directory) -> None:
    update = samples.GUANGDONG[1].model_dump()
    update.update(agency_type="pls_centre", name="天河区公共法律服务中心", address="天河路1号")
    del update["registered_at"]
    directory.apply(("440000", ae.AgencyUpdated(**update)))
    assert directory.search("天河区法律援助") == []
    assert directory.search("天河区公共法律服务") == ["天河区公共法律服务中心"]
    assert directory.names(region=Region("county", "440106"))[0] == "天河区公共法律服务中心"
    assert len(directory.names(region=Region("county", "440106"))) == 3


def test_an_agency_placed_in_another_province_is_refused(directory: Directory) -> None:
    directory.apply(
        (
            "440000",
            samples.agency("gd-stray", "law_firm", "北京某律师事务所", "110101", 39.9, 116.4),
        )
    )
    assert directory.search("北京某") == []
    reasons = [r[0] for r in directory.readmodel.query("SELECT reason FROM dead_letters")]
    assert reasons == ["data.county: 110101 is not in 440000"]


def test_personnel_by_name_pinyin_initials_or_licence(directory: Directory) -> None:
    def lookup(**query: object) -> list[str]:
        options = {
            "name": None,
            "licence_number": None,
            "role": None,
            "organization_id": None,
            "include_former": False,
            "offset": 0,
            "limit": 20,
        }
        options.update(query)
        return [p.name for p in directory.queries.persons(**options)[1]]  # type: ignore[arg-type]

    assert lookup(name="王") == ["王小明"]
    assert lookup(name="wangxiao") == ["王小明"]
    assert lookup(name="wxm") == ["王小明"]
    assert lookup(licence_number="144012011100000") == ["李华", "王小明"]
    directory.apply(("440000", ae.AgencyPersonnelLeft(agency_id="gd-firm", person_id="p-wang")))
    assert lookup(name="王") == []
    assert lookup(name="王", include_former=True) == ["王小明"]


def test_services_are_listed_one_row_per_service(directory: Directory) -> None:
    total, _, rows = directory.queries.services(Criteria(region=Region("county", "440106")), 0, 20)
    offered = [(hit.listing.name, service) for hit, service in rows]
    assert total == len(offered) == 5
    assert ("广州正信律师事务所", "consultation") in offered
    total, _, rows = directory.queries.services(Criteria(service="legal_aid"), 0, 20)
    assert total == 2


def test_the_same_events_delivered_twice_change_nothing(directory: Directory) -> None:
    before = directory.readmodel.query("SELECT count(*), max(modified_at) FROM organizations")
    intake = Intake(directory.projection.sources(), interested_in=interested_in)
    for delivery in encode(samples.events(), {}):  # sequences from 1 again: all already applied
        intake.offer(delivery)
    batch = intake.take()
    directory.projection.commit(batch)
    assert not batch.events
    assert (
        directory.readmodel.query("SELECT count(*), max(modified_at) FROM organizations") == before
    )


def test_counting_a_huge_search_stops_at_the_limit_and_says_so(directory: Directory) -> None:
    directory.queries.count_limit = 3
    found = directory.queries.organizations(Criteria(search=tuple(terms("guangzhou"))), 0, 2)
    assert (found.total, found.exact, len(found.hits)) == (3, False, 2)
    exact = directory.queries.organizations(Criteria(search=tuple(terms("正信"))), 0, 2)
    assert (exact.total, exact.exact) == (2, True)
    # Totals kept per place and kind are exact however large.
    region = directory.queries.organizations(Criteria(region=Region("province", "440000")), 0, 2)
    assert (region.total, region.exact) == (6, True)


def test_a_changed_search_rule_rebuilds_the_index_from_the_rows(
    sqlite_directory: Directory,
) -> None:
    directory = sqlite_directory
    with directory.readmodel.db.transaction() as cursor:
        cursor.execute("UPDATE directory_meta SET value = 1 WHERE key = 'search_index'")
        cursor.execute("INSERT INTO org_fts (org_fts) VALUES ('delete-all')")
    assert directory.search("正信") == []
    reopened = DirectoryReadModel(directory.readmodel.db)
    assert (
        DirectoryQueries(reopened).organizations(Criteria(search=tuple(terms("正信"))), 0, 5).total
        == 2
    )


def test_matches_on_place_and_kind_come_before_matches_inside_a_name(
    directory: Directory,
) -> None:
    # 北京国中律师事务所's own initials hold gzls; the firms of 广州 (the capital first) and 赣州
    # answer to gzls by their place and kind, and come first whenever they registered.
    directory.apply(
        (
            "110000",
            samples.agency("bj-gz", "law_firm", "北京国中律师事务所", "110101", 39.9, 116.4),
        ),
        (
            "440000",
            samples.agency("gd-new", "law_firm", "广州新元律师事务所", "440106", 23.1, 113.3),
        ),
    )
    assert directory.search("gzls") == [
        "广州正信律师事务所",
        "广州新元律师事务所",
        "赣州正信律师事务所",
        "北京国中律师事务所",
    ]
    page_two = directory.queries.organizations(Criteria(search=tuple(terms("gzls"))), 2, 2)
    assert [h.listing.name for h in page_two.hits] == ["赣州正信律师事务所", "北京国中律师事务所"]

"""A national directory of legal service agencies, with real proportions over real counties.

Counts follow the Ministry of Justice figures quoted in the design (about 39k law firms, 693k people's
mediation committees, 2.9k county centres, 39k township stations, 640k village legal advisers); the
others are our order-of-magnitude estimates and marked so. Agencies are placed over the real
GB/T 2260 counties and townships (`pls.divisions`): professions by population with a pull towards
city districts, public platforms one per county or township, grassroots committees and village
advisers by the number of townships. Coordinates are jittered around the county's point.

`national` gives over a million organizations; `province` one province at national density;
`small` a few hundred agencies, enough to click through. Events come out in each province's
order, as a province node would publish them.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.events import agency as ae
from contracts.events.base import EventData
from contracts.subjects import PROVINCES
from pls import divisions
from pls.simulator import calibration as cal
from pls.simulator import people

# Organizations in the whole country by agency type. (count, source)
NATIONAL: dict[str, tuple[int, str]] = {
    "law_firm": (39_000, "MoJ"),
    "mediation_committee": (693_000, "MoJ"),
    "village_legal_adviser": (640_000, "MoJ"),
    "pls_centre": (2_900, "MoJ"),
    "pls_station": (39_000, "MoJ"),
    "legal_aid_centre": (3_200, "estimate: one per county, prefecture and province"),
    "notary_office": (2_900, "estimate"),
    "judicial_appraisal_institution": (2_800, "estimate"),
    "arbitration_commission": (280, "estimate"),
    "basic_legal_service_office": (13_000, "estimate"),
}
# Practitioners per organization when personnel are generated. (role, mean per organization)
PROFESSIONALS: dict[str, tuple[str, float]] = {
    "law_firm": ("lawyer", 16.7),  # ~652k lawyers
    "notary_office": ("notary", 5.0),
    "judicial_appraisal_institution": ("appraiser", 14.0),
    "legal_aid_centre": ("legal_aid_worker", 4.0),
    "arbitration_commission": ("arbitrator", 30.0),
    "basic_legal_service_office": ("grassroots_legal_worker", 5.0),
}
GRASSROOTS: dict[str, tuple[str, float]] = {
    "mediation_committee": ("mediator", 4.6),  # ~3.2M mediators
    "village_legal_adviser": ("village_legal_adviser", 1.0),
    "pls_centre": ("staff", 3.0),
    "pls_station": ("staff", 2.0),
}
SCALES = {"national": 1.0, "small": 0.0004}
URBAN_PULL = {"law_firm", "notary_office", "judicial_appraisal_institution"}
PER_COUNTY = {"pls_centre", "legal_aid_centre"}
BY_TOWNSHIP = {
    "pls_station",
    "mediation_committee",
    "village_legal_adviser",
    "basic_legal_service_office",
}

FIRM_WORDS = (
    "正信德诚明和泰安华君合金中伦大成国浩天元竞环球汉坤通商海问方达锦城嘉源观韬广盈恒远鼎立"
)
VILLAGE_CHARS = "东西南北上下新旧大小石桥河湾坪山岗塘田园林沟庄屯营口坝溪岭坡朱李王张刘陈杨黄赵周吴"
ROADS = (
    "人民路",
    "解放路",
    "中山路",
    "建设路",
    "文化路",
    "新华路",
    "和平路",
    "胜利路",
    "府前路",
    "政法路",
)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
HOURS: dict[str, list[list[tuple[str, str, str]]]] = {
    "public": [
        [(d, "09:00", "12:00") for d in WEEKDAYS] + [(d, "14:00", "17:30") for d in WEEKDAYS],
        [(d, "08:30", "17:30") for d in WEEKDAYS] + [("sat", "09:00", "12:00")],
    ],
    "firm": [
        [(d, "09:00", "18:00") for d in WEEKDAYS],
        [(d, "08:30", "18:30") for d in WEEKDAYS] + [("sat", "09:00", "17:00")],
    ],
    "village": [
        [(d, "09:00", "11:30") for d in ("mon", "wed", "fri")],
        [(d, "14:30", "17:00") for d in ("tue", "thu")],
    ],
}
REGIONAL_LANGUAGES: dict[str, tuple[str, float]] = {
    "440000": ("yue", 0.3),
    "450000": ("za", 0.1),
    "350000": ("nan", 0.2),
    "310000": ("wuu", 0.1),
    "650000": ("ug", 0.5),
    "660000": ("ug", 0.2),
    "540000": ("bo", 0.6),
    "630000": ("bo", 0.3),
    "150000": ("mn", 0.2),
    "220000": ("ko", 0.05),
}


@dataclass(frozen=True)
class Plan:
    """What to generate: how much of the national directory, where, and with whom."""

    scale: float = 1.0
    provinces: tuple[str, ...] = tuple(PROVINCES)
    personnel: str = "professionals"  # none | professionals | full
    seed: int = 2026
    sanctions: bool = True

    @classmethod
    def named(cls, name: str, **options: Any) -> Plan:
        province = options.pop("province", None)
        if name == "province":
            return cls(scale=1.0, provinces=(province or "440000",), **options)
        if name in SCALES:
            return cls(scale=SCALES[name], **options)
        raise ValueError(f"scale: {name!r} is not national, province or small")

    def counts(self) -> dict[str, int]:
        return {kind: round(n * self.scale) for kind, (n, _) in NATIONAL.items()}


def _urban(code: str) -> float:
    name = divisions.gazetteer().name(code)
    return 4.0 if name.endswith("区") else 2.0 if name.endswith("市") else 1.0


def _allocate(total: int, weights: dict[str, float], rng: random.Random) -> dict[str, int]:
    """Largest-remainder allocation: every place gets its share, rounded fairly."""
    whole = sum(weights.values())
    if total <= 0 or whole <= 0:
        return {}
    shares = {code: total * w / whole for code, w in weights.items()}
    counts = {code: math.floor(s) for code, s in shares.items()}
    rest = total - sum(counts.values())
    order = sorted(shares, key=lambda c: (shares[c] - counts[c], rng.random()), reverse=True)
    for code in order[:rest]:
        counts[code] += 1
    return {code: n for code, n in counts.items() if n}


def _short(name: str) -> str:
    from services.directory.domain.text import short_place_name

    return short_place_name(name)


class DirectoryGenerator:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.rng = random.Random(plan.seed)
        self.gazetteer = divisions.gazetteer()
        self.townships = divisions.townships_by_county()
        self.registered = 0
        self.persons = 0

    def _weights(self, kind: str) -> dict[str, float]:
        population = cal.POPULATION_MILLIONS
        weights: dict[str, float] = {}
        national_counties = {p: len(divisions.counties_of(p)) or 1 for p in PROVINCES}
        for province in self.plan.provinces:
            for county in divisions.counties_of(province):
                if kind in PER_COUNTY:
                    weights[county] = 1.0
                elif kind in BY_TOWNSHIP:
                    weights[county] = float(len(self.townships.get(county, ())) or 1)
                else:
                    pull = _urban(county) if kind in URBAN_PULL else 1.0
                    weights[county] = population[province] / national_counties[province] * pull
        return weights

    def _national_share(self) -> float:
        """The share of the country the chosen provinces hold, by kind-neutral township count."""
        if set(self.plan.provinces) == set(PROVINCES):
            return 1.0
        chosen = sum(
            len(self.townships.get(c, ())) or 1
            for p in self.plan.provinces
            for c in divisions.counties_of(p)
        )
        every = sum(
            len(self.townships.get(c, ())) or 1 for p in PROVINCES for c in divisions.counties_of(p)
        )
        return chosen / every

    def events(self) -> Iterator[tuple[str, EventData]]:
        """(origin, event) pairs; each province's events in the order it would publish them."""
        share = self._national_share()
        placements: dict[str, list[tuple[str, str]]] = {p: [] for p in self.plan.provinces}
        for kind, total in self.plan.counts().items():
            allocation = _allocate(round(total * share), self._weights(kind), self.rng)
            for county, n in allocation.items():
                province = divisions.province_of(county)
                assert province is not None
                placements[province].extend([(kind, county)] * n)
        for province in self.plan.provinces:
            for n, (kind, county) in enumerate(placements[province]):
                yield from self._agency(province, kind, county, n)

    # -- one agency ------------------------------------------------------------------------------

    def _agency(
        self, province: str, kind: str, county: str, n: int
    ) -> Iterator[tuple[str, EventData]]:
        rng = self.rng
        agency_id = f"sim-{province}-{kind[:12]}-{n:07d}"
        township = self._township(county)
        name = self._name(kind, province, county, township)
        division = self.gazetteer.get(county)
        coordinates = None
        if division is not None and division.lat is not None and division.lon is not None:
            spread = 0.015 if kind in PER_COUNTY else 0.05 if kind in URBAN_PULL else 0.12
            coordinates = {
                "lat": round(division.lat + rng.gauss(0, spread), 6),
                "lon": round(division.lon + rng.gauss(0, spread), 6),
            }
        style = (
            "firm"
            if kind in URBAN_PULL
            else "village"
            if kind in ("village_legal_adviser",)
            else "public"
        )
        pattern = rng.choice(HOURS[style])
        languages = ["zh"]
        regional = REGIONAL_LANGUAGES.get(province)
        if regional and rng.random() < regional[1]:
            languages.append(regional[0])
        if kind == "law_firm" and _urban(county) > 1 and rng.random() < 0.15:
            languages.append("en")
        registered_at = datetime(2026, 1, 1, tzinfo=UTC) - timedelta(
            days=rng.randrange(1, 365 * 25)
        )
        profile: dict[str, Any] = {
            "agency_id": agency_id,
            "agency_type": kind,
            "name": name,
            "county": county,
            "address": self._address(county, township),
            "coordinates": coordinates,
            "phone": f"0{rng.randrange(10, 999)}-{rng.randrange(10**7, 10**8)}",
            "opening_hours": [{"day": d, "opens": o, "closes": c} for d, o, c in pattern],
            "languages": languages,
            "accessible": rng.random()
            < (0.6 if kind in PER_COUNTY or kind == "pls_station" else 0.3),
            "registered_at": registered_at,
        }
        if kind in (
            "law_firm",
            "notary_office",
            "judicial_appraisal_institution",
            "basic_legal_service_office",
            "arbitration_commission",
        ):
            profile["licence_number"] = people.licence_number(rng, province, 1)
        self.registered += 1
        yield province, ae.AgencyRegistered(**profile)
        yield from self._staff(province, kind, agency_id, registered_at)
        if self.plan.sanctions and "licence_number" in profile:
            roll = rng.random()
            effective = registered_at + timedelta(days=rng.randrange(30, 3000))
            if roll < 0.003:
                yield (
                    province,
                    ae.AgencyLicenceSuspended(
                        agency_id=agency_id,
                        action="sanction",
                        effective_at=effective,
                        until=effective + timedelta(days=180),
                    ),
                )
            elif roll < 0.004:
                yield (
                    province,
                    ae.AgencyLicenceRevoked(
                        agency_id=agency_id, action="sanction", effective_at=effective
                    ),
                )
        if rng.random() < 0.002:
            yield (
                province,
                ae.AgencyClosed(
                    agency_id=agency_id,
                    closed_at=registered_at + timedelta(days=rng.randrange(30, 3000)),
                ),
            )

    def _staff(
        self, province: str, kind: str, agency_id: str, since: datetime
    ) -> Iterator[tuple[str, EventData]]:
        if self.plan.personnel == "none":
            return
        staffing = PROFESSIONALS.get(kind)
        if staffing is None and self.plan.personnel == "full":
            staffing = GRASSROOTS.get(kind)
        if staffing is None:
            return
        role, mean = staffing
        count = max(1, round(self.rng.expovariate(1 / mean))) if mean > 1 else 1
        for i in range(count):
            self.persons += 1
            yield (
                province,
                ae.AgencyPersonnelJoined(
                    agency_id=agency_id,
                    person_id=f"{agency_id}-p{i}",
                    name=people.name(self.rng),
                    role=role,
                    licence_number=people.licence_number(self.rng, province, 2)
                    if kind in PROFESSIONALS
                    else None,
                ),
            )

    def _township(self, county: str) -> str:
        townships = self.townships.get(county)
        if not townships:
            return _short(self.gazetteer.name(county)) + "镇"
        return self.rng.choice(townships)

    def _place(self, code: str | None) -> str:
        if code is None:
            return ""
        name = self.gazetteer.name(code)
        return "" if name in ("市辖区县", "省直辖县级行政区划", "兵团师市") else name

    def _name(self, kind: str, province: str, county: str, township: str) -> str:
        rng = self.rng
        prefecture = divisions.prefecture_of(county)
        city = _short(self._place(prefecture) or self.gazetteer.name(county))
        county_name = self.gazetteer.name(county)
        village = rng.choice(VILLAGE_CHARS) + rng.choice(VILLAGE_CHARS) + "村"
        word = rng.choice(FIRM_WORDS) + rng.choice(FIRM_WORDS)
        match kind:
            case "law_firm":
                place = _short(self.gazetteer.name(province)) if rng.random() < 0.4 else city
                return f"{place}{word}律师事务所"
            case "notary_office":
                return f"{self._place(prefecture)}{county_name}公证处"
            case "judicial_appraisal_institution":
                return f"{city}{word}司法鉴定所"
            case "arbitration_commission":
                return f"{city}仲裁委员会"
            case "legal_aid_centre":
                return f"{county_name}法律援助中心"
            case "pls_centre":
                return f"{county_name}公共法律服务中心"
            case "pls_station":
                return f"{township}公共法律服务工作站"
            case "basic_legal_service_office":
                return f"{township}法律服务所"
            case "mediation_committee":
                if rng.random() < 0.1:
                    return f"{township}人民调解委员会"
                return f"{township}{village}人民调解委员会"
            case _:
                return f"{township}{village}法律顾问"

    def _address(self, county: str, township: str) -> str:
        prefecture = self._place(divisions.prefecture_of(county))
        county_name = self.gazetteer.name(county)
        road = self.rng.choice(ROADS)
        return f"{prefecture if prefecture != county_name else ''}{county_name}{township}{road}{self.rng.randrange(1, 400)}号"

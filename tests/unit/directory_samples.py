"""Agencies around Guangzhou, Ganzhou, Shenzhen and Beijing with known places, hours and staff."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from contracts.events import agency as ae
from contracts.events import complaint as cpe
from contracts.events.base import EventData

AT = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
MONDAY_10_CHINA = datetime.fromisoformat("2026-03-02T10:00:00+08:00")
TIANHE_POINT = (23.1247, 113.3612)
ALWAYS = [  # a period closing when it opens runs into the next day: round the clock
    {"day": d, "opens": "00:00", "closes": "00:00"}
    for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
]
WORKDAYS = [
    {"day": d, "opens": "09:00", "closes": "18:00"} for d in ("mon", "tue", "wed", "thu", "fri")
]
A_MINUTE_ON_MONDAY = [{"day": "mon", "opens": "09:00", "closes": "09:01"}]


def agency(
    agency_id: str, agency_type: str, name: str, county: str, lat: float, lon: float, **extra: Any
) -> ae.AgencyRegistered:
    return ae.AgencyRegistered(
        agency_id=agency_id,
        agency_type=agency_type,
        name=name,
        county=county,
        address=extra.pop("address", f"{name}所在地1号"),
        coordinates={"lat": lat, "lon": lon},
        registered_at=AT,
        **extra,
    )


GUANGDONG: list[EventData] = [
    agency(
        "gd-firm",
        "law_firm",
        "广州正信律师事务所",
        "440106",
        23.1330,
        113.3270,
        address="广州市天河区体育西路191号",
        opening_hours=WORKDAYS,
        languages=["zh", "yue"],
        licence_number="14401200010000001",
        services=["lawyer", "consultation"],
    ),
    agency(
        "gd-aid-tianhe",
        "legal_aid_centre",
        "天河区法律援助中心",
        "440106",
        23.1250,
        113.3610,
        opening_hours=ALWAYS,
        accessible=True,
    ),
    agency(
        "gd-aid-yuexiu",
        "legal_aid_centre",
        "越秀区法律援助中心",
        "440104",
        23.1290,
        113.2670,
        opening_hours=A_MINUTE_ON_MONDAY,
    ),
    agency(
        "gd-notary-yuexiu",
        "notary_office",
        "广州市越秀公证处",
        "440104",
        23.1300,
        113.2700,
        opening_hours=ALWAYS,
        licence_number="14401300020000001",
    ),
    agency(
        "gd-notary-tianhe",
        "notary_office",
        "广州市天河公证处",
        "440106",
        23.1350,
        113.3300,
        opening_hours=A_MINUTE_ON_MONDAY,
        licence_number="14401300020000002",
    ),
    agency(
        "gd-firm-sz",
        "law_firm",
        "深圳明德律师事务所",
        "440304",
        22.5400,
        114.0500,
        languages=["zh", "en"],
        licence_number="14403200010000009",
    ),
    ae.AgencyPersonnelJoined(
        agency_id="gd-firm",
        person_id="p-wang",
        name="王小明",
        role="lawyer",
        licence_number="14401201110000001",
    ),
    ae.AgencyPersonnelJoined(
        agency_id="gd-firm",
        person_id="p-li",
        name="李华",
        role="lawyer",
        licence_number="14401201110000002",
    ),
]
JIANGXI: list[EventData] = [
    agency(
        "jx-firm",
        "law_firm",
        "赣州正信律师事务所",
        "360702",
        25.8300,
        114.9300,
        licence_number="13607200010000003",
    ),
]
BEIJING: list[EventData] = [
    agency(
        "bj-mediation", "mediation_committee", "东城区人民调解委员会", "110101", 39.9280, 116.4160
    ),
]


def events() -> list[tuple[str, EventData]]:
    return [
        *(("440000", e) for e in GUANGDONG),
        *(("360000", e) for e in JIANGXI),
        *(("110000", e) for e in BEIJING),
    ]


def upheld(
    complaint_id: str, *, agency_id: str | None = None, person_id: str | None = None
) -> cpe.ComplaintUpheld:
    return cpe.ComplaintUpheld(
        complaint_id=complaint_id,
        province="440000",
        against="person" if person_id else "agency",
        agency_id=agency_id,
        person_id=person_id,
        category="fees",
        outcome="upheld",
        resolved_at=AT,
    )

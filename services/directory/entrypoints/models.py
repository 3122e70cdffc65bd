"""Response models of the directory API, in the shape of Open Referral HSDS 3.0.

HSDS objects keep their names (organization, service, location, address, phone, schedule,
service_area, service_at_location, language, accessibility); what HSDS has no field for, the legal
service profile and the credit record, is carried in `legal_profile` and `/credit`.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

from contracts.vocabulary import AgencyType, LicenceStatus, PersonnelRole, ServiceType
from pls import divisions
from pls.web import Page
from services.directory.domain import hours, identity
from services.directory.domain.listing import Listing, Person

LANGUAGE_NAMES = {
    "zh": "普通话",
    "yue": "粤语",
    "nan": "闽南语",
    "hak": "客家话",
    "wuu": "吴语",
    "ug": "维吾尔语",
    "bo": "藏语",
    "mn": "蒙古语",
    "za": "壮语",
    "ko": "朝鲜语",
    "ii": "彝语",
    "en": "英语",
    "zgs": "手语",
}
CREDIT_LABELS = {
    "registered": "登记设立",
    "licence_number_changed": "执业许可证号变更",
    "licence_suspended": "停业整顿",
    "licence_revoked": "吊销执业许可证",
    "licence_restored": "恢复执业",
    "closed": "注销",
    "complaint_upheld": "投诉属实",
    "joined": "入职",
    "left": "离职",
}


T = TypeVar("T")


class DirectoryPage(Page[T], Generic[T]):
    """A page in the HSDS envelope. A text search matching more than 10,000 agencies counts to
    10,000 and says so with `total_items_relation: "gte"` (its first 10,000 can be paged)."""

    total_items_relation: Literal["eq", "gte"] = "eq"

    @classmethod
    def found(
        cls, items: list[T], *, total: int, exact: bool, page: int, per_page: int
    ) -> DirectoryPage[T]:
        built = Page[T].of(items, total=total, page=page, per_page=per_page)
        return cls(
            **{name: getattr(built, name) for name in Page.model_fields},
            total_items_relation="eq" if exact else "gte",
        )


class LanguageRead(BaseModel):
    code: str
    name: str


class PhoneRead(BaseModel):
    id: str
    number: str
    type: str = "voice"
    languages: list[LanguageRead]


class ScheduleRead(BaseModel):
    freq: str
    wkst: str
    byday: str
    opens_at: str
    closes_at: str
    timezone: int = Field(description="Hours from UTC: China time is UTC+8.")
    description: str


class AddressRead(BaseModel):
    id: str
    location_id: str
    address_1: str
    city: str | None = Field(description="The county-level division (区/县/县级市).")
    region: str | None = Field(description="The prefecture-level division.")
    state_province: str
    country: str = "CN"
    address_type: str = "physical"
    county_code: str = Field(description="GB/T 2260 code of the county-level division.")


class AccessibilityRead(BaseModel):
    description: str


class ServiceAreaRead(BaseModel):
    name: str
    extent_type: str = "gb2260"
    extent: str = Field(description="The GB/T 2260 code of the area served.")


class ServiceAtLocationRead(BaseModel):
    id: str
    service_id: str
    location_id: str


class LocationRead(BaseModel):
    id: str
    location_type: str = "physical"
    organization_id: str
    name: str
    latitude: float | None
    longitude: float | None
    distance: float | None = Field(
        default=None, description="Metres from the point asked about (with `proximity`)."
    )
    addresses: list[AddressRead]
    phones: list[PhoneRead]
    schedules: list[ScheduleRead]
    languages: list[LanguageRead]
    accessibility: list[AccessibilityRead]


class LicenceRead(BaseModel):
    number: str | None
    status: LicenceStatus
    status_label: str


class LegalProfileRead(BaseModel):
    """What HSDS has no field for: the kind of agency, its licence and its standing."""

    agency_type: AgencyType
    agency_type_label: str
    licence: LicenceRead
    services_offered: list[ServiceType]
    province: str
    prefecture: str
    county: str
    registered_at: str | None
    closed_at: str | None
    complaints_upheld: int


class ServiceRead(BaseModel):
    id: str
    organization_id: str
    name: str
    description: str
    status: str = Field(description="active, inactive, defunct or temporarily closed")
    service_type: ServiceType
    languages: list[LanguageRead]
    schedules: list[ScheduleRead]
    service_areas: list[ServiceAreaRead]
    service_at_locations: list[ServiceAtLocationRead]
    last_modified: str
    organization_name: str
    distance: float | None = None


class ServiceBrief(BaseModel):
    """A service as listed inside its organization; `/services/{id}` has the whole of it."""

    id: str
    name: str
    service_type: ServiceType
    status: str


class OrganizationIdentifierRead(BaseModel):
    identifier_scheme: str
    identifier_type: str
    identifier: str


class OrganizationRead(BaseModel):
    id: str
    name: str
    description: str
    legal_status: str
    organization_identifiers: list[OrganizationIdentifierRead]
    phones: list[PhoneRead]
    locations: list[LocationRead]
    services: list[ServiceBrief]
    legal_profile: LegalProfileRead
    last_modified: str
    distance: float | None = None


class OrganizationBrief(BaseModel):
    id: str
    name: str
    agency_type: AgencyType
    licence_status: LicenceStatus
    address: str
    phone: str | None


class PersonRead(BaseModel):
    id: str
    name: str
    role: PersonnelRole
    role_label: str
    licence_number: str | None
    status: str = Field(description="active, or left (a former member of staff)")
    joined_at: str | None
    left_at: str | None
    organization: OrganizationBrief | None
    complaints_upheld: int


class CreditEntryRead(BaseModel):
    kind: str
    label: str
    at: str
    detail: dict[str, Any]


class CreditRecord(BaseModel):
    """A credit record (信用信息): licence history, sanctions and upheld complaints, with dates."""

    subject_id: str
    subject_type: str
    name: str
    licence_number: str | None
    licence_status: LicenceStatus | None
    suspensions: int
    revocations: int
    complaints_upheld: int
    entries: list[CreditEntryRead]


# -- building them ---------------------------------------------------------------------------------


def _languages(codes: list[str]) -> list[LanguageRead]:
    return [LanguageRead(code=c, name=LANGUAGE_NAMES.get(c, c)) for c in codes]


def service_status(listing: Listing) -> str:
    if listing.is_closed:
        return "defunct"
    return {"revoked": "inactive", "suspended": "temporarily closed"}.get(
        listing.licence_status, "active"
    )


def location_of(listing: Listing, distance: float | None = None) -> LocationRead:
    gazetteer = divisions.gazetteer()
    location = identity.location_id(listing.id)
    phones = (
        [
            PhoneRead(
                id=f"{location}-phone",
                number=listing.phone,
                languages=_languages(listing.languages),
            )
        ]
        if listing.phone
        else []
    )
    return LocationRead(
        id=location,
        organization_id=listing.id,
        name=listing.name,
        latitude=listing.lat,
        longitude=listing.lon,
        distance=round(distance, 1) if distance is not None else None,
        addresses=[
            AddressRead(
                id=f"{location}-address",
                location_id=location,
                address_1=listing.address,
                city=gazetteer.name(listing.county),
                region=gazetteer.name(listing.prefecture),
                state_province=gazetteer.name(listing.province),
                county_code=listing.county,
            )
        ],
        phones=phones,
        schedules=[ScheduleRead(**s) for s in hours.as_hsds(_opening(listing))],
        languages=_languages(listing.languages),
        accessibility=[AccessibilityRead(description="无障碍设施 (step-free access)")]
        if listing.accessible
        else [],
    )


def _opening(listing: Listing) -> list[dict[str, Any]]:
    return [
        {
            "day": hours.DAYS[d],
            "opens": f"{o // 60:02d}:{o % 60:02d}",
            "closes": f"{c // 60:02d}:{c % 60:02d}",
        }
        for d, o, c in hours.parse_canonical(listing.hours)
    ]


def service_of(listing: Listing, service: str, distance: float | None = None) -> ServiceRead:
    kind = ServiceType(service)
    sid = identity.service_id(listing.id, service)
    location = identity.location_id(listing.id)
    return ServiceRead(
        id=sid,
        organization_id=listing.id,
        name=f"{listing.name} {kind.label}",
        description=f"{kind.label}（{AgencyType(listing.agency_type).label}）",
        status=service_status(listing),
        service_type=kind,
        languages=_languages(listing.languages),
        schedules=[ScheduleRead(**s) for s in hours.as_hsds(_opening(listing))],
        service_areas=[
            ServiceAreaRead(name=divisions.gazetteer().name(listing.county), extent=listing.county)
        ],
        service_at_locations=[
            ServiceAtLocationRead(id=f"{sid}-at-{location}", service_id=sid, location_id=location)
        ],
        last_modified=listing.modified_at,
        organization_name=listing.name,
        distance=round(distance, 1) if distance is not None else None,
    )


def organization_of(
    listing: Listing, complaints: int, distance: float | None = None
) -> OrganizationRead:
    kind = AgencyType(listing.agency_type)
    status = LicenceStatus(listing.licence_status)
    location = location_of(listing, distance)
    identifiers = (
        [
            OrganizationIdentifierRead(
                identifier_scheme="CN-MOJ-LICENCE",
                identifier_type="执业许可证号",
                identifier=listing.licence_number,
            )
        ]
        if listing.licence_number
        else []
    )
    return OrganizationRead(
        id=listing.id,
        name=listing.name,
        description=f"{kind.label}，{location.addresses[0].state_province}"
        f"{location.addresses[0].region or ''}{location.addresses[0].city or ''}",
        legal_status=kind.label,
        organization_identifiers=identifiers,
        phones=location.phones,
        locations=[location],
        services=[
            ServiceBrief(
                id=identity.service_id(listing.id, s),
                name=f"{listing.name} {ServiceType(s).label}",
                service_type=ServiceType(s),
                status=service_status(listing),
            )
            for s in listing.services
        ],
        legal_profile=LegalProfileRead(
            agency_type=kind,
            agency_type_label=kind.label,
            licence=LicenceRead(
                number=listing.licence_number, status=status, status_label=status.label
            ),
            services_offered=[ServiceType(s) for s in listing.services],
            province=listing.province,
            prefecture=listing.prefecture,
            county=listing.county,
            registered_at=listing.registered_at,
            closed_at=listing.closed_at,
            complaints_upheld=complaints,
        ),
        last_modified=listing.modified_at,
        distance=round(distance, 1) if distance is not None else None,
    )


def brief_of(listing: Listing) -> OrganizationBrief:
    return OrganizationBrief(
        id=listing.id,
        name=listing.name,
        agency_type=AgencyType(listing.agency_type),
        licence_status=LicenceStatus(listing.licence_status),
        address=listing.address,
        phone=listing.phone,
    )


def person_of(person: Person, organization: Listing | None, complaints: int) -> PersonRead:
    role = PersonnelRole(person.role)
    return PersonRead(
        id=person.id,
        name=person.name,
        role=role,
        role_label=role.label,
        licence_number=person.licence_number,
        status=person.status,
        joined_at=person.joined_at,
        left_at=person.left_at,
        organization=brief_of(organization) if organization else None,
        complaints_upheld=complaints,
    )


def credit_of(
    subject_id: str,
    subject_type: str,
    name: str,
    licence_number: str | None,
    licence_status: str | None,
    entries: list[dict[str, Any]],
) -> CreditRecord:
    def count(kind: str) -> int:
        return sum(1 for e in entries if e["kind"] == kind)

    return CreditRecord(
        subject_id=subject_id,
        subject_type=subject_type,
        name=name,
        licence_number=licence_number,
        licence_status=LicenceStatus(licence_status) if licence_status else None,
        suspensions=count("licence_suspended"),
        revocations=count("licence_revoked"),
        complaints_upheld=count("complaint_upheld"),
        entries=[
            CreditEntryRead(
                kind=e["kind"],
                label=CREDIT_LABELS.get(e["kind"], e["kind"]),
                at=e["at"],
                detail=e["detail"],
            )
            for e in entries
        ],
    )

"""An agency as the directory lists it, and the changes that agency and complaint events make.

Plain data: the projection loads listings, applies events to them and hands them to the read model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from contracts.events import agency as ae
from pls import divisions
from services.directory.domain import hours, identity
from services.directory.domain.profile import (
    SERIAL_BITS,
    kind_of,
    row_prefix,
    service_rank,
    services_offered,
)
from services.directory.domain.text import search_keys


class NotInProvince(ValueError):
    """The event places an agency outside the province that published it."""


@dataclass
class Listing:
    """One organization with its one location, its services and its standing."""

    rid: int
    id: str
    origin: str
    agency_id: str
    agency_type: str
    name: str
    licence_number: str | None
    licence_status: str
    registered_at: str | None
    closed_at: str | None
    province: str
    prefecture: str
    county: str
    address: str
    lat: float | None
    lon: float | None
    phone: str | None
    services: list[str]
    languages: list[str]
    accessible: bool
    hours: str
    keywords: str
    pinyin: str
    initials: str
    tags: str
    modified_at: str
    schedule_id: int | None = None

    @property
    def type_rank(self) -> int:
        return kind_of(self.agency_type).rank

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None

    def facets(self) -> str:
        """The index tokens filters match on: place, kind, services, languages, standing, hours."""
        tokens = [
            f"p{self.province}",
            f"f{self.prefecture}",
            f"c{self.county}",
            f"t{self.type_rank}",
            f"k{self.licence_status}",
            *(f"s{service_rank(s)}" for s in self.services),
            *(f"l{language_token(code)}" for code in self.languages),
        ]
        if self.accessible:
            tokens.append("access")
        if self.schedule_id is not None:
            tokens.append(f"h{self.schedule_id}")
        if self.is_closed:
            tokens.append("xclosed")
        return " ".join(tokens)


def language_token(code: str) -> str:
    return re.sub(r"[^a-z0-9]", "", code.lower())


def place_of(county: str, origin: str) -> tuple[str, str]:
    """(province, prefecture) of a county that must lie in `origin`."""
    if not divisions.is_county(county):
        raise NotInProvince(f"data.county: {county} is not a county-level GB/T 2260 code")
    province = divisions.province_of(county)
    if province != origin:
        raise NotInProvince(f"data.county: {county} is not in {origin}")
    return province, divisions.prefecture_of(county) or county


def profile_values(profile: ae.AgencyProfile, origin: str) -> dict[str, Any]:
    """The listing's fields that follow from a registered or updated profile."""
    province, prefecture = place_of(profile.county, origin)
    services = services_offered(profile.agency_type.value, [s.value for s in profile.services])
    keys = search_keys(
        profile.name, profile.address, profile.county, profile.agency_type.value, services
    )
    opening = [h.model_dump(mode="json") for h in profile.opening_hours]
    return {
        "agency_type": profile.agency_type.value,
        "name": profile.name,
        "licence_number": profile.licence_number,
        "province": province,
        "prefecture": prefecture,
        "county": profile.county,
        "address": profile.address,
        "lat": profile.coordinates.lat if profile.coordinates else None,
        "lon": profile.coordinates.lon if profile.coordinates else None,
        "phone": profile.phone,
        "services": services,
        "languages": list(dict.fromkeys(profile.languages)) or ["zh"],
        "accessible": profile.accessible,
        "hours": hours.canonical(opening),
        "keywords": keys.keywords,
        "pinyin": keys.pinyin,
        "initials": keys.initials,
        "tags": keys.tags,
    }


def new_listing(
    origin: str, data: ae.AgencyRegistered, serial: int, modified_at: datetime
) -> Listing:
    values = profile_values(data, origin)
    organization = identity.organization_id(origin, data.agency_id)
    return Listing(
        rid=row_id(values["agency_type"], values["prefecture"], serial),
        id=organization,
        origin=origin,
        agency_id=data.agency_id,
        licence_status="active",
        registered_at=data.registered_at.isoformat(),
        closed_at=None,
        modified_at=modified_at.isoformat(),
        **values,
    )


def updated_listing(
    listing: Listing, origin: str, data: ae.AgencyUpdated, serial: int, modified_at: datetime
) -> Listing:
    values = profile_values(data, origin)
    changed = replace(listing, modified_at=modified_at.isoformat(), **values)
    prefix = row_prefix(changed.agency_type, changed.prefecture)
    if listing.rid >> SERIAL_BITS != prefix >> SERIAL_BITS:
        changed.rid = prefix | serial  # listing order follows the kind and the place
    return changed


def row_id(agency_type: str, prefecture: str, serial: int) -> int:
    return row_prefix(agency_type, prefecture) | serial


@dataclass
class Person:
    """A practitioner as the directory shows them (names and licences are public by law)."""

    key: str
    id: str
    origin: str
    person_id: str
    name: str
    pinyin: str
    initials: str
    role: str
    licence_number: str | None
    organization_id: str | None
    status: str
    joined_at: str | None
    left_at: str | None
    modified_at: str


@dataclass
class CreditEntry:
    """One dated fact of an organization's or a person's credit record."""

    subject: str  # the organization's or person's public id
    kind: str
    at: str
    reference: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Changes:
    """What one batch of events does to the directory, applied in memory then written at once."""

    stored: dict[str, Listing] = field(default_factory=dict)  # as read, by origin:agency_id
    listings: dict[str, Listing] = field(default_factory=dict)
    dirty: set[str] = field(default_factory=set)
    persons: dict[str, Person] = field(default_factory=dict)
    dirty_persons: set[str] = field(default_factory=set)
    credit: list[CreditEntry] = field(default_factory=list)

    def put(self, key: str, listing: Listing) -> None:
        self.listings[key] = listing
        self.dirty.add(key)

    def put_person(self, person: Person) -> None:
        self.persons[person.key] = person
        self.dirty_persons.add(person.key)

"""Agency events: licensed legal service agencies, platforms and their personnel."""

from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, Field, StringConstraints, field_validator

from contracts.events.base import _HHMM, AggregateId, CountyCode, EventData
from contracts.vocabulary import (
    AgencyType,
    LicenceAction,
    PersonnelRole,
    ServiceType,
    Weekday,
)

Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]


class Coordinates(EventData):
    """A point in GCJ-02 degrees, as published by Chinese map services."""

    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class OpeningHours(EventData):
    """One opening period on one day of the week."""

    day: Weekday
    opens: str = Field(description="HH:MM, local time (UTC+8)")
    closes: str = Field(description="HH:MM, local time (UTC+8)")

    @field_validator("opens", "closes")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError("must be HH:MM on a 24-hour clock")
        return value


class AgencyEvent(EventData):
    aggregate = "agency"
    agency_id: AggregateId


class AgencyProfile(EventData):
    """What the public may know of an agency."""

    agency_type: AgencyType
    name: Name
    licence_number: str | None = Field(default=None, max_length=64)
    county: CountyCode
    address: str = Field(max_length=300)
    coordinates: Coordinates | None = None
    phone: str | None = Field(default=None, max_length=32, description="The agency's public line.")
    services: list[ServiceType] = Field(default_factory=list)
    opening_hours: list[OpeningHours] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=lambda: ["zh"])
    accessible: bool = False


class AgencyRegistered(AgencyEvent, AgencyProfile):
    """An agency was registered with the province's justice department."""

    event = "registered"
    registered_at: AwareDatetime


class AgencyUpdated(AgencyEvent, AgencyProfile):
    """An agency's public profile changed; the payload is its whole new profile."""

    event = "updated"


class LicenceChange(AgencyEvent):
    action: LicenceAction
    effective_at: AwareDatetime


class AgencyLicenceSuspended(LicenceChange):
    """The agency's practising licence was suspended."""

    event = "licence_suspended"
    until: AwareDatetime | None = None


class AgencyLicenceRevoked(LicenceChange):
    """The agency's practising licence was revoked."""

    event = "licence_revoked"


class AgencyLicenceRestored(LicenceChange):
    """A suspended licence is in force again."""

    event = "licence_restored"


class AgencyClosed(AgencyEvent):
    """The agency stopped operating."""

    event = "closed"
    closed_at: AwareDatetime


class AgencyPersonnelJoined(AgencyEvent):
    """A practitioner joined the agency. Practitioners' names and licences are public by law."""

    event = "personnel_joined"
    person_id: AggregateId
    name: Name
    role: PersonnelRole
    licence_number: str | None = Field(default=None, max_length=64)


class AgencyPersonnelLeft(AgencyEvent):
    """A practitioner left the agency."""

    event = "personnel_left"
    person_id: AggregateId

"""A legal service agency registered in the province, with its licence and its personnel."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from contracts.vocabulary import AgencyType, LicenceStatus
from services.province_node.domain.base import NodeAggregate
from services.province_node.domain.errors import (
    AgencyClosed,
    AgencyNotLicensed,
    LicenceAlreadyRevoked,
    LicenceNotActive,
    LicenceNotSuspended,
    PersonAlreadyAtAgency,
    PersonNotAtAgency,
)

# Agencies that practise under a licence issued by the justice administration.
LICENSED_TYPES = {
    AgencyType.LAW_FIRM.value,
    AgencyType.NOTARY_OFFICE.value,
    AgencyType.JUDICIAL_APPRAISAL_INSTITUTION.value,
    AgencyType.BASIC_LEGAL_SERVICE_OFFICE.value,
    AgencyType.ARBITRATION_COMMISSION.value,
}


class Agency(NodeAggregate):
    """An agency's public profile, licence standing and staff."""

    class Registered(NodeAggregate.Created):
        province: str
        profile: dict[str, Any]
        registered_at: datetime

        def evolve(self, agency: Agency) -> None:
            agency.province = self.province
            agency.profile = dict(self.profile)
            agency.registered_at = self.registered_at
            agency.licence_status = LicenceStatus.ACTIVE.value
            agency.closed_at = None
            agency.personnel = {}

    class Updated(NodeAggregate.Event):
        profile: dict[str, Any]

        def evolve(self, agency: Agency) -> None:
            agency.profile = dict(self.profile)

    class LicenceSuspended(NodeAggregate.Event):
        action: str
        effective_at: datetime
        until: datetime | None
        note: str | None

        def evolve(self, agency: Agency) -> None:
            agency.licence_status = LicenceStatus.SUSPENDED.value

    class LicenceRevoked(NodeAggregate.Event):
        action: str
        effective_at: datetime
        note: str | None

        def evolve(self, agency: Agency) -> None:
            agency.licence_status = LicenceStatus.REVOKED.value

    class LicenceRestored(NodeAggregate.Event):
        action: str
        effective_at: datetime
        note: str | None

        def evolve(self, agency: Agency) -> None:
            agency.licence_status = LicenceStatus.ACTIVE.value

    class Closed(NodeAggregate.Event):
        closed_at: datetime

        def evolve(self, agency: Agency) -> None:
            agency.closed_at = self.closed_at

    class PersonnelJoined(NodeAggregate.Event):
        person_id: str
        name: str
        role: str
        licence_number: str | None

        def evolve(self, agency: Agency) -> None:
            agency.personnel[self.person_id] = {
                "name": self.name,
                "role": self.role,
                "licence_number": self.licence_number,
                "joined_at": self.timestamp.isoformat(),
            }

    class PersonnelLeft(NodeAggregate.Event):
        person_id: str

        def evolve(self, agency: Agency) -> None:
            agency.personnel.pop(self.person_id, None)

    if TYPE_CHECKING:  # state, set by the events above
        province: str
        profile: dict[str, Any]
        registered_at: datetime
        licence_status: str
        closed_at: datetime | None
        personnel: dict[str, dict[str, Any]]

    @classmethod
    def register(
        cls,
        *,
        id: UUID,
        province: str,
        profile: dict[str, Any],
        registered_at: datetime,
    ) -> Agency:
        return cls._create(
            cls.Registered, id=id, province=province, profile=profile, registered_at=registered_at
        )

    @property
    def agency_type(self) -> str:
        return str(self.profile["agency_type"])

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None

    def _refuse_if_closed(self) -> None:
        if self.is_closed:
            raise AgencyClosed()

    def _refuse_unless_licensed(self) -> None:
        self._refuse_if_closed()
        if self.agency_type not in LICENSED_TYPES:
            raise AgencyNotLicensed()

    def update(self, profile: dict[str, Any]) -> None:
        self._refuse_if_closed()
        if profile != self.profile:
            self.trigger_event(self.Updated, profile=profile)

    def suspend_licence(
        self, action: str, effective_at: datetime, until: datetime | None, note: str | None = None
    ) -> None:
        self._refuse_unless_licensed()
        if self.licence_status == LicenceStatus.REVOKED:
            raise LicenceAlreadyRevoked()
        if self.licence_status != LicenceStatus.ACTIVE:
            raise LicenceNotActive()
        self.trigger_event(
            self.LicenceSuspended, action=action, effective_at=effective_at, until=until, note=note
        )

    def revoke_licence(self, action: str, effective_at: datetime, note: str | None = None) -> None:
        self._refuse_unless_licensed()
        if self.licence_status == LicenceStatus.REVOKED:
            raise LicenceAlreadyRevoked()
        self.trigger_event(self.LicenceRevoked, action=action, effective_at=effective_at, note=note)

    def restore_licence(self, action: str, effective_at: datetime, note: str | None = None) -> None:
        self._refuse_unless_licensed()
        if self.licence_status == LicenceStatus.REVOKED:
            raise LicenceAlreadyRevoked()
        if self.licence_status != LicenceStatus.SUSPENDED:
            raise LicenceNotSuspended()
        self.trigger_event(
            self.LicenceRestored, action=action, effective_at=effective_at, note=note
        )

    def close(self, closed_at: datetime) -> None:
        self._refuse_if_closed()
        self.trigger_event(self.Closed, closed_at=closed_at)

    def add_person(self, person_id: str, name: str, role: str, licence_number: str | None) -> None:
        self._refuse_if_closed()
        if person_id in self.personnel:
            raise PersonAlreadyAtAgency()
        self.trigger_event(
            self.PersonnelJoined,
            person_id=person_id,
            name=name,
            role=role,
            licence_number=licence_number,
        )

    def remove_person(self, person_id: str) -> None:
        if person_id not in self.personnel:
            raise PersonNotAtAgency()
        self.trigger_event(self.PersonnelLeft, person_id=person_id)

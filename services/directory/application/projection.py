"""The directory projection: agency, personnel and credit events into listings, exactly once.

Province streams bring agencies' profiles, licences and staff; the ministry's stream brings upheld
complaints (`pls.moj.complaint.upheld`). Each handler changes a few listings in memory; the batch's
rows, dead letters and every source's new position are then written in one transaction, which is
what makes each event count once however often it is delivered.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import singledispatchmethod

from contracts.envelope import CloudEvent
from contracts.events import agency as ae
from contracts.events import complaint as cpe
from contracts.events.base import EventData
from contracts.subjects import MINISTRY
from pls.intake.intake import Applicable, Batch, DeadLetter, SourceState
from services.directory.adapters.readmodel import DirectoryReadModel
from services.directory.domain import identity
from services.directory.domain.listing import (
    Changes,
    CreditEntry,
    NotInProvince,
    Person,
    new_listing,
    updated_listing,
)
from services.directory.domain.text import name_syllables

AGENCY_TYPES = "cn.gov.moj.pls.agency."
UPHELD_TYPES = "cn.gov.moj.pls.complaint.upheld."


def interested_in(event_type: str) -> bool:
    """Agency events and upheld complaints; case and other events are skipped undecoded."""
    return event_type.startswith((AGENCY_TYPES, UPHELD_TYPES))


def agency_key(origin: str, agency_id: str) -> str:
    return f"{origin}:{agency_id}"


class DirectoryProjection:
    def __init__(self, readmodel: DirectoryReadModel) -> None:
        self.readmodel = readmodel

    def sources(self) -> list[SourceState]:
        return self.readmodel.sources()

    def commit(self, batch: Batch) -> None:
        """Apply a batch and record it, with the sources' positions, in one transaction."""
        try:
            with self.readmodel.db.transaction() as cursor:
                agencies, persons = self._keys(batch.events)
                changes = self.readmodel.load(cursor, agencies, persons)
                serials = self.readmodel.serials(cursor, self._new_rows(batch.events))
                dead_letters = list(batch.dead_letters)
                for item in batch.events:
                    problem = self.process_event(
                        item.data, item.envelope, item.origin, changes, serials
                    )
                    if problem:
                        dead_letters.append(_dead_letter(item, problem))
                self.readmodel.write(cursor, changes, dead_letters, batch.sources.values())
        except BaseException:
            self.readmodel.forget_cached()
            raise

    @staticmethod
    def _keys(events: list[Applicable]) -> tuple[set[str], set[str]]:
        agencies, persons = set(), set()
        for event in events:
            data = event.data
            if isinstance(data, ae.AgencyEvent):
                agencies.add(agency_key(event.origin, data.agency_id))
                if isinstance(data, ae.AgencyPersonnelJoined | ae.AgencyPersonnelLeft):
                    persons.add(agency_key(event.origin, data.person_id))
        return agencies, persons

    @staticmethod
    def _new_rows(events: list[Applicable]) -> int:
        return sum(isinstance(e.data, ae.AgencyRegistered | ae.AgencyUpdated) for e in events)

    # -- events ----------------------------------------------------------------------------------

    @singledispatchmethod
    def process_event(
        self,
        data: EventData,
        envelope: CloudEvent,
        origin: str,
        changes: Changes,
        serials: Iterator[int],
    ) -> str | None:
        """Events the directory does not show (they are still tracked and hashed)."""
        return None

    @process_event.register
    def _(
        self,
        data: ae.AgencyRegistered,
        envelope: CloudEvent,
        origin: str,
        changes: Changes,
        serials: Iterator[int],
    ) -> str | None:
        key = agency_key(origin, data.agency_id)
        if key in changes.listings:
            return None  # registered twice under one id: the first one counts
        try:
            listing = new_listing(origin, data, next(serials), envelope.time)
        except NotInProvince as error:
            return str(error)
        changes.put(key, listing)
        changes.credit.append(
            CreditEntry(
                listing.id,
                "registered",
                data.registered_at.isoformat(),
                envelope.id,
                {"licence_number": data.licence_number} if data.licence_number else {},
            )
        )
        return None

    @process_event.register
    def _(
        self,
        data: ae.AgencyUpdated,
        envelope: CloudEvent,
        origin: str,
        changes: Changes,
        serials: Iterator[int],
    ) -> str | None:
        key = agency_key(origin, data.agency_id)
        listing = changes.listings.get(key)
        if listing is None:
            return f"data.agency_id: agency {data.agency_id} was never registered at {origin}"
        try:
            changed = updated_listing(listing, origin, data, next(serials), envelope.time)
        except NotInProvince as error:
            return str(error)
        if changed.licence_number != listing.licence_number:
            changes.credit.append(
                CreditEntry(
                    listing.id,
                    "licence_number_changed",
                    envelope.time.isoformat(),
                    envelope.id,
                    {"from": listing.licence_number, "to": changed.licence_number},
                )
            )
        changes.put(key, changed)
        return None

    def _licence(
        self,
        data: ae.LicenceChange,
        envelope: CloudEvent,
        origin: str,
        changes: Changes,
        status: str,
        kind: str,
        **detail: object,
    ) -> str | None:
        key = agency_key(origin, data.agency_id)
        listing = changes.listings.get(key)
        if listing is None:
            return f"data.agency_id: agency {data.agency_id} was never registered at {origin}"
        listing.licence_status = status
        listing.modified_at = envelope.time.isoformat()
        changes.put(key, listing)
        changes.credit.append(
            CreditEntry(
                listing.id,
                kind,
                data.effective_at.isoformat(),
                envelope.id,
                {"action": data.action.value, **{k: v for k, v in detail.items() if v is not None}},
            )
        )
        return None

    @process_event.register
    def _(
        self,
        data: ae.AgencyLicenceSuspended,
        envelope: CloudEvent,
        origin: str,
        changes: Changes,
        serials: Iterator[int],
    ) -> str | None:
        until = data.until.isoformat() if data.until else None
        return self._licence(
            data, envelope, origin, changes, "suspended", "licence_suspended", until=until
        )

    @process_event.register
    def _(
        self,
        data: ae.AgencyLicenceRevoked,
        envelope: CloudEvent,
        origin: str,
        changes: Changes,
        serials: Iterator[int],
    ) -> str | None:
        return self._licence(data, envelope, origin, changes, "revoked", "licence_revoked")

    @process_event.register
    def _(
        self,
        data: ae.AgencyLicenceRestored,
        envelope: CloudEvent,
        origin: str,
        changes: Changes,
        serials: Iterator[int],
    ) -> str | None:
        return self._licence(data, envelope, origin, changes, "active", "licence_restored")

    @process_event.register
    def _(
        self,
        data: ae.AgencyClosed,
        envelope: CloudEvent,
        origin: str,
        changes: Changes,
        serials: Iterator[int],
    ) -> str | None:
        key = agency_key(origin, data.agency_id)
        listing = changes.listings.get(key)
        if listing is None:
            return f"data.agency_id: agency {data.agency_id} was never registered at {origin}"
        listing.closed_at = data.closed_at.isoformat()
        listing.modified_at = envelope.time.isoformat()
        changes.put(key, listing)
        changes.credit.append(CreditEntry(listing.id, "closed", listing.closed_at, envelope.id))
        return None

    @process_event.register
    def _(
        self,
        data: ae.AgencyPersonnelJoined,
        envelope: CloudEvent,
        origin: str,
        changes: Changes,
        serials: Iterator[int],
    ) -> str | None:
        listing = changes.listings.get(agency_key(origin, data.agency_id))
        if listing is None:
            return f"data.agency_id: agency {data.agency_id} was never registered at {origin}"
        key = agency_key(origin, data.person_id)
        public = identity.person_id(origin, data.person_id)
        at = envelope.time.isoformat()
        spoken = name_syllables(data.name)
        changes.put_person(
            Person(
                key=key,
                id=public,
                origin=origin,
                person_id=data.person_id,
                name=data.name,
                pinyin="".join(spoken),
                initials="".join(s[0] for s in spoken),
                role=data.role.value,
                licence_number=data.licence_number,
                organization_id=listing.id,
                status="active",
                joined_at=at,
                left_at=None,
                modified_at=at,
            )
        )
        changes.credit.append(
            CreditEntry(
                public,
                "joined",
                at,
                envelope.id,
                {
                    "organization_id": listing.id,
                    "organization": listing.name,
                    "role": data.role.value,
                },
            )
        )
        return None

    @process_event.register
    def _(
        self,
        data: ae.AgencyPersonnelLeft,
        envelope: CloudEvent,
        origin: str,
        changes: Changes,
        serials: Iterator[int],
    ) -> str | None:
        person = changes.persons.get(agency_key(origin, data.person_id))
        listing = changes.listings.get(agency_key(origin, data.agency_id))
        if person is None or listing is None or person.organization_id != listing.id:
            return (
                f"data.person_id: {data.person_id} is not on the staff of agency {data.agency_id}"
            )
        at = envelope.time.isoformat()
        person.status, person.left_at, person.modified_at = "left", at, at
        changes.put_person(person)
        changes.credit.append(
            CreditEntry(
                person.id,
                "left",
                at,
                envelope.id,
                {"organization_id": listing.id, "organization": listing.name},
            )
        )
        return None

    @process_event.register
    def _(
        self,
        data: cpe.ComplaintUpheld,
        envelope: CloudEvent,
        origin: str,
        changes: Changes,
        serials: Iterator[int],
    ) -> str | None:
        if origin != MINISTRY:
            return f"source: only the ministry's complaints service publishes upheld complaints, not {origin}"
        if data.agency_id is None and data.person_id is None:
            return "data: an upheld complaint names agency_id or person_id"
        detail = {
            "complaint_id": data.complaint_id,
            "category": data.category.value,
            "outcome": data.outcome,
            "against": data.against.value,
        }
        at = data.resolved_at.isoformat()
        if data.agency_id is not None:
            subject = identity.organization_id(data.province, data.agency_id)
            changes.credit.append(
                CreditEntry(subject, "complaint_upheld", at, data.complaint_id, detail)
            )
        if data.person_id is not None:
            subject = identity.person_id(data.province, data.person_id)
            changes.credit.append(
                CreditEntry(subject, "complaint_upheld", at, data.complaint_id, detail)
            )
        return None


def _dead_letter(item: Applicable, problem: str) -> DeadLetter:
    return DeadLetter(
        origin=item.origin,
        subject=None,
        reason=problem,
        body=item.envelope.model_dump_json().encode(),
        stream_sequence=None,
        event_id=item.envelope.id,
        sequence=item.envelope.sequence_number,
    )

"""A service complaint (服务投诉) about an agency, a person or a platform service.

Statuses follow the Open311 / FixMyStreet vocabulary adapted to this domain; each change records
who made it and when.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from contracts.vocabulary import ComplaintStatus
from services.province_node.domain.base import NodeAggregate
from services.province_node.domain.errors import TransitionNotAllowed

C = ComplaintStatus
NEXT_STATUSES: dict[str, set[str]] = {
    C.RECEIVED: {C.ACCEPTED, C.NOT_ACCEPTED},
    C.ACCEPTED: {C.INVESTIGATING},
    C.INVESTIGATING: {C.ACTION_TAKEN, C.RESOLVED},
    C.ACTION_TAKEN: {C.RESOLVED},
    C.RESOLVED: {C.CLOSED, C.REOPENED},
    C.NOT_ACCEPTED: {C.CLOSED, C.REOPENED},
    C.CLOSED: {C.REOPENED},
    C.REOPENED: {C.INVESTIGATING},
}


class Complaint(NodeAggregate):
    """A complaint and how it was handled."""

    class Filed(NodeAggregate.Created):
        province: str
        against: str
        agency_id: str | None
        person_id: str | None
        service_type: str | None
        case_id: str | None
        category: str
        channel: str
        received_at: datetime
        complainant: dict[str, Any]
        complainant_id: str
        description: str | None

        def evolve(self, complaint: Complaint) -> None:
            complaint.province = self.province
            complaint.against = self.against
            complaint.agency_id = self.agency_id
            complaint.person_id = self.person_id
            complaint.service_type = self.service_type
            complaint.case_id = self.case_id
            complaint.category = self.category
            complaint.channel = self.channel
            complaint.received_at = self.received_at
            complaint.complainant = dict(self.complainant)
            complaint.complainant_id = self.complainant_id
            complaint.description = self.description
            complaint.status = C.RECEIVED.value

    class StatusChanged(NodeAggregate.Event):
        status: str
        note: str | None

        def evolve(self, complaint: Complaint) -> None:
            complaint.status = self.status

    if TYPE_CHECKING:  # state, set by the events above
        province: str
        against: str
        agency_id: str | None
        person_id: str | None
        service_type: str | None
        case_id: str | None
        category: str
        channel: str
        received_at: datetime
        complainant: dict[str, Any]
        complainant_id: str
        description: str | None
        status: str

    @classmethod
    def file(cls, *, id: UUID, **fields: Any) -> Complaint:
        return cls._create(cls.Filed, id=id, **fields)

    def change_status(self, status: str, note: str | None = None) -> None:
        allowed = NEXT_STATUSES.get(self.status, set())
        if status not in allowed:
            choices = ", ".join(sorted(allowed)) or "none"
            raise TransitionNotAllowed(
                f"a complaint that is {self.status} can move only to: {choices}"
            )
        self.trigger_event(self.StatusChanged, status=status, note=note)

"""The node's publication: its notification log into its local views and its journal.

The shared journal writer (`pls.publication`) does the numbering, hashing, checkpoints and the one
transaction per batch; this module says what each domain event publishes (`to_contract`, with
personal data removed) and how it changes the node's local views.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import singledispatchmethod
from typing import Any

from contracts.events.base import EventData
from pls.publication.writer import JournalCursor, JournalWriter
from pls.sqlstore import Cursor
from pls.trust.keys import SigningKey
from services.province_node.adapters.translation import published_events
from services.province_node.adapters.views import NodeViews
from services.province_node.application.node import NAMESPACE, ProvinceNode
from services.province_node.domain.agency import Agency
from services.province_node.domain.case import Case
from services.province_node.domain.complaint import Complaint

__all__ = ["SERVICE", "JournalCursor", "PublicationProjection"]
SERVICE = "province-node"


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment is not None else None


class PublicationProjection(JournalWriter):
    """Projects the node's notification log into its views and its journal."""

    def __init__(
        self,
        app: ProvinceNode,
        views: NodeViews,
        *,
        batch_size: int = 500,
        checkpoint_interval: float = 60.0,
        signer: SigningKey,
    ) -> None:
        super().__init__(
            app,
            views,
            origin=app.province,
            service=SERVICE,
            namespace=NAMESPACE,
            batch_size=batch_size,
            checkpoint_interval=checkpoint_interval,
            signer=signer,
        )
        self.views = views
        self.province = app.province

    def translate(self, domain_event: Any) -> Sequence[EventData]:
        return published_events(domain_event)

    # -- the local read model ------------------------------------------------------------------

    @singledispatchmethod
    def process_event(self, event: Any, cursor: Cursor) -> None:
        """Events that change no local view."""

    def _case(self, cursor: Cursor, event: Any, **columns: Any) -> None:
        columns["updated_at"] = _iso(event.timestamp)
        assignments = ", ".join(f"{name} = ?" for name in columns)
        cursor.execute(
            f"UPDATE cases SET {assignments} WHERE id = ?",
            (*columns.values(), str(event.originator_id)),
        )

    @process_event.register
    def _(self, event: Case.Opened, cursor: Cursor) -> None:
        cursor.execute(
            "INSERT INTO cases (id, service_type, channel, platform_level, county, status, "
            "applicant_id, categories, detained, received_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, 'received', ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            (
                str(event.originator_id),
                event.service_type,
                event.channel,
                event.platform_level,
                event.county,
                event.applicant_id,
                ",".join(event.applicant_categories),
                int(event.detained),
                _iso(event.received_at),
                _iso(event.timestamp),
            ),
        )

    @process_event.register
    def _(self, event: Case.Accepted, cursor: Cursor) -> None:
        self._case(cursor, event, status="accepted", decided_at=_iso(event.timestamp))

    @process_event.register
    def _(self, event: Case.Rejected, cursor: Cursor) -> None:
        self._case(
            cursor,
            event,
            status="rejected",
            rejection_reason=event.reason,
            decided_at=_iso(event.timestamp),
        )

    @process_event.register
    def _(self, event: Case.Assigned, cursor: Cursor) -> None:
        self._case(
            cursor, event, status="assigned", agency_id=event.agency_id, person_id=event.person_id
        )

    @process_event.register
    def _(self, event: Case.Started, cursor: Cursor) -> None:
        self._case(cursor, event, status="in_progress")

    @process_event.register
    def _(self, event: Case.Transferred, cursor: Cursor) -> None:
        if event.to_province is not None:
            self._case(cursor, event, status="transferred", transferred_to=event.to_province)
        else:
            self._case(
                cursor, event, status="assigned", agency_id=event.to_agency_id, person_id=None
            )

    @process_event.register
    def _(self, event: Case.Concluded, cursor: Cursor) -> None:
        self._case(
            cursor,
            event,
            status="concluded",
            outcome=event.outcome,
            concluded_at=_iso(event.timestamp),
        )

    @process_event.register
    def _(self, event: Case.CallbackDone, cursor: Cursor) -> None:
        self._case(cursor, event, status="callback_done", callback_result=event.result)

    @process_event.register
    def _(self, event: Case.Rated, cursor: Cursor) -> None:
        self._case(cursor, event, status="rated", rating_overall=event.overall)
        cursor.execute(
            "INSERT INTO case_ratings VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (
                str(event.originator_id),
                event.originator_version,
                event.overall,
                event.attitude,
                event.efficiency,
                event.competence,
                _iso(event.timestamp),
            ),
        )

    @process_event.register
    def _(self, event: Case.Reopened, cursor: Cursor) -> None:
        cursor.execute(
            "UPDATE cases SET status = CASE WHEN agency_id IS NULL THEN 'received' "
            "ELSE 'in_progress' END, outcome = NULL, rating_overall = NULL, callback_result = NULL, "
            "rejection_reason = NULL, updated_at = ? WHERE id = ?",
            (_iso(event.timestamp), str(event.originator_id)),
        )

    @process_event.register
    def _(self, event: Agency.Registered, cursor: Cursor) -> None:
        profile = event.profile
        cursor.execute(
            "INSERT INTO agencies VALUES (?, ?, ?, ?, ?, 'active', 0, ?, ?) ON CONFLICT (id) DO NOTHING",
            (
                str(event.originator_id),
                profile["agency_type"],
                profile["name"],
                profile.get("licence_number"),
                profile["county"],
                _iso(event.registered_at),
                _iso(event.timestamp),
            ),
        )

    def _agency(self, cursor: Cursor, event: Any, **columns: Any) -> None:
        columns["updated_at"] = _iso(event.timestamp)
        assignments = ", ".join(f"{name} = ?" for name in columns)
        cursor.execute(
            f"UPDATE agencies SET {assignments} WHERE id = ?",
            (*columns.values(), str(event.originator_id)),
        )

    @process_event.register
    def _(self, event: Agency.Updated, cursor: Cursor) -> None:
        profile = event.profile
        self._agency(
            cursor,
            event,
            agency_type=profile["agency_type"],
            name=profile["name"],
            licence_number=profile.get("licence_number"),
            county=profile["county"],
        )

    @process_event.register
    def _(self, event: Agency.LicenceSuspended, cursor: Cursor) -> None:
        self._agency(cursor, event, licence_status="suspended")

    @process_event.register
    def _(self, event: Agency.LicenceRevoked, cursor: Cursor) -> None:
        self._agency(cursor, event, licence_status="revoked")

    @process_event.register
    def _(self, event: Agency.LicenceRestored, cursor: Cursor) -> None:
        self._agency(cursor, event, licence_status="active")

    @process_event.register
    def _(self, event: Agency.Closed, cursor: Cursor) -> None:
        self._agency(cursor, event, closed=1)

    @process_event.register
    def _(self, event: Agency.PersonnelJoined, cursor: Cursor) -> None:
        cursor.execute(
            "INSERT INTO personnel VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (
                str(event.originator_id),
                event.person_id,
                event.name,
                event.role,
                event.licence_number,
            ),
        )

    @process_event.register
    def _(self, event: Agency.PersonnelLeft, cursor: Cursor) -> None:
        cursor.execute(
            "DELETE FROM personnel WHERE agency_id = ? AND person_id = ?",
            (str(event.originator_id), event.person_id),
        )

    @process_event.register
    def _(self, event: Complaint.Filed, cursor: Cursor) -> None:
        cursor.execute(
            "INSERT INTO complaints VALUES (?, ?, ?, ?, ?, ?, 'received', ?, ?) "
            "ON CONFLICT (id) DO NOTHING",
            (
                str(event.originator_id),
                event.against,
                event.agency_id,
                event.person_id,
                event.category,
                event.channel,
                _iso(event.received_at),
                _iso(event.timestamp),
            ),
        )

    @process_event.register
    def _(self, event: Complaint.StatusChanged, cursor: Cursor) -> None:
        cursor.execute(
            "UPDATE complaints SET status = ?, updated_at = ? WHERE id = ?",
            (event.status, _iso(event.timestamp), str(event.originator_id)),
        )

    @process_event.register
    def _(self, event: Complaint.Step, cursor: Cursor) -> None:
        cursor.execute(
            "UPDATE complaints SET status = ?, updated_at = ? WHERE id = ?",
            (event.status, _iso(event.timestamp), str(event.originator_id)),
        )

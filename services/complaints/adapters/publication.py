"""The supervision's decisions out as contract events on `pls.moj.*`, through the shared journal."""

from __future__ import annotations

from collections.abc import Sequence
from functools import singledispatch
from typing import Any

from contracts.events import complaint as cpe
from contracts.events.base import EventData
from contracts.subjects import MINISTRY
from pls.publication.journal import Journal
from pls.publication.writer import JournalWriter
from pls.trust.keys import SigningKey
from services.complaints.application.supervision import Supervision
from services.complaints.domain.decisions import (
    NAMESPACE,
    CallbackMissed,
    DeadlineMissed,
    Escalation,
    Upholding,
)

SERVICE = "complaints"


@singledispatch
def to_contract(event: Any) -> EventData | None:
    """The integration event for a decision, or None."""
    return None


@to_contract.register
def _(event: DeadlineMissed.Recorded) -> EventData:
    return cpe.ComplaintDeadlineMissed(
        complaint_id=event.complaint_id,
        province=event.province,
        rule_id=event.rule_id,
        phase=event.phase,
        started_at=event.started_at,
        due_at=event.due_at,
        against=event.against,
        agency_id=event.agency_id,
        category=event.category,
    )


@to_contract.register
def _(event: Escalation.Recorded) -> EventData:
    return cpe.ComplaintEscalated(
        complaint_id=event.complaint_id,
        province=event.province,
        rule_id=event.rule_id,
        phase=event.phase,
        level=event.level,
        due_at=event.due_at,
        escalated_at=event.escalated_at,
        agency_id=event.agency_id,
        category=event.category,
    )


@to_contract.register
def _(event: CallbackMissed.Recorded) -> EventData:
    return cpe.CaseCallbackMissed(
        case_id=event.case_id,
        province=event.province,
        rule_id=event.rule_id,
        rated_at=event.rated_at,
        due_at=event.due_at,
        agency_id=event.agency_id,
        service_type=event.service_type,
    )


@to_contract.register
def _(event: Upholding.Recorded) -> EventData:
    return cpe.ComplaintUpheld(
        complaint_id=event.complaint_id,
        province=event.province,
        against=event.against,
        agency_id=event.agency_id,
        person_id=event.person_id,
        category=event.category,
        outcome=event.outcome,
        resolved_at=event.resolved_at,
        finding=event.finding,
        service_type=event.service_type,
    )


@to_contract.register
def _(event: Upholding.Withdrawn) -> EventData:
    return cpe.ComplaintUpholdingWithdrawn(
        complaint_id=event.complaint_id,
        province=event.province,
        agency_id=event.agency_id,
        person_id=event.person_id,
        withdrawn_at=event.withdrawn_at,
    )


class SupervisionPublication(JournalWriter):
    """Numbers, chains and journals every decision for the relay to `PLS_MOJ`."""

    def __init__(
        self,
        app: Supervision,
        journal: Journal,
        *,
        batch_size: int = 500,
        checkpoint_interval: float = 60.0,
        signer: SigningKey,
    ) -> None:
        super().__init__(
            app,
            journal,
            origin=MINISTRY,
            service=SERVICE,
            namespace=NAMESPACE,
            batch_size=batch_size,
            checkpoint_interval=checkpoint_interval,
            signer=signer,
        )

    def translate(self, domain_event: Any) -> Sequence[EventData]:
        data = to_contract(domain_event)
        return [data] if data is not None else []

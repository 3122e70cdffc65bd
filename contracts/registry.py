"""The registry of integration event types and versions, and the upcasters between versions."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from contracts.events.agency import (
    AgencyClosed,
    AgencyLicenceRestored,
    AgencyLicenceRevoked,
    AgencyLicenceSuspended,
    AgencyPersonnelJoined,
    AgencyPersonnelLeft,
    AgencyRegistered,
    AgencyUpdated,
)
from contracts.events.base import EventData
from contracts.events.case import (
    CaseAccepted,
    CaseAssigned,
    CaseCallbackDone,
    CaseConcluded,
    CaseOpened,
    CaseRated,
    CaseRejected,
    CaseReopened,
    CaseStarted,
    CaseTransferred,
)
from contracts.events.checkpoint import CheckpointPublished
from contracts.events.complaint import (
    CaseCallbackMissed,
    ComplaintAccepted,
    ComplaintActionTaken,
    ComplaintClosed,
    ComplaintDeadlineMissed,
    ComplaintEscalated,
    ComplaintFiled,
    ComplaintInvestigationStarted,
    ComplaintNotAccepted,
    ComplaintReopened,
    ComplaintResolved,
    ComplaintStatusChanged,
    ComplaintUpheld,
    ComplaintUpholdingWithdrawn,
)
from contracts.subjects import subject_for

TYPE_PREFIX = "cn.gov.moj.pls"
SCHEMA_BASE_URL = "https://pls.moj.gov.cn/schemas"

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class UnknownEventType(LookupError):
    """The `type` names no event type or version this consumer supports."""


class PayloadInvalid(ValueError):
    """The `data` does not match the schema of its type; the message names the fields."""


@dataclass(frozen=True)
class EventType:
    """One version of one integration event type."""

    model: type[EventData]

    @property
    def aggregate(self) -> str:
        return self.model.aggregate

    @property
    def event(self) -> str:
        return self.model.event

    @property
    def version(self) -> int:
        return self.model.version

    @property
    def name(self) -> str:
        """The CloudEvents `type`, e.g. `cn.gov.moj.pls.case.opened.v1`."""
        return f"{TYPE_PREFIX}.{self.aggregate}.{self.event}.v{self.version}"

    @property
    def dataschema(self) -> str:
        return f"{SCHEMA_BASE_URL}/{self.name}.json"

    @property
    def schema_file(self) -> str:
        return f"{self.name}.json"

    def subject(self, origin: str) -> str:
        return subject_for(origin, self.aggregate, self.event)


@dataclass
class Registry:
    """Every supported event type by its CloudEvents `type`, with upcasters for older versions."""

    types: dict[str, EventType] = field(default_factory=dict)
    upcasters: dict[str, tuple[str, Upcaster]] = field(default_factory=dict)
    _by_model: dict[type[EventData], EventType] = field(default_factory=dict)

    def register(self, model: type[EventData]) -> EventType:
        event_type = EventType(model)
        if event_type.name in self.types:
            raise ValueError(f"{event_type.name} registered twice")
        self.types[event_type.name] = event_type
        self._by_model[model] = event_type
        return event_type

    def register_upcaster(self, old_type: str, new_type: str, upcast: Upcaster) -> None:
        """Teach consumers to read `old_type` payloads as `new_type` ones."""
        if new_type not in self.types:
            raise ValueError(f"upcaster target {new_type} is not registered")
        self.upcasters[old_type] = (new_type, upcast)

    def __iter__(self) -> Iterator[EventType]:
        return iter(self.types.values())

    def for_model(self, model: type[EventData]) -> EventType:
        return self._by_model[model]

    def of(self, data: EventData) -> EventType:
        return self._by_model[type(data)]

    def supports(self, type_name: str) -> bool:
        return type_name in self.types or type_name in self.upcasters

    def decode(self, type_name: str, data: Any) -> EventData:
        """Validate `data` as a payload of `type_name`, upcasting older versions to the current one."""
        while type_name in self.upcasters and type_name not in self.types:
            type_name, upcast = self.upcasters[type_name]
            data = upcast(dict(data))
        event_type = self.types.get(type_name)
        if event_type is None:
            raise UnknownEventType(f"unsupported event type {type_name!r}")
        try:
            return event_type.model.model_validate(data)
        except ValidationError as error:
            raise PayloadInvalid(describe_validation_error(error)) from None


def describe_validation_error(error: ValidationError) -> str:
    """One line naming each offending field and why, e.g. `data.county: String should match ...`."""
    problems = []
    for item in error.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"]) or "(payload)"
        problems.append(f"{where}: {item['msg']}")
    return "; ".join(problems)


REGISTRY = Registry()
for _model in (
    CaseOpened,
    CaseAccepted,
    CaseRejected,
    CaseAssigned,
    CaseStarted,
    CaseTransferred,
    CaseConcluded,
    CaseCallbackDone,
    CaseRated,
    CaseReopened,
    AgencyRegistered,
    AgencyUpdated,
    AgencyLicenceSuspended,
    AgencyLicenceRevoked,
    AgencyLicenceRestored,
    AgencyClosed,
    AgencyPersonnelJoined,
    AgencyPersonnelLeft,
    ComplaintFiled,
    ComplaintStatusChanged,
    ComplaintAccepted,
    ComplaintNotAccepted,
    ComplaintInvestigationStarted,
    ComplaintActionTaken,
    ComplaintResolved,
    ComplaintClosed,
    ComplaintReopened,
    ComplaintUpheld,
    ComplaintUpholdingWithdrawn,
    ComplaintDeadlineMissed,
    ComplaintEscalated,
    CaseCallbackMissed,
    CheckpointPublished,
):
    REGISTRY.register(_model)

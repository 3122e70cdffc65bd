"""Request and response models of the node's HTTP API."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from contracts.events.agency import Coordinates, OpeningHours
from contracts.subjects import PROVINCES
from contracts.vocabulary import (
    AgencyType,
    ApplicantCategory,
    CallbackResult,
    Channel,
    ComplaintAction,
    ComplaintAgainst,
    ComplaintCategory,
    ComplaintFinding,
    ComplaintNotAcceptedReason,
    ComplaintOutcome,
    ComplaintReopenReason,
    ComplaintStatus,
    LicenceAction,
    Outcome,
    PersonnelRole,
    PlatformLevel,
    RejectionReason,
    ReopenReason,
    ServiceType,
)
from pls import divisions

Note = Annotated[str, StringConstraints(max_length=2000, strip_whitespace=True)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
_PHONE = re.compile(r"^\+?[0-9][0-9 \-]{4,19}$")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PersonalData(Strict):
    """Personal data of a citizen. Kept in the province only; never published."""

    name: ShortText | None = None
    phone: str | None = Field(default=None, description="Mobile or landline number.")
    id_number: str | None = Field(default=None, description="18-character resident ID number.")
    address: Annotated[str, StringConstraints(max_length=300)] | None = None

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is not None and not _PHONE.match(value):
            raise ValueError("must be a phone number of 5 to 20 digits")
        return value

    @field_validator("id_number")
    @classmethod
    def _id_number(cls, value: str | None) -> str | None:
        if value is None:
            return value
        value = value.strip().upper()
        if not re.fullmatch(r"\d{17}[\dX]", value):
            raise ValueError("must be 17 digits followed by a digit or X")
        check = _ID_CHECK[
            sum(int(d) * w for d, w in zip(value[:17], _ID_WEIGHTS, strict=True)) % 11
        ]
        if value[17] != check:
            raise ValueError("the check character does not match (GB 11643)")
        return value


def _county_in(province: str, county: str, field: str = "county") -> str:
    if not divisions.is_county(county):
        raise ValueError(f"{field}: {county} is not a county-level GB/T 2260 code")
    if divisions.province_of(county) != province:
        raise ValueError(f"{field}: {county} is not in province {province}")
    return county


class TransferOrigin(Strict):
    province: str
    case_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]

    @field_validator("province")
    @classmethod
    def _province(cls, value: str) -> str:
        if value not in PROVINCES:
            raise ValueError("not a provincial platform code")
        return value


class CaseCreate(Strict):
    """A new request for a public legal service."""

    service_type: ServiceType
    channel: Channel
    platform_level: PlatformLevel | None = Field(
        default=None, description="Required for walk_in: which physical platform."
    )
    county: str = Field(description="GB/T 2260 county-level code in this province.")
    received_at: AwareDatetime | None = Field(default=None, description="Defaults to now.")
    applicant: PersonalData = Field(default_factory=PersonalData)
    applicant_categories: list[ApplicantCategory] = Field(default_factory=list, max_length=7)
    detained: bool = False
    transferred_from: TransferOrigin | None = None
    summary: Note | None = Field(default=None, description="Free text; stays in the province.")

    def validate_for(self, province: str) -> None:
        _county_in(province, self.county)
        if self.channel is Channel.WALK_IN and self.platform_level is None:
            raise ValueError("platform_level: required when channel is walk_in")


class CaseReject(Strict):
    reason: RejectionReason
    note: Note | None = None


class CaseAssign(Strict):
    agency_id: UUID
    person_id: str | None = None


class CaseTransfer(Strict):
    """Exactly one of `to_agency_id` (within the province) and `to_province`."""

    to_agency_id: UUID | None = None
    to_province: str | None = None
    note: Note | None = None

    @field_validator("to_province")
    @classmethod
    def _province(cls, value: str | None) -> str | None:
        if value is not None and value not in PROVINCES:
            raise ValueError("not a provincial platform code")
        return value


class CaseConclude(Strict):
    outcome: Outcome
    note: Note | None = None


class CallbackCreate(Strict):
    result: CallbackResult
    note: Note | None = None


Score = Annotated[int, Field(ge=1, le=5)]


class RatingCreate(Strict):
    overall: Score
    attitude: Score
    efficiency: Score
    competence: Score
    comment: Note | None = None


class CaseReopen(Strict):
    reason: ReopenReason
    note: Note | None = None


class CaseEventRead(BaseModel):
    version: int
    type: str
    at: datetime
    actor: str | None
    details: dict[str, Any]


class CaseRead(BaseModel):
    """A case as the province sees it, personal data included."""

    id: UUID
    province: str
    service_type: str
    channel: str
    platform_level: str | None
    county: str
    county_name: str
    status: str
    received_at: datetime
    applicant: PersonalData
    applicant_id: str
    applicant_categories: list[str]
    detained: bool
    agency_id: str | None
    person_id: str | None
    outcome: str | None
    rejection_reason: str | None
    rating: dict[str, int] | None
    callback_result: str | None
    transferred_from: dict[str, str] | None
    version: int
    created_on: datetime
    modified_on: datetime
    history: list[CaseEventRead] | None = None

    @classmethod
    def of(cls, case: Any, history: list[Any] | None = None) -> CaseRead:
        return cls(
            id=case.id,
            province=case.province,
            service_type=case.service_type,
            channel=case.channel,
            platform_level=case.platform_level,
            county=case.county,
            county_name=divisions.gazetteer().name(case.county),
            status=str(case.status),
            received_at=case.received_at,
            applicant=PersonalData(**case.applicant.as_dict()),
            applicant_id=case.applicant_id,
            applicant_categories=case.applicant_categories,
            detained=case.detained,
            agency_id=case.agency_id,
            person_id=case.person_id,
            outcome=case.outcome,
            rejection_reason=case.rejection_reason,
            rating=case.rating,
            callback_result=case.callback_result,
            transferred_from=case.transferred_from,
            version=case.version,
            created_on=case.created_on,
            modified_on=case.modified_on,
            history=[event_read(event) for event in history] if history is not None else None,
        )


_BASE_FIELDS = {
    "originator_id",
    "originator_version",
    "timestamp",
    "originator_topic",
    "actor",
    "traceparent",
    "command_id",
    "applicant",
    "complainant",
    "request_fingerprint",
}


def event_read(event: Any) -> CaseEventRead:
    name = type(event).__name__
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
    details = {k: v for k, v in vars(event).items() if k not in _BASE_FIELDS}
    return CaseEventRead(
        version=event.originator_version,
        type=snake,
        at=event.timestamp,
        actor=event.actor,
        details=details,
    )


class CaseSummaryRead(BaseModel):
    id: str
    service_type: str
    channel: str
    platform_level: str | None
    county: str
    status: str
    outcome: str | None
    rejection_reason: str | None
    agency_id: str | None
    person_id: str | None
    applicant_id: str
    categories: str
    detained: bool
    received_at: str
    updated_at: str
    decided_at: str | None
    concluded_at: str | None
    rating_overall: int | None
    callback_result: str | None
    transferred_to: str | None


class RatingSummary(BaseModel):
    count: int
    overall_sum: int
    satisfied: int
    average_overall: float | None
    satisfied_share: float | None


class CaseStatistics(BaseModel):
    """The province's own figures, as it reports them about itself."""

    province: str
    total: int
    by_status: dict[str, int]
    by_service_type: dict[str, int]
    by_channel: dict[str, int]
    by_outcome: dict[str, int]
    ratings: RatingSummary


class AgencyCreate(Strict):
    """An agency's public profile."""

    agency_type: AgencyType
    name: ShortText
    licence_number: Annotated[str, StringConstraints(max_length=64)] | None = None
    county: str
    address: Annotated[str, StringConstraints(max_length=300)]
    coordinates: Coordinates | None = None
    phone: Annotated[str, StringConstraints(max_length=32)] | None = None
    services: list[ServiceType] = Field(default_factory=list)
    opening_hours: list[OpeningHours] = Field(default_factory=list, max_length=21)
    languages: list[
        Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]
    ] = Field(default_factory=lambda: ["zh"], max_length=20)
    accessible: bool = False

    def validate_for(self, province: str) -> None:
        _county_in(province, self.county)

    def profile(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class PersonCreate(Strict):
    person_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    name: ShortText
    role: PersonnelRole
    licence_number: Annotated[str, StringConstraints(max_length=64)] | None = None


class LicenceChangeCreate(Strict):
    action: LicenceAction
    until: AwareDatetime | None = None
    note: Note | None = None


class PersonRead(BaseModel):
    person_id: str
    name: str
    role: str
    licence_number: str | None


class AgencyRead(BaseModel):
    id: UUID
    province: str
    profile: dict[str, Any]
    licence_status: str
    registered_at: datetime
    closed_at: datetime | None
    personnel: list[PersonRead]
    version: int

    @classmethod
    def of(cls, agency: Any) -> AgencyRead:
        return cls(
            id=agency.id,
            province=agency.province,
            profile=agency.profile,
            licence_status=agency.licence_status,
            registered_at=agency.registered_at,
            closed_at=agency.closed_at,
            version=agency.version,
            personnel=[
                PersonRead(
                    person_id=pid,
                    name=p["name"],
                    role=p["role"],
                    licence_number=p.get("licence_number"),
                )
                for pid, p in agency.personnel.items()
            ],
        )


class AgencySummaryRead(BaseModel):
    id: str
    agency_type: str
    name: str
    licence_number: str | None
    county: str
    licence_status: str
    closed: bool
    registered_at: str
    updated_at: str


class ComplaintCreate(Strict):
    against: ComplaintAgainst
    agency_id: UUID | None = None
    person_id: str | None = None
    service_type: ServiceType | None = None
    case_id: str | None = None
    category: ComplaintCategory
    channel: Channel
    received_at: AwareDatetime | None = None
    complainant: PersonalData = Field(default_factory=PersonalData)
    description: Note | None = None

    def check_target(self) -> None:
        if self.against is ComplaintAgainst.AGENCY and self.agency_id is None:
            raise ValueError("agency_id: required for a complaint against an agency")
        if self.against is ComplaintAgainst.PERSON and (
            self.agency_id is None or self.person_id is None
        ):
            raise ValueError(
                "person_id: a complaint against a person names the person and agency_id"
            )


class ComplaintStatusCreate(Strict):
    """The next step of handling a complaint, and what that step must state."""

    status: ComplaintStatus
    at: AwareDatetime | None = Field(
        default=None,
        description="When the step took effect (default: now); never before the last step.",
    )
    reason: Annotated[str, StringConstraints(max_length=64)] | None = Field(
        default=None,
        description=(
            "Required when not accepted (a ComplaintNotAcceptedReason code); why it is reopened "
            "(a ComplaintReopenReason code, default other)."
        ),
    )
    action: ComplaintAction | None = Field(
        default=None, description="For action_taken: what was done (default other)."
    )
    outcome: ComplaintOutcome | None = Field(default=None, description="Required when resolved.")
    finding: ComplaintFinding | None = Field(
        default=None, description="Required when resolved: the category of the finding."
    )
    finding_text: Note | None = Field(
        default=None, description="The finding in words; it stays in the province."
    )
    note: Note | None = None

    def particulars(self) -> dict[str, Any]:
        """What the step states, checked against the status it is for."""
        given = {
            name: getattr(self, name)
            for name in ("reason", "action", "outcome", "finding", "finding_text")
            if getattr(self, name) is not None
        }
        allowed = {
            ComplaintStatus.NOT_ACCEPTED: {"reason"},
            ComplaintStatus.REOPENED: {"reason"},
            ComplaintStatus.ACTION_TAKEN: {"action"},
            ComplaintStatus.RESOLVED: {"outcome", "finding", "finding_text"},
        }.get(self.status, set())
        for name in given:
            if name not in allowed:
                raise ValueError(f"{name}: not stated when a complaint becomes {self.status.value}")
        codes = {
            ComplaintStatus.NOT_ACCEPTED: ComplaintNotAcceptedReason,
            ComplaintStatus.REOPENED: ComplaintReopenReason,
        }.get(self.status)
        if codes is not None and "reason" in given and given["reason"] not in set(codes):
            choices = ", ".join(code.value for code in codes)
            raise ValueError(f"reason: {given['reason']!r} is not one of {choices}")
        return {k: (v.value if hasattr(v, "value") else v) for k, v in given.items()}


class ComplaintStepRead(BaseModel):
    status: str
    at: datetime
    recorded_at: datetime
    actor: str | None = None
    reason: str | None = None
    action: str | None = None
    outcome: str | None = None
    finding: str | None = None


class ComplaintRead(BaseModel):
    id: UUID
    province: str
    against: str
    agency_id: str | None
    person_id: str | None
    service_type: str | None
    case_id: str | None
    category: str
    channel: str
    status: str
    received_at: datetime
    complainant: PersonalData
    complainant_id: str
    round: int = Field(description="How many times the complaint was reopened.")
    outcome: str | None
    finding: str | None
    finding_text: str | None
    not_accepted_reason: str | None
    history: list[ComplaintStepRead]
    version: int

    @classmethod
    def of(cls, complaint: Any) -> ComplaintRead:
        return cls(
            id=complaint.id,
            province=complaint.province,
            against=complaint.against,
            agency_id=complaint.agency_id,
            person_id=complaint.person_id,
            service_type=complaint.service_type,
            case_id=complaint.case_id,
            category=complaint.category,
            channel=complaint.channel,
            status=complaint.status,
            received_at=complaint.received_at,
            complainant=PersonalData(**complaint.complainant),
            complainant_id=complaint.complainant_id,
            round=complaint.round,
            outcome=complaint.outcome,
            finding=complaint.finding,
            finding_text=complaint.finding_text,
            not_accepted_reason=complaint.not_accepted_reason,
            history=[ComplaintStepRead(**step) for step in complaint.history],
            version=complaint.version,
        )


class ComplaintSummaryRead(BaseModel):
    id: str
    against: str
    agency_id: str | None
    person_id: str | None
    category: str
    channel: str
    status: str
    received_at: str
    updated_at: str


class JournalHead(BaseModel):
    province: str
    sequence: int
    running_hash: str
    at_sequence: int | None = Field(
        default=None, description="The sequence asked for with `at`, when the journal has it."
    )
    at_running_hash: str | None = Field(
        default=None, description="The running hash through `at_sequence`."
    )


class RelayRewind(BaseModel):
    """Publish the journal again from just after `after` (consumers drop what they have)."""

    after: int = Field(ge=0, le=2**62, description="The last sequence to count as published.")


class RelayStatus(BaseModel):
    runs: str = Field(
        default="here", description="here (in this process), elsewhere (its own process), off"
    )
    connected: bool | None
    position: int
    journal_sequence: int
    lag: int
    last_error: str | None
    last_published_at: float | None

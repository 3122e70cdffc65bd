"""Domain errors, named as a lawyer would name the rule that was broken."""

from __future__ import annotations


class DomainError(Exception):
    """A command that the rules forbid. `rule` says which rule, in a sentence."""

    rule: str = "the command is not allowed in the current state"

    def __init__(self, rule: str | None = None) -> None:
        if rule is not None:
            self.rule = rule
        super().__init__(self.rule)


class TransitionNotAllowed(DomainError):
    """The lifecycle does not lead from the current status to the requested one."""


class CaseAlreadyRejected(TransitionNotAllowed):
    rule = "the case was rejected; it must be reopened before anything else is done with it"


class CaseAlreadyConcluded(TransitionNotAllowed):
    rule = "the case is already concluded; reopen it to continue work"


class CaseTransferredOut(TransitionNotAllowed):
    rule = "the case was transferred to another province and is handled there"


class CaseNotConcluded(TransitionNotAllowed):
    rule = "only a concluded case can be rated or called back"


class CaseAlreadyRated(TransitionNotAllowed):
    rule = "the applicant has already rated this conclusion of the case"


class CallbackAlreadyDone(TransitionNotAllowed):
    rule = "the callback for this conclusion of the case has already been made"


class AgencyClosed(TransitionNotAllowed):
    rule = "the agency is closed"


class AgencyNotLicensed(DomainError):
    rule = "this kind of agency holds no practising licence"


class LicenceNotActive(TransitionNotAllowed):
    rule = "only an active licence can be suspended"


class LicenceAlreadyRevoked(TransitionNotAllowed):
    rule = "the licence is revoked; a revocation is final"


class LicenceNotSuspended(TransitionNotAllowed):
    rule = "only a suspended licence can be restored"


class PersonAlreadyAtAgency(DomainError):
    rule = "this person is already on the agency's staff"


class PersonNotAtAgency(DomainError):
    rule = "this person is not on the agency's staff"


class IdempotencyKeyReused(DomainError):
    rule = "the Idempotency-Key was already used for a different request"


class ReferenceNotFound(DomainError):
    """A command names an agency, person or case this province does not have."""

    def __init__(self, field: str, rule: str) -> None:
        self.field = field
        super().__init__(rule)


class ComplaintParticularMissing(DomainError):
    """A step of complaint handling that the rules say must state something, without it."""

    field: str = "body"


class ReasonRequired(ComplaintParticularMissing):
    field = "reason"
    rule = "a complaint that is not accepted states the reason (不予受理应当说明理由)"


class OutcomeRequired(ComplaintParticularMissing):
    field = "outcome"
    rule = "a resolution states its outcome: upheld, partly_upheld or not_upheld"


class FindingRequired(ComplaintParticularMissing):
    field = "finding"
    rule = "a resolution states the category of its finding (办结应当有认定结论)"


class StepBeforePreviousStep(ComplaintParticularMissing):
    field = "at"
    rule = "a step of complaint handling cannot take effect before the step it follows"


class StepInTheFuture(ComplaintParticularMissing):
    field = "at"
    rule = "a step of complaint handling cannot take effect in the future"

"""Personnel: lawyers, notaries, mediators and others by name or licence number, with their agency."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from contracts.vocabulary import PersonnelRole
from pls.web import Problem, json_of, page_beyond_end, problem
from services.directory.entrypoints.api.deps import PagingDep, Runtime, bad
from services.directory.entrypoints.models import (
    CreditRecord,
    DirectoryPage,
    PersonRead,
    credit_of,
    person_of,
)

router = APIRouter(
    prefix="/personnel",
    tags=["personnel"],
    responses={404: {"model": Problem}, 422: {"model": Problem}, 429: {"model": Problem}},
)


@router.get("", response_model=DirectoryPage[PersonRead])
def list_personnel(
    runtime: Runtime,
    paging: PagingDep,
    name: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=50,
            description="The start of a name, in Chinese, pinyin or initials (王, wangxiao, wxm).",
        ),
    ] = None,
    licence_number: Annotated[
        str | None,
        Query(pattern=r"^[0-9A-Za-z]{4,64}$", description="A licence number or its start."),
    ] = None,
    role: PersonnelRole | None = None,
    organization_id: Annotated[str | None, Query(max_length=64)] = None,
    include_former: Annotated[bool, Query(description="Also people who have left.")] = False,
) -> DirectoryPage[PersonRead] | Response:
    """Practitioners by name or licence number (at least one of them), with their agency."""
    if name is None and licence_number is None and organization_id is None:
        raise bad("name", "give a name, a licence_number or an organization_id to look for")
    total, people = runtime.queries.persons(
        name=name,
        licence_number=licence_number,
        role=role.value if role else None,
        organization_id=organization_id,
        include_former=include_former,
        offset=paging.offset,
        limit=paging.per_page,
    )
    agencies = runtime.queries.organizations_by_id(
        [p.organization_id for p in people if p.organization_id]
    )
    complaints = runtime.queries.complaints_upheld([p.id for p in people])
    contents = [
        person_of(p, agencies.get(p.organization_id or ""), complaints.get(p.id, 0)) for p in people
    ]
    page = DirectoryPage[PersonRead].of(
        contents, total=total, page=paging.page, per_page=paging.per_page
    )
    return page_beyond_end(paging.page, page.total_pages, total) or json_of(page)


@router.get("/{person_id}", response_model=PersonRead)
def get_person(
    runtime: Runtime, person_id: Annotated[str, Path(max_length=64)]
) -> PersonRead | Response:
    """One practitioner with their agency."""
    person = runtime.queries.person(person_id)
    if person is None:
        return problem(404, f"person_id: no person {person_id}", "NotFound")
    agency = runtime.queries.organizations_by_id(
        [person.organization_id] if person.organization_id else []
    )
    complaints = runtime.queries.complaints_upheld([person.id]).get(person.id, 0)
    return person_of(person, agency.get(person.organization_id or ""), complaints)


@router.get("/{person_id}/credit", response_model=CreditRecord)
def person_credit(
    runtime: Runtime, person_id: Annotated[str, Path(max_length=64)]
) -> CreditRecord | Response:
    """A practitioner's record: where they practised, when, and complaints upheld against them."""
    person = runtime.queries.person(person_id)
    if person is None:
        return problem(404, f"person_id: no person {person_id}", "NotFound")
    return credit_of(
        person.id,
        "person",
        person.name,
        person.licence_number,
        None,
        runtime.queries.credit(person.id),
    )

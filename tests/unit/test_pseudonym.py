"""Pseudonymous applicant ids: linkable within a province, unlinkable across provinces."""

from __future__ import annotations

import re
from typing import Any

import pytest

from services.province_node.domain.case import Applicant
from services.province_node.domain.pseudonym import pseudonym
from tests.unit.samples import CITIZEN, make_node, open_case

GUANGDONG = b"guangdong-secret"
BEIJING = b"beijing-secret"
ID_NUMBER = "44010619900101123X"
PHONE = "13912345678"
NAME = "张三丰"


def of(
    *,
    secret: bytes = GUANGDONG,
    id_number: str | None = None,
    phone: str | None = None,
    name: str | None = None,
) -> str:
    return pseudonym(secret, id_number=id_number, phone=phone, name=name)


@pytest.mark.parametrize(
    "person",
    [
        {"id_number": ID_NUMBER},
        {"phone": PHONE},
        {"name": NAME},
        {"id_number": ID_NUMBER, "phone": PHONE, "name": NAME},
    ],
)
def test_the_same_person_gets_the_same_id_within_a_province(person: dict[str, Any]) -> None:
    assert of(**person) == of(**person)


@pytest.mark.parametrize("person", [{"id_number": ID_NUMBER}, {"phone": PHONE}, {"name": NAME}])
def test_the_same_person_gets_unrelated_ids_in_two_provinces(person: dict[str, Any]) -> None:
    assert of(secret=GUANGDONG, **person) != of(secret=BEIJING, **person)


def test_different_people_get_different_ids() -> None:
    assert of(id_number=ID_NUMBER) != of(id_number="440106199001011250")
    assert of(phone=PHONE) != of(phone="13912345679")
    assert of(name=NAME) != of(name="李四")


def test_spelling_variations_of_one_identity_link_up() -> None:
    assert of(id_number=" 44010619900101123x ") == of(id_number=ID_NUMBER)
    assert of(phone="+86 139-1234-5678") == of(phone=PHONE)
    assert of(name=f"  {NAME} ") == of(name=NAME)


def test_the_strongest_identity_wins() -> None:
    by_id = of(id_number=ID_NUMBER)
    assert of(id_number=ID_NUMBER, phone=PHONE, name=NAME) == by_id
    assert of(id_number=ID_NUMBER, phone="13000000000", name="别名") == by_id
    assert of(phone=PHONE, name=NAME) == of(phone=PHONE)
    # An id number and a phone number with the same text are different identities.
    assert of(id_number="13912345678") != of(phone="13912345678")


@pytest.mark.parametrize(
    ("field", "value"), [("id_number", ID_NUMBER), ("phone", PHONE), ("name", NAME)]
)
def test_the_id_reveals_nothing_of_the_person(field: str, value: str) -> None:
    person: dict[str, Any] = {field: value}
    result = of(**person)
    assert re.fullmatch(r"[0-9a-f]{32}", result)
    assert value.lower() not in result
    assert value[-6:].lower() not in result
    assert value[:6] not in result


def test_anonymous_requests_cannot_be_linked() -> None:
    first, second = of(), of()
    assert first != second
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert of(id_number="", phone="", name="") != of(id_number="", phone="", name="")


def test_a_node_pseudonymises_its_applicants_with_its_own_secret() -> None:
    guangdong = make_node("440000", GUANGDONG)
    other = make_node("440000", BEIJING)
    assert guangdong.pseudonym_for(CITIZEN) == guangdong.pseudonym_for(CITIZEN)
    assert guangdong.pseudonym_for(CITIZEN) != other.pseudonym_for(CITIZEN)
    first = open_case(guangdong, applicant=CITIZEN)
    second = open_case(guangdong, applicant=Applicant(id_number=ID_NUMBER))
    assert first.applicant_id == second.applicant_id


def test_two_anonymous_callers_are_different_applicants() -> None:
    node = make_node()
    first = open_case(node, applicant=Applicant())
    second = open_case(node, applicant=Applicant())
    assert first.applicant_id != second.applicant_id

"""What each kind of legal service agency is called, offers and where it sorts in the directory.

Public platforms and legal aid come first in listings, then the licensed professions, then the
very numerous grassroots mediation committees and village legal advisers: a citizen scrolling a
county's list meets the places that help anyone, for free, before the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts.vocabulary import AgencyType, ServiceType


@dataclass(frozen=True)
class Kind:
    """One agency type: its listing rank, words people use for it, and what it offers by default."""

    agency_type: AgencyType
    rank: int
    keyword: str  # the short word people put after a place: 广州律师, 天河公证
    synonyms: tuple[str, ...]
    default_services: tuple[ServiceType, ...]
    licensed: bool = False

    @property
    def label(self) -> str:
        return self.agency_type.label

    @property
    def words(self) -> tuple[str, ...]:
        return (self.label, self.keyword, *self.synonyms)


S = ServiceType
KINDS: dict[str, Kind] = {
    kind.agency_type.value: kind
    for kind in (
        Kind(AgencyType.LEGAL_AID_CENTRE, 1, "法律援助", ("法援",), (S.LEGAL_AID, S.CONSULTATION)),
        Kind(AgencyType.PLS_CENTRE, 2, "公共法律服务", (), (S.CONSULTATION, S.LEGAL_AID)),
        Kind(AgencyType.PLS_STATION, 3, "公共法律服务", (), (S.CONSULTATION, S.MEDIATION)),
        Kind(AgencyType.PLS_ROOM, 4, "公共法律服务", (), (S.CONSULTATION,)),
        Kind(AgencyType.NOTARY_OFFICE, 5, "公证", ("公证处",), (S.NOTARIZATION,), licensed=True),
        Kind(AgencyType.LAW_FIRM, 6, "律师", ("律所",), (S.LAWYER,), licensed=True),
        Kind(
            AgencyType.JUDICIAL_APPRAISAL_INSTITUTION,
            7,
            "司法鉴定",
            ("鉴定所",),
            (S.JUDICIAL_APPRAISAL,),
            licensed=True,
        ),
        Kind(AgencyType.ARBITRATION_COMMISSION, 8, "仲裁", (), (S.ARBITRATION,), licensed=True),
        Kind(
            AgencyType.BASIC_LEGAL_SERVICE_OFFICE,
            9,
            "法律服务所",
            (),
            (S.CONSULTATION, S.MEDIATION),
            licensed=True,
        ),
        Kind(AgencyType.MEDIATION_COMMITTEE, 10, "调解", ("调委会",), (S.MEDIATION,)),
        Kind(
            AgencyType.VILLAGE_LEGAL_ADVISER,
            11,
            "法律顾问",
            (),
            (S.CONSULTATION, S.LEGAL_PUBLICITY),
        ),
    )
}
SERIAL_BITS = 40
# A row id is (kind rank, then 0 for a provincial capital's agencies, 1 for the others, then
# serial), so row id order is listing order: by kind, the capital first (GB/T 2260 numbers a
# province's capital 01: 440100 广州, 360100 南昌), then by registration.
RANK_SHIFT = SERIAL_BITS + 1


def row_prefix(agency_type: str, prefecture: str) -> int:
    capital = prefecture[2:4] == "01"
    return (KINDS[agency_type].rank << RANK_SHIFT) | ((0 if capital else 1) << SERIAL_BITS)


def kind_of(agency_type: str) -> Kind:
    return KINDS[agency_type]


def services_offered(agency_type: str, declared: list[str]) -> list[str]:
    """What an agency offers: what it declared, or its kind's core services when it declared none."""
    if declared:
        return list(dict.fromkeys(declared))
    return [s.value for s in kind_of(agency_type).default_services]


def service_rank(service: str) -> int:
    return list(ServiceType).index(ServiceType(service))

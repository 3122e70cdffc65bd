"""Public identifiers: stable UUIDs for organizations, their services, locations and personnel.

An organization's id is a name-based UUID of its province and agency id, so it is the same on every
rebuild of the directory. Its location's and services' ids are derived from it by a fixed mask per
kind, which keeps them UUIDs (as HSDS asks) while letting the directory find the organization of
any of them without a table of its own.
"""

from __future__ import annotations

import uuid

from contracts.vocabulary import ServiceType

NAMESPACE = uuid.UUID("8f3c1d52-4a8e-5b6f-9c0d-2e1f3a4b5c6d")
# Masks leave the version and variant bits alone, so derived ids stay valid version-5 UUIDs.
_KEEP = ~((0xF << 76) | (0x3 << 62)) & ((1 << 128) - 1)
_LOCATION = 0x5A17_0000_0000_0000_0000_0000_0000_0001 & _KEEP
_SERVICE = {
    s.value: (0x5E4C_0000_0000_0000_0000_0000_0000_0100 + n) & _KEEP
    for n, s in enumerate(ServiceType)
}


def organization_id(origin: str, agency_id: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"organization:{origin}:{agency_id}"))


def person_id(origin: str, person: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"person:{origin}:{person}"))


def location_id(organization: str) -> str:
    return str(uuid.UUID(int=uuid.UUID(organization).int ^ _LOCATION))


def service_id(organization: str, service: str) -> str:
    return str(uuid.UUID(int=uuid.UUID(organization).int ^ _SERVICE[service]))


def organization_of_location(location: str) -> str | None:
    try:
        return str(uuid.UUID(int=uuid.UUID(location).int ^ _LOCATION))
    except ValueError:
        return None


def candidates_of_service(service: str) -> list[tuple[str, str]]:
    """(organization id, service type) pairs a service id may stand for; the read model decides."""
    try:
        value = uuid.UUID(service).int
    except ValueError:
        return []
    return [(str(uuid.UUID(int=value ^ mask)), kind) for kind, mask in _SERVICE.items()]

"""The simulated national directory: real proportions, real counties, and events in order."""

from __future__ import annotations

from collections import Counter

from contracts.events import agency as ae
from pls import divisions
from pls.simulator.directory import NATIONAL, DirectoryGenerator, Plan
from pls.simulator.directory_http import _request
from services.directory.domain.geometry import haversine_m


def test_national_proportions_over_real_counties() -> None:
    generator = DirectoryGenerator(Plan(scale=0.003))
    events = list(generator.events())
    registered = [(o, e) for o, e in events if isinstance(e, ae.AgencyRegistered)]
    kinds = Counter(e.agency_type.value for _, e in registered)
    for kind, (national, _) in NATIONAL.items():
        assert abs(kinds[kind] - national * 0.003) <= max(2, national * 0.003 * 0.02), kind
    assert sum(n for n, _ in NATIONAL.values()) > 1_000_000
    for origin, event in registered:
        assert divisions.is_county(event.county)
        assert divisions.province_of(event.county) == origin
        county = divisions.gazetteer().get(event.county)
        assert county is not None and county.lat is not None and event.coordinates is not None
        assert (
            haversine_m(county.lat, county.lon, event.coordinates.lat, event.coordinates.lon)
            < 120_000
        )
    assert len({e.agency_id for _, e in registered}) == len(registered)


def test_each_agency_is_registered_before_its_staff_and_licence_changes() -> None:
    seen: set[str] = set()
    for _, event in DirectoryGenerator(Plan(scale=0.001, personnel="full")).events():
        if isinstance(event, ae.AgencyRegistered):
            seen.add(event.agency_id)
        else:
            assert event.agency_id in seen  # type: ignore[attr-defined]


def test_simulated_events_become_the_province_node_requests_staff_would_make() -> None:
    registered = next(
        e
        for _, e in DirectoryGenerator(Plan(scale=0.001)).events()
        if isinstance(e, ae.AgencyRegistered)
    )
    path, body, key = _request(registered, None) or ("", {}, None)
    assert (path, key) == ("/v1/agencies", f"directory-{registered.agency_id}")
    assert body["name"] == registered.name and "registered_at" not in body
    revoke = ae.AgencyLicenceRevoked(
        agency_id=registered.agency_id, action="sanction", effective_at=registered.registered_at
    )
    assert _request(revoke, "node-id") == (
        "/v1/agencies/node-id/licence/revoke",
        {"action": "sanction"},
        None,
    )
    assert _request(revoke, None) is None  # nothing to change before the node knows the agency

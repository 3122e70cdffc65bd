"""Province nodes register agencies; the directory shows them, exactly once, through the bus.

Real nats-server, real SQLite event stores, and the directory's read model on SQLite and PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from contracts.envelope import build_event, canonical_bytes
from contracts.subjects import subject_for
from pls import bus
from pls.trust.keys import SigningKey
from pls.trust.local import COMPLAINTS
from pls.trust.signing import sign_event
from services.directory.domain import identity
from tests.support import Directory, Node, jetstream, until
from tests.unit.directory_samples import upheld

TIANHE = "440106"


def register(node: Node, name: str, agency_type: str = "law_firm", **profile: Any) -> str:
    body = {
        "agency_type": agency_type,
        "name": name,
        "county": TIANHE,
        "address": "广州市天河区天河路1号",
        "coordinates": {"lat": 23.13, "lon": 113.33},
        "services": [],
        "opening_hours": [],
        "languages": ["zh"],
        "accessible": False,
        "licence_number": "14401200010000001" if agency_type == "law_firm" else None,
        "phone": None,
        **profile,
    }
    agency, _ = node.app.register_agency(idempotency_key=f"test-{name}", profile=body)
    return str(agency.id)


def settle(node: Node) -> None:
    assert node.runtime.projection.wait_for(node.app.recorder.max_notification_id(), 10)


def listing(directory: Directory, agency_id: str) -> Any:
    return directory.runtime.queries.organization(identity.organization_id("440000", agency_id))


async def test_agencies_reach_the_directory_once_and_a_revocation_within_seconds(
    tmp_path: Path, nats_server, trust, backend: tuple[str, str]
) -> None:
    database, schema = backend
    node = await Node.build(tmp_path / "gd", "440000", nats_server.url, trust).start()
    directory = await Directory.build(
        database, schema, ["440000"], nats_server.url, trust, durable=f"dir-{schema}"
    ).start()
    try:
        firm = register(node, "广州正信律师事务所")
        register(node, "天河区法律援助中心", "legal_aid_centre")
        from uuid import UUID

        node.app.add_person(
            UUID(firm), person_id="p-1", name="王小明", role="lawyer", licence_number="1440120111"
        )
        node.open_cases(3, TIANHE)  # case events travel the same stream and are skipped
        settle(node)
        await directory.caught_up(node)
        assert directory.search("gzls") == ["广州正信律师事务所"]
        assert directory.search("天河") == ["天河区法律援助中心", "广州正信律师事务所"]
        people = directory.runtime.queries.persons(
            name="王",
            licence_number=None,
            role=None,
            organization_id=None,
            include_former=False,
            offset=0,
            limit=10,
        )
        assert [p.name for p in people[1]] == ["王小明"]

        node.app.revoke_licence(UUID(firm), "sanction")
        settle(node)
        await until(
            lambda: listing(directory, firm).licence_status == "revoked",
            10,
            message="revocation shown in the directory",
        )
        kinds = [e["kind"] for e in directory.runtime.queries.credit(listing(directory, firm).id)]
        assert kinds == ["registered", "licence_revoked"]
    finally:
        await directory.stop()
        await node.stop()


async def test_republished_events_and_a_restart_change_nothing(
    tmp_path: Path, nats_server, trust
) -> None:
    node = await Node.build(tmp_path / "gd", "440000", nats_server.url, trust).start()
    database = str(tmp_path / "directory.db")
    directory = await Directory.build(
        database, "directory", ["440000"], nats_server.url, trust
    ).start()
    try:
        for n in range(5):
            register(node, f"广州第{n}律师事务所")
        settle(node)
        await directory.caught_up(node)
        counted = directory.runtime.readmodel.query("SELECT count(*) FROM organizations")
        credit = directory.runtime.readmodel.query("SELECT count(*) FROM credit")
        assert counted == [(5,)]

        # The relay's events sent again with fresh message ids: the stream stores them twice.
        entries = node.runtime.views.journal_after(0, 1000)
        async with jetstream(nats_server.url, trust) as js:
            for entry in entries:
                await js.publish(
                    entry.subject, entry.body, headers={"Nats-Msg-Id": f"again-{entry.sequence}"}
                )
        await until(
            lambda: directory.runtime.applier.intake.sources["440000"].duplicates >= len(entries),
            15,
            message="duplicates seen",
        )
        await directory.stop()
        directory = await Directory.build(
            database, "directory", ["440000"], nats_server.url, trust
        ).start()
        register(node, "广州重启后律师事务所")
        settle(node)
        await directory.caught_up(node)
        assert directory.runtime.readmodel.query("SELECT count(*) FROM organizations") == [(6,)]
        assert directory.runtime.readmodel.query("SELECT count(*) FROM credit") == [
            (credit[0][0] + 1,)
        ]
    finally:
        await directory.stop()
        await node.stop()


async def test_an_upheld_complaint_from_the_ministry_shows_in_the_credit_record(
    tmp_path: Path, nats_server, trust
) -> None:
    node = await Node.build(tmp_path / "gd", "440000", nats_server.url, trust).start()
    directory = await Directory.build(
        str(tmp_path / "directory.db"), "directory", ["440000"], nats_server.url, trust
    ).start()
    try:
        firm = register(node, "广州正信律师事务所")
        settle(node)
        await directory.caught_up(node)
        event = build_event(
            upheld("complaint-1", agency_id=firm),
            origin="moj",
            service="complaints",
            subject=subject_for("moj", "complaint", "upheld"),
            event_id="moj-complaints-1",
            sequence=1,
            time=upheld("x").resolved_at,
        )
        async with jetstream(nats_server.url, trust) as js:
            await bus.ensure_stream(js, "moj")
            await js.publish(
                "pls.moj.complaint.upheld",
                canonical_bytes(
                    sign_event(event, SigningKey.from_file(trust.signing_seed(COMPLAINTS)))
                ),
                headers={"Nats-Msg-Id": "moj-complaints-1"},
            )
        organization = identity.organization_id("440000", firm)
        await until(
            lambda: (
                directory.runtime.queries.complaints_upheld([organization]) == {organization: 1}
            ),
            15,
            message="upheld complaint in the credit record",
        )
        record = directory.runtime.queries.credit(organization)
        assert sorted(e["kind"] for e in record) == ["complaint_upheld", "registered"]
        entry = next(e for e in record if e["kind"] == "complaint_upheld")
        assert entry["detail"]["category"] == "fees"
        assert entry["at"] == upheld("x").resolved_at.isoformat()
    finally:
        await directory.stop()
        await node.stop()

"""Rebuilding the national directory beside the live one, from the streams and the province
journals, and swapping it in while it answers searches. Real nats-server; SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any
from uuid import UUID

from typer.testing import CliRunner

from contracts.envelope import build_event, canonical_bytes
from contracts.subjects import stream_name, subject_for
from pls import bus
from pls.cli import app
from pls.intake.backfill import JournalClient
from pls.rebuild import Rebuilder
from pls.sqlstore import Database, open_database
from pls.trust.keys import SigningKey
from pls.trust.local import COMPLAINTS, DIRECTORY
from pls.trust.signing import sign_event
from services.directory.application.projection import interested_in
from services.directory.bootstrap import projection_over
from services.directory.domain import identity
from tests.integration.test_directory import TIANHE, register, settle
from tests.support import Directory, Node, connected, jetstream, until, wait_sync
from tests.unit.directory_samples import upheld

PROVINCE = "440000"


def contents(db: Database) -> dict[str, Any]:
    """What a citizen can see of the directory, and how far it read each source. Row ids and
    schedule ids are left out: they are internal, handed out in the order rows were written."""
    queries = {
        "organizations": "SELECT id, agency_type, name, licence_number, licence_status, "
        "registered_at, closed_at, county, address, lat, lon, services, languages, hours, "
        "keywords, pinyin, initials, tags, modified_at FROM organizations ORDER BY id",
        "persons": "SELECT id, name, pinyin, role, licence_number, organization_id, status, "
        "joined_at, left_at FROM persons ORDER BY id",
        "credit": "SELECT subject, kind, at, reference, detail FROM credit "
        "ORDER BY subject, kind, reference",
        "counts": "SELECT * FROM org_counts ORDER BY county, agency_type, closed",
        "sources": "SELECT origin, sequence, running_hash FROM sources ORDER BY origin",
    }
    with db.reading() as cursor:
        found = {}
        for name, sql in queries.items():
            cursor.execute(sql)
            found[name] = [tuple(row) for row in cursor.fetchall()]
        return found


async def publish_upheld(nats_url: str, trust: Any, agency_id: str, sequence: int) -> None:
    """The ministry's complaints service publishes an upheld complaint against the agency."""
    event = build_event(
        upheld(f"complaint-{sequence}", agency_id=agency_id),
        origin="moj",
        service="complaints",
        subject=subject_for("moj", "complaint", "upheld"),
        event_id=f"moj-complaints-{sequence}",
        sequence=sequence,
        time=upheld("x").resolved_at,
    )
    signed = sign_event(event, SigningKey.from_file(trust.signing_seed(COMPLAINTS)))
    async with jetstream(nats_url, trust) as js:
        await bus.ensure_stream(js, "moj")
        await js.publish("pls.moj.complaint.upheld", canonical_bytes(signed))


async def test_a_rebuilt_directory_equals_the_live_one_and_is_swapped_in_while_it_answers(
    tmp_path: Path, nats_server, trust, backend: tuple[str, str]
) -> None:
    database, schema = backend
    node = Node.build(tmp_path / "gd", PROVINCE, nats_server.url, trust).serve_http()
    assert node.url is not None
    directory = await Directory.build(
        database,
        schema,
        [PROVINCE],
        nats_server.url,
        trust,
        durable=f"dir-rebuild-{schema}",
        node_urls={PROVINCE: node.url},
    ).start()
    store = directory.runtime.store
    fresh_store = store.beside()
    try:
        firms = [register(node, f"广州第{n}律师事务所") for n in range(6)]
        register(node, "天河区法律援助中心", "legal_aid_centre")
        node.app.add_person(
            UUID(firms[0]), person_id="p-1", name="王小明", role="lawyer", licence_number="14401"
        )
        node.app.add_person(
            UUID(firms[1]), person_id="p-2", name="李四", role="lawyer", licence_number=None
        )
        node.app.remove_person(UUID(firms[1]), "p-2")
        node.app.revoke_licence(UUID(firms[2]), "sanction")
        node.open_cases(4, TIANHE)  # skipped by the directory, but tracked and hashed
        register(node, "广州末尾律师事务所")
        settle(node)
        await publish_upheld(nats_server.url, trust, firms[3], 1)
        await directory.caught_up(node)
        await until(lambda: directory.sequence("moj") == 1, message="upheld complaint applied")
        head = node.head()
        assert head == 20

        # The province's stream loses history the directory had already applied.
        async with jetstream(nats_server.url, trust) as js:
            for sequence in (2, 3, 4, head - 1, head):
                await js.delete_msg(stream_name(PROVINCE), sequence)

        fresh = fresh_store.open()
        try:
            async with connected(nats_server.url, trust, DIRECTORY) as bus:
                rebuilder = Rebuilder(
                    projection_over(fresh),
                    directory.runtime.settings.origins,
                    journal=JournalClient(
                        {PROVINCE: node.url}, token=trust.service_token(DIRECTORY)
                    ),
                    bus=bus,
                    interested_in=interested_in,
                    registry=trust.registry(),
                )
                await rebuilder.run()
            assert rebuilder.verified[PROVINCE]
            assert rebuilder.read_from[PROVINCE]["stream"] == head - 5
            assert rebuilder.read_from[PROVINCE]["journal"] == 5
            assert rebuilder.sequence("moj") == 1
        finally:
            fresh.close()

        register(node, "广州新开律师事务所")  # the live one moves on; the rebuilt one catches up
        settle(node)
        await directory.caught_up(node)
        live = contents(directory.runtime.readmodel.db)
        shown = directory.search("广州")
        assert len(shown) == 9

        failures: list[BaseException] = []
        answered = 0
        stop = threading.Event()

        def keep_searching() -> None:
            nonlocal answered
            while not stop.is_set():
                try:
                    assert directory.search("广州") == shown
                    answered += 1
                except BaseException as error:
                    failures.append(error)
                    return

        asker = threading.Thread(target=keep_searching)
        asker.start()
        try:
            await until(lambda: answered > 0, message="searches answered")
            result = await directory.runtime.promote_rebuild()
            before_stop = answered
            await until(lambda: answered > before_stop, message="searches after the swap")
        finally:
            stop.set()
            await asyncio.to_thread(asker.join)
        assert failures == []
        assert result["sequences"] == {PROVINCE: node.head(), "moj": 1}
        assert contents(directory.runtime.readmodel.db) == live
        assert not fresh_store.exists()
        credit = directory.runtime.queries.credit(identity.organization_id(PROVINCE, firms[3]))
        assert sorted(e["kind"] for e in credit) == ["complaint_upheld", "registered"]

        register(node, "广州换库后律师事务所")  # and it goes on applying into the new one
        settle(node)
        await directory.caught_up(node)
        assert "广州换库后律师事务所" in directory.search("广州")
    finally:
        await directory.stop()
        node.stop_http()
        fresh_store.drop()
        store.beside("previous").drop()


def test_pls_directory_rebuild_from_the_journals_without_a_running_directory(
    tmp_path: Path, nats_server, trust
) -> None:
    node = Node.build(tmp_path / "gd", PROVINCE, nats_server.url, trust).serve_http()
    var_dir = tmp_path / "var"
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    (tokens / f"{DIRECTORY}.jwt").write_text(trust.service_token(DIRECTORY))
    manifest = {
        "var_dir": str(var_dir),
        "nats": {"url": nats_server.url},
        "directory": {"url": "http://127.0.0.1:9"},
        "provinces": {PROVINCE: {"url": node.url}},
        "trust": {
            "registry": str(trust.registry_path),
            "nats_credentials": str(trust.creds(DIRECTORY).parent),
            "tokens": str(tokens),
        },
    }
    federation_file = tmp_path / "federation.json"
    federation_file.write_text(json.dumps(manifest))
    try:
        for n in range(3):
            register(node, f"广州第{n}律师事务所")
        settle(node)
        wait_sync(lambda: node.runtime.relay.position >= node.head() == 3, message="relay")
        result = CliRunner().invoke(
            app,
            ["directory", "rebuild", "--federation", str(federation_file), "--from", "journals"],
        )
        assert result.exit_code == 0, result.output
        assert "No directory is running" in result.output
        db = open_database(str(var_dir / "directory" / "directory.db"), schema="directory")
        try:
            names = [row[0] for row in _rows(db, "SELECT name FROM organizations ORDER BY name")]
            assert names == [f"广州第{n}律师事务所" for n in range(3)]
        finally:
            db.close()
    finally:
        node.stop_http()


def _rows(db: Database, sql: str) -> list[tuple[Any, ...]]:
    with db.reading() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


async def test_upheld_complaints_the_ministry_stream_lost_are_rebuilt_from_its_journal(
    tmp_path: Path, nats_server, trust
) -> None:
    import uvicorn

    from pls.clock import ManualClock
    from services.complaints.bootstrap import create_app as complaints_app
    from tests.conftest import free_port
    from tests.integration.test_rebuild_complaints import FILED, file, resolve, wait
    from tests.support import Supervisor
    from tests.unit.samples import LAW_FIRM

    node = Node.build(tmp_path / "gd", PROVINCE, nats_server.url, trust).serve_http()
    assert node.url is not None
    supervisor = Supervisor.build(
        str(tmp_path / "supervision.db"),
        "complaints",
        [PROVINCE],
        nats_server.url,
        ManualClock(FILED),
        tmp_path / "moj",
        trust,
        durable="cmp-for-directory",
        node_urls={PROVINCE: node.url},
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(complaints_app(supervisor.runtime), port=port, log_level="warning")
    )
    serving = threading.Thread(target=server.run, daemon=True)
    serving.start()
    wait_sync(lambda: server.started, message="complaints service up")
    directory = await Directory.build(
        str(tmp_path / "directory.db"),
        "directory",
        [PROVINCE],
        nats_server.url,
        trust,
        durable="dir-moj-journal",
        node_urls={PROVINCE: node.url},
        ministry_journal_url=f"http://127.0.0.1:{port}",
    ).start()
    fresh_store = directory.runtime.store.beside()
    try:
        agency, _ = node.app.register_agency(profile=LAW_FIRM)
        complaint = file(node, agency, FILED)
        resolve(node, complaint, "upheld")
        wait(node)
        moj_head = lambda: supervisor.runtime.publication.store.journal_head()[0]  # noqa: E731
        await until(lambda: moj_head() >= 1, message="upheld complaint published")
        await directory.caught_up(node)
        await until(lambda: directory.sequence("moj") == moj_head(), message="directory has it")
        organization = identity.organization_id(PROVINCE, str(agency.id))
        live = directory.runtime.queries.credit(organization)
        assert "complaint_upheld" in [e["kind"] for e in live]

        async with jetstream(nats_server.url, trust) as js:
            await js.purge_stream(stream_name("moj"))  # the ministry's stream loses everything

        fresh = fresh_store.open()
        try:
            async with connected(nats_server.url, trust, DIRECTORY) as bus:
                rebuilder = Rebuilder(
                    projection_over(fresh),
                    directory.runtime.settings.origins,
                    journal=JournalClient(
                        directory.runtime.settings.journal_urls(),
                        token=trust.service_token(DIRECTORY),
                    ),
                    bus=bus,
                    interested_in=interested_in,
                    registry=trust.registry(),
                )
                await rebuilder.run()
            assert rebuilder.verified == {PROVINCE: True, "moj": True}
            assert rebuilder.read_from["moj"] == {"stream": 0, "journal": moj_head()}
        finally:
            fresh.close()
        await directory.runtime.promote_rebuild()
        assert directory.runtime.queries.credit(organization) == live
    finally:
        await directory.stop()
        server.should_exit = True
        await asyncio.to_thread(serving.join, 15)
        node.stop_http()
        fresh_store.drop()


async def test_pls_directory_rebuild_asks_the_running_directory_to_swap_it_in(
    tmp_path: Path, nats_server, trust
) -> None:
    import httpx
    import uvicorn

    from services.directory.bootstrap import create_app as directory_app
    from tests.conftest import free_port

    node = Node.build(tmp_path / "gd", PROVINCE, nats_server.url, trust).serve_http()
    assert node.url is not None
    var_dir = tmp_path / "var"
    directory = Directory.build(
        str(var_dir / "directory" / "directory.db"),
        "directory",
        [PROVINCE],
        nats_server.url,
        trust,
        durable="dir-rebuild-http",
        node_urls={PROVINCE: node.url},
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(directory_app(directory.runtime), port=port, log_level="warning")
    )
    serving = threading.Thread(target=server.run, daemon=True)
    serving.start()
    wait_sync(lambda: server.started, message="directory up")
    url = f"http://127.0.0.1:{port}"
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    (tokens / f"{DIRECTORY}.jwt").write_text(trust.service_token(DIRECTORY))
    (tokens / "federation-operator.jwt").write_text(trust.federation_operator_token())
    manifest = {
        "var_dir": str(var_dir),
        "nats": {"url": nats_server.url},
        "directory": {"url": url},
        "provinces": {PROVINCE: {"url": node.url}},
        "trust": {
            "registry": str(trust.registry_path),
            "nats_credentials": str(trust.creds(DIRECTORY).parent),
            "tokens": str(tokens),
        },
    }
    federation_file = tmp_path / "federation.json"
    federation_file.write_text(json.dumps(manifest))
    try:
        for n in range(4):
            register(node, f"广州第{n}律师事务所")
        settle(node)
        await directory.caught_up(node)
        async with httpx.AsyncClient(base_url=url) as client:
            refused = await client.post("/v1/admin/read-model/promote", json={})
            assert refused.status_code == 401  # swapping needs a federation operator
        result = await asyncio.to_thread(
            CliRunner().invoke,
            app,
            ["directory", "rebuild", "--federation", str(federation_file), "--keep-previous"],
        )
        assert result.exit_code == 0, result.output
        assert f"The running directory at {url} swapped it in" in result.output
        assert (var_dir / "directory" / "directory.db.previous").exists()
        assert not (var_dir / "directory" / "directory.db.rebuild").exists()
        assert len(directory.search("广州")) == 4
        register(node, "广州换库后律师事务所")
        settle(node)
        await directory.caught_up(node)
        assert len(directory.search("广州")) == 5
    finally:
        server.should_exit = True
        await asyncio.to_thread(serving.join, 15)
        node.stop_http()

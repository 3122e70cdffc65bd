"""Rebuilding the complaints supervision read model beside the live one and swapping it in while
it answers, without deciding or publishing anything twice: the service's own decisions are its
system of record and stay as they are. Real nats-server and province node; SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from typer.testing import CliRunner

from contracts.subjects import stream_name
from pls.cli import app
from pls.clock import ManualClock
from pls.intake.backfill import JournalClient
from pls.rebuild import Rebuilder
from pls.sqlstore import Database
from pls.trust.local import COMPLAINTS, LocalTrust
from services.complaints.adapters.readmodel import (
    CASE_FIELDS,
    COMPLAINT_FIELDS,
    DEADLINE_FIELDS,
)
from services.complaints.application.projection import interested_in
from services.complaints.application.recorded import Recorded, settle
from services.complaints.bootstrap import projection_over
from services.province_node.domain.case import Applicant
from tests.integration.test_complaints_supervision import FILED, api, china, moj_events
from tests.support import Node, Supervisor, connected, jetstream, until
from tests.unit.samples import LAW_FIRM

PROVINCE = "440000"


def contents(db: Database) -> dict[str, Any]:
    """Every row of the supervision read model, and how far it read each source."""
    queries = {
        "complaints": f"SELECT {', '.join(COMPLAINT_FIELDS)} FROM complaints ORDER BY key",
        "deadlines": f"SELECT {', '.join(DEADLINE_FIELDS)} FROM deadlines ORDER BY key",
        "cases": f"SELECT {', '.join(CASE_FIELDS)} FROM cases ORDER BY key",
        "services": "SELECT province, agency_id, n FROM services ORDER BY province, agency_id",
        "sources": "SELECT origin, sequence, running_hash FROM sources ORDER BY origin",
    }
    with db.reading() as cursor:
        found = {}
        for name, sql in queries.items():
            cursor.execute(sql)
            found[name] = [tuple(row) for row in cursor.fetchall()]
        return found


async def decisions_published(nats_url: str, trust: LocalTrust) -> Counter[tuple[str, ...]]:
    """How often each decision was published on the ministry's stream."""
    published: Counter[tuple[str, ...]] = Counter()
    for subject in (
        "pls.moj.complaint.deadline_missed",
        "pls.moj.complaint.escalated",
        "pls.moj.complaint.upheld",
        "pls.moj.complaint.upholding_withdrawn",
    ):
        for event in await moj_events(nats_url, subject, trust):
            data = event["data"]
            published[(subject, data["complaint_id"], data.get("level") or "")] += 1
    return published


def file(node: Node, agency: Any, received_at: datetime) -> str:
    complaint, _ = node.app.file_complaint(
        complainant=Applicant(name="欧阳娜娜", phone="13912345678"),
        against="agency",
        agency_id=agency.id,
        category="fees",
        channel="hotline_12348",
        service_type="lawyer",
        case_id=None,
        description="律师多收费",
        received_at=received_at,
    )
    return str(complaint.id)


def resolve(node: Node, complaint_id: str, outcome: str, *, accept: bool = True) -> None:
    if accept:
        node.app.change_complaint_status(
            UUID(complaint_id), "accepted", at=china("2026-09-29T10:00:00")
        )
    node.app.change_complaint_status(UUID(complaint_id), "investigating")
    node.app.change_complaint_status(
        UUID(complaint_id),
        "resolved",
        outcome=outcome,
        finding="improper_fees" if outcome == "upheld" else "no_fault_found",
        finding_text="核查",
    )


def wait(node: Node) -> None:
    assert node.runtime.projection.wait_for(node.app.recorder.max_notification_id(), 10)


async def test_a_rebuilt_supervision_read_model_equals_the_live_one_and_decides_nothing_twice(
    tmp_path: Path, nats_server, trust, backend: tuple[str, str]
) -> None:
    database, schema = backend
    node = Node.build(tmp_path / "gd", PROVINCE, nats_server.url, trust).serve_http()
    assert node.url is not None
    clock = ManualClock(FILED)
    supervisor = await Supervisor.build(
        database,
        schema,
        [PROVINCE],
        nats_server.url,
        clock,
        tmp_path / "moj",
        trust,
        durable=f"cmp-rebuild-{schema}",
        node_urls={PROVINCE: node.url},
    ).start()
    runtime = supervisor.runtime
    store = runtime.store
    fresh_store = store.beside()
    try:
        agency, _ = node.app.register_agency(profile=LAW_FIRM)
        ignored = file(node, agency, FILED)  # nobody accepts it: overdue, escalated
        kept = file(node, agency, FILED)  # upheld, and it stays so
        taken_back = file(node, agency, FILED)  # upheld, then reopened and not upheld
        resolve(node, kept, "upheld")
        resolve(node, taken_back, "upheld")
        node.open_cases(3, "440106")
        wait(node)
        await supervisor.caught_up(node)
        await supervisor.at(china("2026-10-11T00:00:01"))
        # missed and escalated, and two upheld
        await until(
            lambda: _published_count(nats_server.url, trust, 4), message="decisions published"
        )
        node.app.change_complaint_status(UUID(taken_back), "reopened", reason="new_evidence")
        resolve(node, taken_back, "not_upheld", accept=False)
        wait(node)
        await supervisor.caught_up(node)
        await supervisor.at(china("2026-10-11T00:00:02"))  # the upholding withdrawn
        await until(
            lambda: _published_count(nats_server.url, trust, 5), message="decisions published"
        )
        published = await decisions_published(nats_server.url, trust)
        # The ministry's journal holds each decision as published: what the directory rebuilds from.
        journal = (await api(supervisor, "/v1/journal", after=0, limit=100)).json()
        decisions = [e for e in journal["events"] if ".complaint." in e["type"]]
        assert len(decisions) == sum(published.values()) == 5
        ends = (await api(supervisor, "/v1/journal/head", at=2)).json()
        assert ends["sequence"] == journal["head"] and ends["at_running_hash"] is not None
        credit = runtime.queries.credit(str(agency.id), None)
        assert sorted((c["complaint_id"], c["credit"]) for c in credit) == sorted(
            [(kept, "published"), (taken_back, "withdrawn")]
        )
        head = node.head()

        # The province's stream loses history the service had already applied.
        async with jetstream(nats_server.url, trust) as js:
            for sequence in (1, 2, 3, head):
                await js.delete_msg(stream_name(PROVINCE), sequence)

        fresh = fresh_store.open()
        try:
            async with connected(nats_server.url, trust, COMPLAINTS) as bus:
                rebuilder = Rebuilder(
                    projection_over(fresh, runtime.rules, runtime.projection.clock),
                    [PROVINCE],
                    journal=JournalClient(
                        {PROVINCE: node.url}, token=trust.service_token(COMPLAINTS)
                    ),
                    bus=bus,
                    interested_in=interested_in,
                    registry=trust.registry(),
                )
                await rebuilder.run()
            assert rebuilder.verified[PROVINCE]
            assert rebuilder.read_from[PROVINCE]["journal"] == 4
            unsettled = contents(fresh)
            settle(fresh, Recorded.read(runtime.app))
            assert contents(fresh) == contents(runtime.readmodel.db)
            assert unsettled != contents(fresh)  # the marks came from the decisions
        finally:
            fresh.close()

        late = file(node, agency, china("2026-10-12T09:00:00"))  # the live one moves on
        wait(node)
        await supervisor.caught_up(node)
        live = contents(runtime.readmodel.db)

        failures: list[BaseException] = []
        answered = 0
        stop = threading.Event()

        def keep_asking() -> None:
            nonlocal answered
            while not stop.is_set():
                try:
                    assert runtime.queries.credit(str(agency.id), None) == credit
                    answered += 1
                except BaseException as error:
                    failures.append(error)
                    return

        asker = threading.Thread(target=keep_asking)
        asker.start()
        try:
            await until(lambda: answered > 0, message="credit record answered")
            result = await runtime.promote_rebuild()
            before = answered
            await until(lambda: answered > before, message="answered after the swap")
        finally:
            stop.set()
            await asyncio.to_thread(asker.join)
        assert failures == []
        assert result["sequences"] == {PROVINCE: node.head()}
        assert contents(runtime.readmodel.db) == live
        assert not fresh_store.exists()

        # Nothing already decided is decided again; what is newly due still is, once.
        assert await supervisor.at(china("2026-10-11T00:00:03")) == 0
        await supervisor.at(china("2026-10-20T12:00:00"))
        await until(lambda: _late_escalated(nats_server.url, trust, late), message="new escalation")
        again = await decisions_published(nats_server.url, trust)
        assert max(again.values()) == 1
        assert {k: v for k, v in again.items() if k[1] != late and k[1] != ignored} == {
            k: v for k, v in published.items() if k[1] != ignored
        }
    finally:
        await supervisor.stop()
        node.stop_http()
        fresh_store.drop()
        store.beside("previous").drop()


async def _published_count(nats_url: str, trust: LocalTrust, expected: int) -> bool:
    return sum((await decisions_published(nats_url, trust)).values()) >= expected


async def _late_escalated(nats_url: str, trust: LocalTrust, complaint_id: str) -> bool:
    published = await decisions_published(nats_url, trust)
    return published[("pls.moj.complaint.escalated", complaint_id, "province")] == 1


async def test_pls_complaints_rebuild_without_a_running_service_keeps_its_decisions(
    tmp_path: Path, nats_server, trust
) -> None:
    node = Node.build(tmp_path / "gd", PROVINCE, nats_server.url, trust).serve_http()
    assert node.url is not None
    var_dir = tmp_path / "var"
    database = str(var_dir / "complaints" / "supervision.db")
    clock = ManualClock(FILED)

    def supervisor() -> Supervisor:
        assert node.url is not None
        return Supervisor.build(
            database,
            "complaints",
            [PROVINCE],
            nats_server.url,
            clock,
            var_dir,
            trust,
            durable="cmp-rebuild-cli",
            node_urls={PROVINCE: node.url},
        )

    running = await supervisor().start()
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    (tokens / f"{COMPLAINTS}.jwt").write_text(trust.service_token(COMPLAINTS))
    manifest = {
        "var_dir": str(var_dir),
        "nats": {"url": nats_server.url},
        "complaints": {"url": "http://127.0.0.1:9"},
        "provinces": {PROVINCE: {"url": node.url}},
        "trust": {
            "registry": str(trust.registry_path),
            "nats_credentials": str(trust.creds(COMPLAINTS).parent),
            "tokens": str(tokens),
        },
    }
    federation_file = tmp_path / "federation.json"
    federation_file.write_text(json.dumps(manifest))
    try:
        agency, _ = node.app.register_agency(profile=LAW_FIRM)
        upheld = file(node, agency, FILED)
        resolve(node, upheld, "upheld")
        file(node, agency, FILED)  # never accepted: overdue
        wait(node)
        await running.caught_up(node)
        await running.at(china("2026-10-11T00:00:01"))
        await until(
            lambda: _published_count(nats_server.url, trust, 3), message="decisions published"
        )
        live = contents(running.runtime.readmodel.db)
        await running.stop()

        result = await asyncio.to_thread(
            CliRunner().invoke,
            app,
            ["complaints", "rebuild", "--federation", str(federation_file)],
        )
        assert result.exit_code == 0, result.output
        assert "No complaints service is running" in result.output

        running = await supervisor().start()
        assert contents(running.runtime.readmodel.db) == live
        assert await running.at(china("2026-10-11T00:00:02")) == 0
        assert set((await decisions_published(nats_server.url, trust)).values()) == {1}
    finally:
        await running.stop()
        node.stop_http()

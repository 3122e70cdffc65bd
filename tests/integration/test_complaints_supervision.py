"""A complaint filed at a province, supervised nationally: overdue exactly when its deadline passes
in working days, escalated once on pls.moj.complaint.escalated even across a restart and a
duplicated event, and an upheld finding in the credit record and on pls.moj.complaint.upheld.

Real nats-server, a real province node and relay, the complaints service's read model on SQLite
and PostgreSQL; the service's clock is set by the test.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson

from contracts.subjects import stream_name
from pls.clock import ManualClock
from pls.deadlines import CHINA
from pls.trust.local import LocalTrust
from services.complaints.bootstrap import create_app
from services.province_node.domain.case import Applicant
from tests.support import Node, Supervisor, jetstream, until
from tests.unit.samples import LAW_FIRM

FILED = datetime.fromisoformat("2026-09-28T10:00:00+08:00")  # a Monday before National Day


def china(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CHINA)


async def moj_events(nats_url: str, subject: str, trust: LocalTrust) -> list[dict[str, Any]]:
    """Every event the ministry's stream holds on `subject`."""
    async with jetstream(nats_url, trust) as js:
        try:
            info = await js.stream_info(stream_name("moj"))
        except Exception:
            return []
        events = []
        for sequence in range(info.state.first_seq, info.state.last_seq + 1):
            try:
                message = await js.get_msg(stream_name("moj"), sequence)
            except Exception:
                continue
            if message.subject == subject:
                events.append(orjson.loads(message.data or b"{}"))
        return events


async def overdue(supervisor: Supervisor, **params: Any) -> dict[str, Any]:
    transport = httpx.ASGITransport(app=create_app(supervisor.runtime))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://complaints", headers=supervisor.staff_headers()
    ) as client:
        response = await client.get("/v1/supervision/overdue", params=params)
        assert response.status_code == 200, response.text
        return response.json()


async def api(supervisor: Supervisor, path: str, **params: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_app(supervisor.runtime))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://complaints", headers=supervisor.staff_headers()
    ) as client:
        return await client.get(path, params=params)


async def test_a_complaint_is_supervised_from_province_to_credit_record(
    tmp_path: Path, nats_server, trust, backend: tuple[str, str]
) -> None:
    database, schema = backend
    node = await Node.build(tmp_path / "gd", "440000", nats_server.url, trust).start()
    clock = ManualClock(FILED)
    durable = f"cmp-{schema}-{tmp_path.name[:16]}"
    supervisor = await Supervisor.build(
        database,
        schema,
        ["440000"],
        nats_server.url,
        clock,
        tmp_path / "moj",
        trust,
        durable=durable,
    ).start()
    try:
        agency, _ = node.app.register_agency(profile=LAW_FIRM)
        complaint, _ = node.app.file_complaint(
            complainant=Applicant(name="欧阳娜娜", phone="13912345678"),
            against="agency",
            agency_id=agency.id,
            category="fees",
            channel="hotline_12348",
            service_type="lawyer",
            case_id=None,
            description="律师多收费",
            received_at=FILED,
        )
        assert node.runtime.projection.wait_for(node.app.recorder.max_notification_id(), 10)
        await supervisor.caught_up(node)

        # Five working days from 28 September: 29, 30 September, 8, 9 and Saturday 10 October.
        await supervisor.at(china("2026-10-10T23:59:59"))
        assert (await overdue(supervisor))["total_items"] == 0
        await supervisor.at(china("2026-10-11T00:00:01"))
        listed = await overdue(supervisor, province="440000", agency_id=str(agency.id))
        assert listed["total_items"] == 1
        item = listed["contents"][0]
        assert (item["subject_id"], item["phase"]) == (str(complaint.id), "acceptance")
        assert item["escalation"] == "province"
        assert item["due_at"].startswith("2026-10-10T16:00:00")

        await until(
            lambda: moj_events(nats_server.url, "pls.moj.complaint.escalated", trust),
            message="escalation published",
        )

        # A restart, and every province event delivered a second time: nothing more is decided.
        await supervisor.stop()
        supervisor = await Supervisor.build(
            database,
            schema,
            ["440000"],
            nats_server.url,
            clock,
            tmp_path / "moj",
            trust,
            durable=durable,
        ).start()
        async with jetstream(nats_server.url, trust) as js:
            for entry in node.runtime.views.journal_after(0, 1000):
                await js.publish(
                    entry.subject, entry.body, headers={"Nats-Msg-Id": f"again-{entry.event_id}"}
                )
        state = lambda: supervisor.runtime.applier.intake.sources["440000"]  # noqa: E731
        await until(lambda: state().duplicates >= node.head(), message="copies seen as duplicates")
        assert await supervisor.at(china("2026-10-12T09:00:00")) == 0
        assert (await overdue(supervisor))["total_items"] == 1

        # The province resolves it late, upheld: it leaves the overdue list and enters the credit
        # record, published once on pls.moj.complaint.upheld.
        node.app.change_complaint_status(complaint.id, "accepted", at=china("2026-10-12T10:00:00"))
        node.app.change_complaint_status(complaint.id, "investigating")
        node.app.change_complaint_status(
            complaint.id,
            "resolved",
            outcome="upheld",
            finding="improper_fees",
            finding_text="多收代理费三千元",
        )
        assert node.runtime.projection.wait_for(node.app.recorder.max_notification_id(), 10)
        await supervisor.caught_up(node)
        await supervisor.at(china("2026-10-12T12:00:00"))
        assert (await overdue(supervisor))["total_items"] == 0
        upheld = await until(
            lambda: moj_events(nats_server.url, "pls.moj.complaint.upheld", trust),
            message="credit signal published",
        )
        assert len(upheld) == 1
        assert upheld[0]["data"]["agency_id"] == str(agency.id)
        assert upheld[0]["data"]["outcome"] == "upheld"
        assert "多收" not in orjson.dumps(upheld[0]).decode()
        credit = (await api(supervisor, f"/v1/supervision/agencies/{agency.id}/credit")).json()
        assert credit["upheld"] == 1
        assert credit["entries"][0]["complaint_id"] == str(complaint.id)
        assert credit["entries"][0]["resolved_at"] is not None

        escalated = await moj_events(nats_server.url, "pls.moj.complaint.escalated", trust)
        assert [e["data"]["level"] for e in escalated] == ["province"]
        missed = await moj_events(nats_server.url, "pls.moj.complaint.deadline_missed", trust)
        assert len(missed) == 1
    finally:
        await supervisor.stop()
        await node.stop()


async def test_bad_filters_are_refused_naming_the_parameter(
    tmp_path: Path, nats_server, trust
) -> None:
    clock = ManualClock(FILED)
    supervisor = Supervisor.build(
        str(tmp_path / "s.db"), "complaints", ["440000"], nats_server.url, clock, tmp_path, trust
    )
    try:
        for params, field in (
            ({"province": "999999"}, "province"),
            ({"category": "rudeness"}, "category"),
            ({"min_days_overdue": "-1"}, "min_days_overdue"),
            ({"kind": "case"}, "kind"),
        ):
            response = await api(supervisor, "/v1/supervision/overdue", **params)
            assert response.status_code == 422, params
            assert response.json()["detail"][0]["field"] == field
        response = await api(supervisor, "/v1/supervision/rates", by="county")
        assert response.status_code == 422
        assert response.json()["detail"][0]["field"] == "by"
    finally:
        supervisor.runtime.app.close()
        supervisor.runtime.readmodel.db.close()

"""The hub compares what it applied with each province's journal, and repairs what differs.

Real nats-server, real province nodes over HTTP, the hub in this process. Each test uses its own
provinces, so that the session's streams never mix.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
from prometheus_client import generate_latest

from contracts.envelope import canonical_bytes, format_sequence
from contracts.subjects import stream_name
from pls.trust.keys import SigningKey
from pls.trust.local import province_member
from pls.trust.signing import sign_event
from services.province_node.adapters.views import CaseFilter
from tests.support import Hub, Node, jetstream, until


def province_total(node: Node) -> int:
    return int(node.runtime.views.case_statistics(CaseFilter())["total"])


def forged_after(node: Node, sequence: int, **changes: Any) -> tuple[str, bytes]:
    """A well-formed event in the province's name, signed with its key, that is not in its journal
    (as after the province's store was rolled back, or its key misused)."""
    first = node.runtime.views.journal_after(0, 1)[0]
    event = orjson.loads(first.body)
    event["id"] = str(uuid.uuid4())
    event["sequence"] = format_sequence(sequence)
    event["data"]["case_id"] = str(uuid.uuid4())
    event.update(changes)
    assert node.trust is not None
    key = SigningKey.from_file(node.trust.signing_seed(province_member(node.province)))
    return first.subject, canonical_bytes(sign_event(event, key))


async def test_a_lost_tail_is_fetched_from_the_journal_with_its_token(
    tmp_path: Path, nats_server, trust
) -> None:
    node = Node.build(tmp_path / "node", "120000", nats_server.url, trust).serve_http()
    hub = None
    try:
        node.open_cases(6, "120101")
        await until(lambda: node.runtime.relay.position >= node.head() == 12, message="relay")
        async with jetstream(nats_server.url, trust) as js:
            for sequence in (10, 11, 12):  # the last ones: no later event ever shows a gap
                await js.delete_msg(stream_name("120000"), sequence)
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"{node.url}/v1/journal")).status_code == 401
            assert (await client.get(f"{node.url}/v1/journal/head")).status_code == 401

        hub = await Hub.build(
            str(tmp_path / "hub.db"),
            "hub",
            ["120000"],
            nats_server.url,
            trust,
            node_urls={"120000": node.url},
            durable="hub-tail",
        ).start()
        await hub.caught_up(node)
        assert hub.totals("120000")["total"] == province_total(node) == 6
        row = await until(lambda: _complete_row(hub, "120000"), message="freshness says complete")
        assert row.journal.verified_through == 12
        assert row.journal.head == 12
    finally:
        if hub is not None:
            await hub.stop()
        node.stop_http()


async def _complete_row(hub: Hub, origin: str) -> Any:
    row = await hub.row(origin)
    return row if row.status == "complete" else None


async def test_an_event_the_province_never_published_is_undone_by_a_resync(
    tmp_path: Path, nats_server, trust
) -> None:
    node = Node.build(tmp_path / "node", "130000", nats_server.url, trust).serve_http()
    hub = await Hub.build(
        str(tmp_path / "hub.db"),
        "hub",
        ["130000"],
        nats_server.url,
        trust,
        node_urls={"130000": node.url},
        durable="hub-forged",
        reconcile_interval=0.3,
    ).start()
    try:
        node.open_cases(4, "130102")
        await hub.caught_up(node)
        subject, forged = forged_after(node, node.head() + 1)
        async with jetstream(nats_server.url, trust) as js:
            await js.publish(subject, forged, stream=stream_name("130000"))
        # A valid-looking case opened in the province's name is applied, then found out: the
        # hub is past the province's journal, so it re-applies the province from the journal.
        await until(lambda: hub.runtime.reconciler.states["130000"].resyncs >= 1, message="resync")
        await until(
            lambda: hub.totals("130000")["total"] == 4 and hub.sequence("130000") == 8,
            message="forged case gone",
        )
        node.open_cases(2, "130102")  # the province's real sequence 9 onwards still applies
        await hub.caught_up(node)
        assert hub.totals("130000")["total"] == province_total(node) == 6
        await until(lambda: _complete_row(hub, "130000"), message="complete again")
    finally:
        await hub.stop()
        node.stop_http()


async def test_a_province_restored_to_an_earlier_journal_is_followed(
    tmp_path: Path, nats_server, trust
) -> None:
    node = Node.build(tmp_path / "node", "140000", nats_server.url, trust).serve_http()
    hub = await Hub.build(
        str(tmp_path / "hub.db"),
        "hub",
        ["140000"],
        nats_server.url,
        trust,
        node_urls={"140000": node.url},
        durable="hub-restored",
        reconcile_interval=0.3,
    ).start()
    try:
        node.open_cases(5, "140105")
        await hub.caught_up(node)
        # The province loses its last three cases (as if restored from an earlier backup).
        with node.runtime.views.db.transaction() as cursor:
            cursor.execute("DELETE FROM journal WHERE sequence > 4")
            cursor.execute("DELETE FROM cases WHERE id NOT IN (SELECT id FROM cases LIMIT 2)")
        await until(lambda: hub.runtime.reconciler.states["140000"].resyncs >= 1, message="resync")
        await until(lambda: hub.totals("140000")["total"] == 2, message="follows the province")
        assert hub.sequence("140000") == 4
    finally:
        await hub.stop()
        node.stop_http()


async def test_poison_with_a_sequence_is_refused_without_taking_a_real_events_place(
    tmp_path: Path, nats_server, trust
) -> None:
    node = Node.build(tmp_path / "node", "150000", nats_server.url, trust).serve_http()
    hub = await Hub.build(
        str(tmp_path / "hub.db"),
        "hub",
        ["150000"],
        nats_server.url,
        trust,
        node_urls={"150000": node.url},
        durable="hub-doubtful",
    ).start()
    try:
        node.open_cases(3, "150102")
        await hub.caught_up(node)
        head = node.head()
        poison = [
            # an unknown version, at the very next sequence the province will use
            forged_after(node, head + 1, type="cn.gov.moj.pls.case.opened.v9"),
            # an unknown type, far beyond anything the province published
            forged_after(node, head + 1000, type="cn.gov.moj.pls.case.exploded.v1"),
            # an unknown version at a sequence already applied
            forged_after(node, 2, type="cn.gov.moj.pls.case.opened.v9"),
        ]
        async with jetstream(nats_server.url, trust) as js:
            for subject, body in poison:
                await js.publish(subject, body, stream=stream_name("150000"))
        await until(lambda: hub.state("150000").dead_letters == 3, message="all refused")
        node.open_cases(2, "150102")
        await hub.caught_up(node)
        assert hub.totals("150000")["total"] == province_total(node) == 5
        assert hub.runtime.reconciler.states["150000"].resyncs == 0
        total, letters = hub.runtime.queries.dead_letters("150000", 0, 10)
        assert total == 3
        reasons = " | ".join(letter["reason"] for letter in letters)
        assert "v9" in reasons and "exploded" in reasons
        assert "beyond the province's journal" in reasons
        assert "already applied" in reasons
        await until(lambda: _complete_row(hub, "150000"), message="complete")
        metrics = generate_latest().decode()
        for name in (
            'pls_hub_dead_letters_total{origin="150000"} 3.0',
            'pls_hub_gap_held{origin="150000"} 0.0',
            'pls_hub_behind_events{origin="150000"} 0.0',
            'pls_hub_source_status{origin="150000",status="complete"} 1.0',
        ):
            assert name in metrics, name
    finally:
        await hub.stop()
        node.stop_http()


async def test_stopping_the_hub_saves_every_position_it_took(
    tmp_path: Path, nats_server, trust
) -> None:
    node = await Node.build(tmp_path / "node", "210000", nats_server.url, trust).start()
    hub_db = str(tmp_path / "hub.db")
    try:
        node.open_cases(400, "210102")
        await until(lambda: node.runtime.relay.position >= node.head() == 800, message="relay")
        hub = Hub.build(hub_db, "hub", ["210000"], nats_server.url, trust, durable="hub-drain")
        await hub.start()
        await until(lambda: hub.sequence("210000") > 0, message="applying")
        await hub.stop()  # mid-way through: what was taken off the bus is written and acked
        stopped_at = hub.sequence("210000")
        assert hub.runtime.queue.empty()
        assert hub.runtime.applier.intake.held_count() == 0

        again = Hub.build(hub_db, "hub", ["210000"], nats_server.url, trust, durable="hub-drain")
        assert again.sequence("210000") == stopped_at  # stored exactly as it stopped
        await again.start()
        try:
            await again.caught_up(node)
            assert again.totals("210000")["total"] == 400
            assert again.state("210000").duplicates == 0  # nothing redelivered: positions saved
        finally:
            await again.stop()
    finally:
        await node.stop()


async def test_readiness_follows_the_bus_and_gaps(tmp_path: Path, nats_server, trust) -> None:
    hub = await Hub.build(
        str(tmp_path / "hub.db"),
        "hub",
        ["220000"],
        "nats://127.0.0.1:9",  # no bus at all
        trust,
        durable="hub-ready",
        bus_grace=0.3,
    ).start()
    try:
        ready, details = await until(lambda: _not_ready(hub), message="not ready without the bus")
        assert details["nats_connected"] is False and details["nats_down_seconds"] >= 0.3
    finally:
        await hub.stop()
    connected = await Hub.build(
        str(tmp_path / "hub2.db"), "hub", ["220000"], nats_server.url, trust, durable="hub-ready2"
    ).start()
    try:
        ready, _ = await until(lambda: _ready(connected), message="ready with the bus and no gaps")
        assert ready
    finally:
        await connected.stop()


async def _not_ready(hub: Hub) -> Any:
    ready, details = await hub.runtime.readiness()
    return None if ready else (ready, details)


async def _ready(hub: Hub) -> Any:
    ready, details = await hub.runtime.readiness()
    return (ready, details) if ready else None


async def test_a_recreated_stream_is_consumed_afresh(tmp_path: Path, nats_server, trust) -> None:
    node = await Node.build(tmp_path / "node", "370000", nats_server.url, trust).start()
    hub = await Hub.build(
        str(tmp_path / "hub.db"), "hub", ["370000"], nats_server.url, trust, durable="hub-afresh"
    ).start()  # no journal to fall back on: only the stream can bring what follows
    try:
        node.open_cases(5, "370102")
        await hub.caught_up(node)
        assert hub.state("370000").stream_position == 10
        async with jetstream(nats_server.url, trust) as js:
            await js.delete_stream(stream_name("370000"))
        node.open_cases(2, "370102")  # the relay recreates the stream: its sequences restart
        await hub.caught_up(node)
        assert hub.totals("370000")["total"] == 7
        await until(lambda: hub.state("370000").stream_position == 4, message="position follows")
    finally:
        await hub.stop()
        await node.stop()

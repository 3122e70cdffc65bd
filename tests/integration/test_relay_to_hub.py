"""Province nodes publish through their relays; the hub applies every event exactly once.

Real nats-server, real SQLite event stores, and the hub's read model on SQLite and PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts.subjects import stream_name
from services.province_node.adapters.views import CaseFilter
from tests.support import Hub, Node, jetstream, until

GUANGZHOU_TIANHE = "440106"
BEIJING_DONGCHENG = "110101"


def node_totals(node: Node) -> dict[str, object]:
    stats = node.runtime.views.case_statistics(CaseFilter())
    return {
        k: stats[k] for k in ("total", "by_status", "by_service_type", "by_channel", "by_outcome")
    }


def hub_totals(hub: Hub, province: str) -> dict[str, object]:
    totals = hub.totals(province)
    return {
        k: totals[k] for k in ("total", "by_status", "by_service_type", "by_channel", "by_outcome")
    }


async def test_hub_counts_exactly_what_each_province_recorded(
    tmp_path: Path, nats_server, trust, backend: tuple[str, str]
) -> None:
    database, schema = backend
    guangdong = await Node.build(tmp_path / "gd", "440000", nats_server.url, trust).start()
    beijing = await Node.build(tmp_path / "bj", "110000", nats_server.url, trust).start()
    hub = await Hub.build(
        database,
        schema,
        ["440000", "110000"],
        nats_server.url,
        trust,
        durable=f"hub-{schema}-{tmp_path.name[:20]}",
    ).start()
    try:
        guangdong.open_cases(40, GUANGZHOU_TIANHE)
        guangdong.open_cases(7, GUANGZHOU_TIANHE, service_type="mediation", conclude=False)
        beijing.open_cases(25, BEIJING_DONGCHENG)
        await hub.caught_up(guangdong)
        await hub.caught_up(beijing)

        assert hub.totals("440000")["total"] == 47
        assert hub.totals("110000")["total"] == 25
        assert hub.totals()["total"] == 72
        assert hub_totals(hub, "440000") == node_totals(guangdong)
        assert hub_totals(hub, "110000") == node_totals(beijing)
        assert hub.totals("440000")["by_status"] == {"concluded": 40, "received": 7}
    finally:
        await hub.stop()
        await guangdong.stop()
        await beijing.stop()


async def test_republished_events_are_counted_once(tmp_path: Path, nats_server, trust) -> None:
    node = await Node.build(tmp_path / "node", "440000", nats_server.url, trust).start()
    hub = await Hub.build(
        str(tmp_path / "hub.db"), "hub", ["440000"], nats_server.url, trust, durable="hub-dup"
    ).start()
    try:
        node.open_cases(20, GUANGZHOU_TIANHE)
        await hub.caught_up(node)
        before = hub.totals("440000")

        # Re-send every event with a fresh Nats-Msg-Id, so the stream stores the copies too.
        entries = node.runtime.views.journal_after(0, 1000)
        async with jetstream(nats_server.url, trust) as js:
            for entry in entries:
                await js.publish(
                    entry.subject, entry.body, headers={"Nats-Msg-Id": f"copy-{entry.event_id}"}
                )

        state = lambda: hub.runtime.applier.intake.sources["440000"]  # noqa: E731
        await until(lambda: state().duplicates >= len(entries), message="copies seen as duplicates")
        assert hub.totals("440000") == before
        assert hub.totals("440000")["total"] == 20
    finally:
        await hub.stop()
        await node.stop()


async def test_restarting_relay_and_hub_loses_nothing_and_counts_nothing_twice(
    tmp_path: Path, nats_server, trust
) -> None:
    node = await Node.build(tmp_path / "node", "510000", nats_server.url, trust).start()
    hub_db = str(tmp_path / "hub.db")
    hub = await Hub.build(
        hub_db, "hub", ["510000"], nats_server.url, trust, durable="hub-restart"
    ).start()
    try:
        node.open_cases(15, "510104")
        await hub.caught_up(node)

        # The relay stops; the node keeps taking work; the relay comes back and catches up.
        await node.runtime.relay.stop()
        node.open_cases(10, "510104")
        assert hub.totals("510000")["total"] == 15
        node.runtime.relay = type(node.runtime.relay)(
            node.runtime.views,
            province="510000",
            nats_url=nats_server.url,
            nats_creds=trust.creds("province-510000"),
            member_id="province-510000",
        )
        node.runtime.projection.on_journal_appended[:] = [node.runtime.relay.journal_appended]
        await node.runtime.relay.start()
        await hub.caught_up(node)
        assert hub.totals("510000")["total"] == 25

        # The hub stops; more work arrives; a new hub process resumes from its stored positions.
        await hub.stop()
        node.open_cases(5, "510104")
        hub = await Hub.build(
            hub_db, "hub", ["510000"], nats_server.url, trust, durable="hub-restart"
        ).start()
        await hub.caught_up(node)
        assert hub.totals("510000")["total"] == 30
        assert hub.totals("510000")["by_status"] == {"concluded": 30}
        # The relay rewound by hand re-publishes everything: the stream's duplicate window drops
        # the copies (same Nats-Msg-Id), and the national total stays 30.
        async with jetstream(nats_server.url, trust) as js:
            stored = (await js.stream_info(stream_name("510000"))).state.messages
            node.runtime.relay.rewind(0)
            await until(lambda: node.runtime.relay.position >= node.head(), message="republished")
            assert (await js.stream_info(stream_name("510000"))).state.messages == stored
        assert hub.totals("510000")["total"] == 30
    finally:
        await hub.stop()
        await node.stop()


async def test_bad_messages_are_dead_lettered_and_the_hub_carries_on(
    tmp_path: Path, nats_server, trust
) -> None:
    node = await Node.build(tmp_path / "node", "330000", nats_server.url, trust).start()
    hub = await Hub.build(
        str(tmp_path / "hub.db"), "hub", ["330000"], nats_server.url, trust, durable="hub-poison"
    ).start()
    try:
        node.open_cases(3, "330102")
        await hub.caught_up(node)
        forged = node.runtime.views.journal_after(0, 1)[0].body.replace(
            b"/pls/330000/province-node", b"/pls/110000/province-node"
        )
        async with jetstream(nats_server.url, trust) as js:
            await js.publish("pls.330000.case.opened", b"not json", stream=stream_name("330000"))
            await js.publish("pls.330000.case.opened", b'{"specversion": "1.0"}')
            await js.publish("pls.330000.case.opened", forged)
        node.open_cases(2, "330102")
        await hub.caught_up(node)

        letters = hub.runtime.queries.dead_letters("330000", 0, 50)[1]
        reasons = " | ".join(letter["reason"] for letter in letters)
        assert len(letters) == 3
        assert "not JSON" in reasons
        assert "source" in reasons and "110000" in reasons
        assert "id" in reasons  # the envelope missing its attributes names them
        assert hub.totals("330000")["total"] == 5
    finally:
        await hub.stop()
        await node.stop()


@pytest.mark.postgres
async def test_node_on_postgresql_publishes_to_the_hub(
    tmp_path: Path, nats_server, trust, postgres_url: str, pg_schema: str
) -> None:
    node = Node.build(
        tmp_path / "node", "320000", nats_server.url, trust, database=postgres_url, schema=pg_schema
    )
    await node.start()
    hub = await Hub.build(
        str(tmp_path / "hub.db"), "hub", ["320000"], nats_server.url, trust, durable="hub-pg-node"
    ).start()
    try:
        node.open_cases(12, "320102")
        await hub.caught_up(node)
        assert hub.totals("320000")["total"] >= 12
        assert hub_totals(hub, "320000") == node_totals(node)
    finally:
        await hub.stop()
        await node.stop()


async def test_hub_shows_how_fresh_each_applied_event_was(
    tmp_path: Path, nats_server, trust
) -> None:
    from prometheus_client import REGISTRY

    def observed() -> tuple[float, float]:
        count = REGISTRY.get_sample_value("pls_hub_event_freshness_seconds_count") or 0.0
        total = REGISTRY.get_sample_value("pls_hub_event_freshness_seconds_sum") or 0.0
        return count, total

    node = await Node.build(tmp_path / "node", "440000", nats_server.url, trust).start()
    hub = await Hub.build(
        str(tmp_path / "hub.db"), "hub", ["440000"], nats_server.url, trust, durable="hub-fresh"
    ).start()
    try:
        count_before, sum_before = observed()
        node.open_cases(10, GUANGZHOU_TIANHE)
        await hub.caught_up(node)
        applied = hub.state("440000").applied
        count, total = observed()
        assert count - count_before == applied >= 20  # opened and concluded, 10 times
        assert 0 < (total - sum_before) / (count - count_before) < 30
        # The same ages, summarised over the last minute for staff (/v1/national/freshness).
        freshness = await hub.runtime.freshness()
        row = next(r for r in freshness.rows if r.province == "440000")
        assert freshness.delay.events == row.delay.events == applied
        assert row.delay.p50_seconds is not None and row.delay.max_seconds is not None
        assert 0 < row.delay.p50_seconds <= row.delay.p99_seconds <= row.delay.max_seconds < 30
        assert freshness.delay.window_seconds == 60.0
    finally:
        await hub.stop()
        await node.stop()

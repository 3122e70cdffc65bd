"""What the bus loses is fetched from the province's journal; checkpoints prove completeness."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime
from pathlib import Path

from contracts.envelope import build_event, canonical_bytes
from contracts.events.checkpoint import CheckpointPublished
from contracts.subjects import stream_name
from pls.trust.keys import SigningKey
from pls.trust.signing import sign_event
from services.province_node.adapters.views import CaseFilter
from tests.support import Hub, Node, jetstream, until


async def test_events_lost_from_the_stream_are_backfilled_from_the_province(
    tmp_path: Path, nats_server, trust
) -> None:
    node = Node.build(tmp_path / "node", "440000", nats_server.url, trust).serve_http()
    hub = None
    try:
        node.open_cases(10, "440106")
        await until(lambda: node.runtime.relay.position >= node.head() == 20, message="relay done")
        async with jetstream(nats_server.url, trust) as js:
            for sequence in (5, 6, 7, 8):
                await js.delete_msg(stream_name("440000"), sequence)

        hub = await Hub.build(
            str(tmp_path / "hub.db"),
            "hub",
            ["440000"],
            nats_server.url,
            trust,
            node_urls={"440000": node.url},
            gap_timeout=0.5,
            durable="hub-backfill",
        ).start()
        await hub.caught_up(node)
        stats = node.runtime.views.case_statistics(CaseFilter())
        assert hub.totals("440000")["total"] == stats["total"] == 10
        assert hub.totals("440000")["by_status"] == stats["by_status"]
        assert hub.runtime.applier.gaps() == {}
    finally:
        if hub is not None:
            await hub.stop()
        node.stop_http()


async def test_a_gap_is_held_not_skipped_while_the_province_is_unreachable(
    tmp_path: Path, nats_server, trust
) -> None:
    node = await Node.build(tmp_path / "node", "450000", nats_server.url, trust).start()
    node.open_cases(3, "450102")
    await until(lambda: node.runtime.relay.position >= node.head() == 6, message="relay done")
    async with jetstream(nats_server.url, trust) as js:
        await js.delete_msg(stream_name("450000"), 2)  # before the hub reads the stream
    hub = await Hub.build(
        str(tmp_path / "hub.db"),
        "hub",
        ["450000"],
        nats_server.url,
        trust,
        node_urls={"450000": "http://127.0.0.1:9"},
        gap_timeout=0.3,
        durable="hub-hold",
    ).start()
    try:
        gaps = await until(
            lambda: hub.sequence("450000") == 1 and hub.runtime.applier.gaps(), message="gap held"
        )
        assert gaps["450000"]["expected"] == 2
        assert gaps["450000"]["held"] == 4  # sequences 3-6 wait behind the gap, not applied
        freshness = await hub.runtime.freshness()
        row = next(r for r in freshness.rows if r.province == "450000")
        assert row.status == "behind" and row.gap is not None
        await until(
            lambda: gaps["450000"] and hub.runtime.applier.backfill_errors.get("450000"),
            message="backfill attempted and failed",
        )
        assert hub.totals("450000")["total"] == 1
    finally:
        await hub.stop()
        await node.stop()


async def test_checkpoints_verify_and_a_forged_history_shows_as_diverged(
    tmp_path: Path, nats_server, trust
) -> None:
    node = await Node.build(tmp_path / "node", "420000", nats_server.url, trust).start()
    hub = await Hub.build(
        str(tmp_path / "hub.db"),
        "hub",
        ["420000"],
        nats_server.url,
        trust,
        durable="hub-checkpoint",
    ).start()
    try:
        node.open_cases(5, "420102")
        node.runtime.projection.request_checkpoint()
        await until(
            lambda: node.runtime.projection.journal.checkpointed_through == 11,
            message="checkpoint written",
        )
        await hub.caught_up(node)
        state = hub.runtime.applier.intake.sources["420000"]
        assert state.checkpoint_status == "verified"
        assert state.checkpoint_sequence == 10

        async def status() -> str:
            freshness = await hub.runtime.freshness()
            return next(r for r in freshness.rows if r.province == "420000").status

        await until(lambda: _is(status(), "complete"), message="province complete")

        # A checkpoint, properly signed by the province, claiming another history than the one the
        # hub applied (as after tampering with the province's store) is caught.
        forged = CheckpointPublished(through_sequence=11, running_hash="ab" * 32)
        event = build_event(
            forged,
            origin="420000",
            service="province-node",
            subject="420000",
            event_id=str(uuid.uuid4()),
            sequence=12,
            time=datetime.now(UTC),
        )
        signed = sign_event(event, SigningKey.from_file(trust.signing_seed("province-420000")))
        async with jetstream(nats_server.url, trust) as js:
            await js.publish("pls.420000.checkpoint.published", canonical_bytes(signed))
        await until(
            lambda: hub.runtime.applier.intake.sources["420000"].checkpoint_status == "diverged",
            message="divergence detected",
        )
        assert await status() == "diverged"
    finally:
        await hub.stop()
        await node.stop()


async def _is(value: Awaitable[str], expected: str) -> bool:
    return await value == expected

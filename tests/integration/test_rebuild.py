"""Rebuilding the national read model beside the live one, and swapping it in while it serves."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from contracts.subjects import stream_name
from pls.cli import app
from pls.intake.backfill import JournalClient
from pls.rebuild import Rebuilder
from services.ministry_hub.bootstrap import projection_over
from services.province_node.adapters.views import CaseFilter
from tests.support import Hub, Node, connected, jetstream, until, wait_sync


def province_totals(node: Node) -> dict[str, object]:
    stats = node.runtime.views.case_statistics(CaseFilter())
    return {k: stats[k] for k in ("total", "by_status", "by_service_type", "by_outcome")}


def national_totals(hub: Hub, province: str) -> dict[str, object]:
    totals = hub.totals(province)
    return {k: totals[k] for k in ("total", "by_status", "by_service_type", "by_outcome")}


async def test_a_rebuilt_read_model_is_swapped_in_while_the_live_one_serves(
    tmp_path: Path, nats_server, trust, backend: tuple[str, str]
) -> None:
    database, schema = backend
    province = "230000" if schema == "hub" else "340000"
    county = "230102" if province == "230000" else "340102"
    node = Node.build(tmp_path / "node", province, nats_server.url, trust).serve_http()
    hub = await Hub.build(
        database,
        schema,
        [province],
        nats_server.url,
        trust,
        node_urls={province: node.url},
        durable=f"hub-rebuild-{schema}",
        gap_timeout=0.3,
    ).start()
    store = hub.runtime.store
    fresh_store = store.beside()
    try:
        node.open_cases(30, county)
        node.open_cases(5, county, service_type="mediation", conclude=False)
        await until(lambda: node.runtime.relay.position >= node.head() == 65, message="relay")
        async with jetstream(nats_server.url, trust) as js:
            await js.publish(f"pls.{province}.case.opened", b"not json at all")
            for sequence in (5, 6, 7, 8, 64, 65):  # history the stream no longer has
                await js.delete_msg(stream_name(province), sequence)
        node.open_cases(1, county)  # reveals the gap at 64-65 to the live hub
        await hub.caught_up(node)

        fresh = fresh_store.open()
        try:
            async with connected(nats_server.url, trust) as bus:
                rebuilder = Rebuilder(
                    projection_over(fresh, hub.runtime.settings),
                    [province],
                    journal=JournalClient(
                        {province: str(node.url)}, token=trust.service_token("ministry-hub")
                    ),
                    bus=bus,
                    registry=trust.registry(),
                )
                await rebuilder.run()
            assert rebuilder.verified[province]
            assert rebuilder.read_from[province]["stream"] > 50
            assert rebuilder.read_from[province]["journal"] >= 4
        finally:
            fresh.close()

        node.open_cases(4, county)  # the live one moves on: the rebuilt one must catch up
        await hub.caught_up(node)
        failures: list[BaseException] = []
        stop = threading.Event()

        def keep_asking() -> None:
            while not stop.is_set():
                try:
                    assert hub.totals(province)["total"] >= 40
                except BaseException as error:
                    failures.append(error)
                    return

        asker = threading.Thread(target=keep_asking)
        asker.start()
        try:
            result = await hub.runtime.promote_rebuild()
        finally:
            stop.set()
            await asyncio.to_thread(asker.join)
        assert failures == []
        assert result["sequences"][province] >= node.head()
        assert national_totals(hub, province) == province_totals(node)
        total, _ = hub.runtime.queries.dead_letters(province, 0, 10)
        assert total == 1  # carried over, not doubled by the rebuild seeing it too
        assert not fresh_store.exists()

        node.open_cases(3, county)  # and the hub goes on applying into the new read model
        await hub.caught_up(node)
        assert national_totals(hub, province) == province_totals(node)
        assert hub.state(province).duplicates <= 10
    finally:
        await hub.stop()
        node.stop_http()
        fresh_store.drop()
        store.beside("previous").drop()


def _federation_file(tmp_path: Path, nats_url: str, trust: Any, nodes: dict[str, str]) -> Path:
    """A `pls up` federation.json for the nodes at these URLs, with no hub running (port 9)."""
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    (tokens / "ministry-hub.jwt").write_text(trust.service_token("ministry-hub"))
    manifest = {
        "var_dir": str(tmp_path / "var"),
        "nats": {"url": nats_url},
        "hub": {"url": "http://127.0.0.1:9"},
        "provinces": {province: {"url": url} for province, url in nodes.items()},
        "trust": {
            "registry": str(trust.registry_path),
            "nats_credentials": str(trust.creds("ministry-hub").parent),
            "tokens": str(tokens),
        },
    }
    path = tmp_path / "federation.json"
    path.write_text(json.dumps(manifest))
    return path


def test_pls_hub_rebuild_without_a_running_hub_puts_it_in_place(
    tmp_path: Path, nats_server, trust
) -> None:
    province = "350000"
    node = Node.build(tmp_path / "node", province, nats_server.url, trust).serve_http()
    var_dir = tmp_path / "var"
    federation_file = _federation_file(tmp_path, nats_server.url, trust, {province: node.url})
    try:
        node.open_cases(12, "350102")
        wait_sync(lambda: node.runtime.relay.position >= node.head() == 24, message="relay")
        result = CliRunner().invoke(
            app, ["hub", "rebuild", "--federation", str(federation_file), "--keep-previous"]
        )
        assert result.exit_code == 0, result.output
        assert "No hub is running" in result.output
        assert (var_dir / "hub" / "national.db").exists()
        hub = Hub.build(
            str(var_dir / "hub" / "national.db"), "hub", [province], nats_server.url, trust
        )
        try:
            assert national_totals(hub, province) == province_totals(node)
            assert hub.sequence(province) == 24
        finally:
            hub.runtime.readmodel.db.close()
    finally:
        node.stop_http()


def _rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every table of a read model, row by row, but for what says when it was written."""
    connection = sqlite3.connect(path)
    try:
        tables = [
            row[0]
            for row in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        rows = {}
        for table in tables:
            columns = [
                row[1]
                for row in connection.execute(f"PRAGMA table_info({table})")
                if row[1] not in ("id", "received_at", "last_applied_at", "checkpoint_at")
            ]
            rows[table] = sorted(
                connection.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall(),
                key=repr,
            )
        return rows
    finally:
        connection.close()


def test_a_rebuild_in_two_processes_makes_the_same_read_model_as_one(
    tmp_path: Path, nats_server, trust
) -> None:
    """The provinces are dealt out over the processes; what they rebuilt is added up into one
    read model, row for row the one a single process makes, the stream's gaps filled from the
    journals in either."""
    places = {"360000": "360102", "410000": "410102", "450000": "450102"}
    nodes = {
        province: Node.build(tmp_path / f"node-{province}", province, nats_server.url, trust)
        for province in places
    }
    var_dir = tmp_path / "var"
    urls = {p: n.serve_http().url for p, n in nodes.items()}
    federation_file = _federation_file(tmp_path, nats_server.url, trust, urls)
    try:
        for n, (province, county) in enumerate(places.items()):
            node = nodes[province]
            node.open_cases(8 + 3 * n, county)
            node.open_cases(4, county, service_type="mediation", conclude=False)
            wait_sync(lambda node=node: node.runtime.relay.position >= node.head() > 0, 20)

        async def lose_history() -> None:
            async with jetstream(nats_server.url, trust) as js:
                for sequence in (3, 4, 9):  # the rebuild finds these in the journal
                    await js.delete_msg(stream_name("410000"), sequence)

        asyncio.run(lose_history())
        rebuilt = var_dir / "hub" / "national.db.rebuild"
        made = {}
        for workers in (1, 2):
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pls.cli",
                    "hub",
                    "rebuild",
                    "--federation",
                    str(federation_file),
                    "--no-swap",
                    "--workers",
                    str(workers),
                ],
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            assert ("in 2 processes" in done.stdout) == (workers == 2), done.stdout
            made[workers] = _rows(rebuilt)
        assert not list(rebuilt.parent.glob("*shard*")), "a shard was left behind"
        assert made[1] == made[2]
        cases = made[2]["cases"]
        assert {row[1] for row in cases} == set(places)  # origin
        assert len(cases) == sum(8 + 3 * n + 4 for n in range(3))
        assert made[2]["national_counts"], "the derived views were made"
    finally:
        for node in nodes.values():
            node.stop_http()

"""A province node backed up while it runs, restored, and followed by the hub."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from pls.cli import app
from services.province_node.adapters.backup import BackupError, backup
from services.province_node.adapters.views import CaseFilter
from tests.support import Hub, Node, until


def province_totals(node: Node) -> dict[str, object]:
    stats = node.runtime.views.case_statistics(CaseFilter())
    return {k: stats[k] for k in ("total", "by_status", "by_service_type", "by_outcome")}


def national_totals(hub: Hub, province: str) -> dict[str, object]:
    totals = hub.totals(province)
    return {k: totals[k] for k in ("total", "by_status", "by_service_type", "by_outcome")}


async def test_backup_restore_and_replay_count_nothing_twice(
    tmp_path: Path, nats_server, trust, monkeypatch: pytest.MonkeyPatch
) -> None:
    province, county = "360000", "360102"
    node = Node.build(tmp_path, province, nats_server.url, trust).serve_http()
    port = node.runtime.settings.listen_port()
    hub = await Hub.build(
        str(tmp_path / "hub.db"),
        "hub",
        [province],
        nats_server.url,
        trust,
        node_urls={province: str(node.url)},
        durable="hub-backup",
        reconcile_interval=0.3,
    ).start()
    monkeypatch.setenv("PLS_VAR_DIR", str(tmp_path))
    runner = CliRunner()
    backup_file = tmp_path / "backups" / "360000.db"
    try:
        node.open_cases(5, county)
        node.open_cases(2, county, conclude=False)
        await until(lambda: node.runtime.relay.position >= node.head() == 12, message="relay")
        made = runner.invoke(
            app, ["node", "backup", "--province", province, "--to", str(backup_file)]
        )
        assert made.exit_code == 0, made.output
        assert "journal through sequence 12" in made.output

        node.open_cases(3, county)  # written after the backup: lost by the restore
        await hub.caught_up(node)
        assert hub.totals(province)["total"] == 10
        node.stop_http()

        restored = runner.invoke(
            app,
            ["node", "restore", "--province", province, "--from", str(backup_file), "--force"],
        )
        assert restored.exit_code == 0, restored.output
        assert "kept at" in restored.output
        node = Node.build(tmp_path, province, nats_server.url, trust, port=port).serve_http()
        assert node.head() == 12
        assert province_totals(node)["total"] == 7

        # The relay publishes again from its saved position; the hub, past the restored
        # journal's end, re-applies the province from it: the national view follows.
        await until(lambda: hub.totals(province)["total"] == 7, message="hub follows the restore")
        node.open_cases(4, county)
        await hub.caught_up(node)
        assert national_totals(hub, province) == province_totals(node)
        assert hub.totals(province)["total"] == 11
        assert hub.runtime.reconciler.states[province].resyncs == 1
    finally:
        await hub.stop()
        node.stop_http()


def test_a_file_that_is_not_a_node_database_is_refused(tmp_path: Path) -> None:
    stray = tmp_path / "notes.db"
    stray.write_bytes(b"this is not a database" * 100)
    with pytest.raises(BackupError):
        backup(stray, tmp_path / "copy.db")
    with pytest.raises(BackupError, match="no node database"):
        backup(tmp_path / "missing.db", tmp_path / "copy.db")

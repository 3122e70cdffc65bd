"""Several province nodes in one process: each reads its own identity, and the processes divide
the provinces between them."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from pls.cli import app
from pls.federation import Federation, default_node_processes
from pls.settings import CommonSettings, for_province
from services.province_node.settings import NodeSettings


def test_a_province_reads_its_own_variables_before_the_shared_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PLS_NATS_URL", "nats://bus:4222")
    monkeypatch.setenv("PLS_MEMBER_ID", "shared")
    monkeypatch.setenv("PLS_440000_MEMBER_ID", "province-440000")
    monkeypatch.setenv("PLS_440000_NATS_CREDS", "/trust/440000.creds")
    monkeypatch.setenv("PLS_NODE_CHECKPOINT_INTERVAL", "7")
    monkeypatch.setenv("PLS_440000_NODE_SIGNING_SEED", "/trust/440000.seed")
    monkeypatch.setenv("PLS_440000_NODE_PORT", "18555")
    monkeypatch.setenv("PLS_510000_NODE_PORT", "18666")

    common = for_province(CommonSettings, "440000")
    node = for_province(NodeSettings, "440000", {"province": "440000"})
    assert (common.member_id, common.nats_creds) == ("province-440000", Path("/trust/440000.creds"))
    assert common.nats_url == "nats://bus:4222"  # shared by every province of the process
    assert node.signing_seed == Path("/trust/440000.seed")
    assert node.listen_port() == 18555  # not 510000's
    assert node.checkpoint_interval == 7
    # A province with no variables of its own reads the shared ones.
    other = for_province(CommonSettings, "110000")
    assert other.member_id == "shared" and other.nats_creds is None


def test_explicit_values_win_over_a_provinces_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLS_440000_NODE_HOST", "10.0.0.1")
    node = for_province(NodeSettings, "440000", {"province": "440000", "host": "0.0.0.0"})
    assert node.host == "0.0.0.0"


def _federation(provinces: list[str], processes: int | None) -> Federation:
    return Federation(var_dir=Path("var"), provinces=provinces, node_processes=processes)


def test_node_processes_divide_the_provinces_between_them() -> None:
    provinces = ["110000", "120000", "130000", "140000", "150000"]
    groups = _federation(provinces, 2).node_groups()
    assert groups == {
        "nodes-1": ["110000", "130000", "150000"],
        "nodes-2": ["120000", "140000"],
    }
    assert _federation(provinces, 2).node_process("140000") == "nodes-2"
    # One process a province, named after it, when there are as many processes as provinces.
    assert list(_federation(provinces, None).node_groups()) == [f"node-{p}" for p in provinces]
    assert list(_federation(provinces, 9).node_groups()) == [f"node-{p}" for p in provinces]


def test_pls_up_runs_nodes_in_at_least_two_processes_and_never_more_than_provinces() -> None:
    assert default_node_processes(1) == 1
    assert 2 <= default_node_processes(32) <= 32
    assert default_node_processes(3) <= 3


def test_pls_node_refuses_one_port_for_several_provinces_and_unknown_codes() -> None:
    runner = CliRunner()
    several = runner.invoke(app, ["node", "--province", "110000,120000", "--port", "18999"])
    assert several.exit_code == 2
    assert "--port names one node's port" in several.output
    unknown = runner.invoke(app, ["node", "--province", "110000,999999"])
    assert unknown.exit_code == 2
    assert "999999" in unknown.output

"""The tools an operator uses to set up trust: `pls nats-config`, `pls token`, and the refusal to
run production on a development secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from pls.cli import app
from pls.settings import CommonSettings
from pls.trust.local import LocalTrust
from pls.trust.registry import FederationRegistry
from pls.trust.tokens import TokenVerifier
from services.province_node.bootstrap import build_runtime
from services.province_node.settings import NodeSettings

runner = CliRunner()


def test_nats_config_writes_users_by_nkey_from_a_new_registry(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["nats-config", "--init", str(tmp_path / "trust"), "--out", str(tmp_path / "auth.conf")],
    )
    assert result.exit_code == 0, result.output
    registry = FederationRegistry.load(tmp_path / "trust" / "federation.yaml")
    config = (tmp_path / "auth.conf").read_text()
    guangdong = registry.member("province-440000")
    assert guangdong.nats_key in config
    assert '"pls.440000.>"' in config
    assert "password" not in config and "seed" not in config.lower()
    assert all(member.nats_key in config for member in registry.members)


def test_pls_token_issues_a_token_the_services_accept(trust: LocalTrust) -> None:
    result = runner.invoke(
        app,
        [
            "token",
            "--role",
            "province_operator",
            "--province",
            "440000",
            "--subject",
            "zhang.wei",
            "--trust-dir",
            str(trust.directory),
        ],
    )
    assert result.exit_code == 0, result.output
    principal = TokenVerifier(trust.registry().issuer).verify(result.output.strip())
    assert (principal.subject, principal.province) == ("zhang.wei", "440000")
    assert principal.roles == {"province_operator"}
    refused = runner.invoke(
        app,
        [
            "token",
            "--role",
            "province_operator",
            "--subject",
            "x",
            "--trust-dir",
            str(trust.directory),
        ],
    )
    assert refused.exit_code != 0
    assert (
        runner.invoke(
            app,
            ["token", "--role", "emperor", "--subject", "x", "--trust-dir", str(trust.directory)],
        ).exit_code
        != 0
    )


def test_production_refuses_a_development_pseudonym_secret(
    tmp_path: Path, trust: LocalTrust
) -> None:
    settings = NodeSettings(
        province="440000", signing_seed=trust.signing_seed("province-440000"), relay_enabled=False
    )
    common = CommonSettings(
        environment="production",
        var_dir=tmp_path,
        trust_registry=trust.registry_path,
        member_id="province-440000",
        nats_creds=trust.creds("province-440000"),
    )
    with pytest.raises(SystemExit, match="PLS_NODE_PSEUDONYM_SECRET"):
        build_runtime(settings, common)


def test_services_refuse_to_run_without_the_registry(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="PLS_TRUST_REGISTRY"):
        build_runtime(NodeSettings(province="440000"), CommonSettings(var_dir=tmp_path))

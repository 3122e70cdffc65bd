"""`pls up` keeps its federation running: a process that exits is started again."""

from __future__ import annotations

import json
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from pls import ports
from pls.federation import Federation
from tests.support import federation_on_free_ports, wait_sync


@contextmanager
def supervising(federation: Federation) -> Iterator[list[str]]:
    """The federation started and kept running as `pls up` does; what the supervisor reported."""
    federation.start()
    reports: list[str] = []
    watcher = threading.Thread(
        target=federation.supervise, kwargs={"report": reports.append, "delay": 0.2}
    )
    watcher.start()
    try:
        yield reports
    finally:
        federation.stop()
        watcher.join(10)


@pytest.fixture
def supervised(tmp_path: Path) -> Iterator[tuple[Federation, list[str]]]:
    federation = federation_on_free_ports(tmp_path / "var", ["650000"])
    with supervising(federation) as reports:
        yield federation, reports


def answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_killed_processes_and_nats_server_come_back(
    supervised: tuple[Federation, list[str]],
) -> None:
    federation, reports = supervised
    federation.kill("hub")
    federation.kill("node-650000")
    assert federation.nats is not None
    federation.nats.kill()
    wait_sync(lambda: answers(federation.hub_url), 60, "hub restarted")
    wait_sync(lambda: answers(federation.node_url("650000")), 60, "node restarted")
    wait_sync(lambda: len(reports) >= 3, 30, "restarts reported")
    assert any(line.startswith("nats-server exited; restarted") for line in reports)
    assert any(line.startswith("hub exited (-9)") for line in reports)


@pytest.fixture
def shared(tmp_path: Path) -> Iterator[tuple[Federation, list[str]]]:
    provinces = ["640000", "650000", "660000"]
    federation = federation_on_free_ports(tmp_path / "var", provinces, node_processes=2)
    with supervising(federation):
        yield federation, provinces


def test_nodes_sharing_a_process_each_serve_their_own_province_and_come_back_together(
    shared: tuple[Federation, list[str]],
) -> None:
    federation, provinces = shared
    assert federation.node_process("640000") == federation.node_process("660000") == "nodes-1"
    with httpx.Client(timeout=5) as client:
        for province in provinces:
            ready = client.get(f"{federation.node_url(province)}/readyz").json()
            assert ready["province"] == province
        metrics = client.get(f"{federation.node_url('640000')}/metrics").text
        # The process's metrics tell its nodes apart.
        for province in ("640000", "660000"):
            assert f'pls_relay_connected{{origin="{province}"}} 1.0' in metrics
            assert f'service="province-node-{province}"' in metrics

    federation.kill("nodes-1")
    urls = [federation.node_url(p) for p in ("640000", "660000")]
    wait_sync(lambda: all(answers(url) for url in urls), 60, "both nodes restarted")
    process = federation.child("nodes-1").process
    federation.stop()
    assert process.returncode == 0  # SIGTERM shut both nodes down gracefully


def _free_offset(provinces: list[str]) -> int:
    """A port offset under which every port `pls up` takes is free."""
    for _ in range(50):
        offset = random.randrange(1_000, 20_000, 10)
        wanted = [ports.NATS, ports.NATS_MONITOR, ports.HUB, ports.DIRECTORY, ports.COMPLAINTS]
        wanted += [ports.node_port(p) for p in provinces]
        try:
            for port in wanted:
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port + offset))
        except OSError:
            continue
        return offset
    raise RuntimeError("no free port offset")


def test_pls_up_runs_shared_node_processes_and_sigterm_stops_everything(tmp_path: Path) -> None:
    provinces = ["640000", "650000", "660000"]
    offset = _free_offset(provinces)
    var = tmp_path / "var"
    command = [sys.executable, "-m", "pls.cli", "up", "--provinces", ",".join(provinces)]
    command += ["--var-dir", str(var), "--port-offset", str(offset), "--rate", "20"]
    up = subprocess.Popen(
        [*command, "--node-processes", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        # As a background job of a script: SIGINT ignored. SIGTERM must stop it all the same.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        wait_sync(lambda: (var / "federation.json").exists(), 120, "federation.json written")
        manifest = json.loads((var / "federation.json").read_text())
        assert {p: manifest["provinces"][p]["process"] for p in provinces} == {
            "640000": "nodes-1",
            "650000": "nodes-2",
            "660000": "nodes-1",
        }
        urls = [manifest["provinces"][p]["url"] for p in provinces]
        assert all(answers(url) for url in urls)
        time.sleep(3)  # the simulator is at work
    finally:
        up.send_signal(signal.SIGTERM)
        output, _ = up.communicate(timeout=60)
    text = output.decode()
    assert up.returncode == 0, text[-2000:]
    assert "Traceback" not in text, text[-4000:]
    assert not any(answers(url) for url in urls)  # every node process stopped with it

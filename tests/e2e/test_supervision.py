"""`pls up` keeps its federation running: a process that exits is started again."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pls.federation import Federation
from tests.conftest import free_port
from tests.support import wait_sync


@pytest.fixture
def supervised(tmp_path: Path) -> Iterator[tuple[Federation, list[str]]]:
    federation = Federation(
        var_dir=tmp_path / "var",
        provinces=["650000"],
        nats_port=free_port(),
        nats_monitor_port=free_port(),
        hub_port=free_port(),
        node_ports={"650000": free_port()},
    )
    federation.start()
    reports: list[str] = []
    watcher = threading.Thread(
        target=federation.supervise, kwargs={"report": reports.append, "delay": 0.2}
    )
    watcher.start()
    yield federation, reports
    federation.stop()
    watcher.join(10)


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

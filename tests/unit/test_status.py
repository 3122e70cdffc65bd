"""`pls status`: which processes it reads, and what it makes of two samples of them."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import httpx
from rich.console import Console

from pls.manifest import Manifest
from pls.status import (
    Endpoint,
    Sample,
    Snapshot,
    cpu_percent,
    endpoints,
    render,
    sample,
    simulator_report,
)


def manifest() -> Manifest:
    return Manifest(
        {
            "launcher": {"pid": 4321, "command": "pls up"},
            "nats": {"url": "nats://127.0.0.1:14222", "monitor": "http://127.0.0.1:18222"},
            "hub": {"url": "http://127.0.0.1:18000"},
            "directory": {"url": "http://127.0.0.1:18010"},
            "complaints": {"url": "http://127.0.0.1:18020"},
            "provinces": {
                "110000": {"url": "http://127.0.0.1:18100", "process": "nodes-1"},
                "440000": {"url": "http://127.0.0.1:18118", "process": "nodes-2"},
                "510000": {"url": "http://127.0.0.1:18122", "process": "nodes-1"},
                "330000": {"url": "http://127.0.0.1:18110", "relay": "http://127.0.0.1:18510"},
            },
        }
    )


def test_nodes_sharing_a_process_are_read_once_through_one_of_them() -> None:
    found = {e.name: e for e in endpoints(manifest())}
    assert list(found) == [
        "nats-server",
        "hub",
        "directory",
        "complaints",
        "launcher",
        "nodes-1",
        "nodes-2",
        "node-330000",
        "relay-330000",
    ]
    assert found["nodes-1"] == Endpoint(
        "nodes-1", "2 province nodes", "http://127.0.0.1:18100/metrics"
    )
    assert found["nodes-2"].serves == "province node 440000 广东省"
    assert found["nats-server"].url == "http://127.0.0.1:18222/varz"
    assert found["relay-330000"].url == "http://127.0.0.1:18510/metrics"
    assert found["launcher"] == Endpoint("launcher", "pls up", pid=4321)


def test_the_launcher_is_read_from_proc_and_said_gone_when_it_is() -> None:
    with httpx.Client() as client:
        mine = sample(client, Endpoint("launcher", "pytest", pid=os.getpid()))
        assert mine.error is None
        assert mine.rss_bytes is not None and mine.rss_bytes > 10 * 2**20
        assert mine.cpu_seconds is not None and mine.cpu_seconds > 0
        child = subprocess.Popen(["true"])
        child.wait()  # its pid now names no process
        gone = sample(client, Endpoint("launcher", "pls up", pid=child.pid))
        assert (gone.error, gone.rss_bytes) == ("not running", None)


def test_cpu_is_the_share_of_a_core_between_two_samples() -> None:
    hub = Endpoint("hub", "ministry hub", "http://hub/metrics")
    assert cpu_percent(Sample(hub, cpu_seconds=13.0), Sample(hub, cpu_seconds=12.0), 2.0) == 50.0
    assert cpu_percent(Sample(hub, cpu_seconds=13.0), None, 2.0) is None  # one sample only
    nats = Endpoint("nats-server", "bus", "http://nats/varz")
    assert cpu_percent(Sample(nats, cpu_percent=7.5), None, 0.0) == 7.5  # as nats-server says


def test_the_report_gives_the_delay_the_problem_provinces_and_the_totals() -> None:
    hub = Endpoint("hub", "ministry hub", "http://hub/metrics")
    node = Endpoint("nodes-1", "2 province nodes", "http://node/metrics")
    gone = Endpoint("complaints", "complaints supervision", "http://complaints/metrics")
    delay = {
        "window_seconds": 60.0,
        "events": 44258,
        "p50_seconds": 0.379,
        "p90_seconds": 0.7,
        "p99_seconds": 0.943,
        "max_seconds": 1.2,
    }
    freshness = {
        "delay": delay,
        "complete": 1,
        "behind": 1,
        "silent": 0,
        "diverged": 0,
        "rows": [
            {"province": "110000", "name": "北京市", "status": "complete", "reason": "ok"},
            {
                "province": "440000",
                "name": "广东省",
                "status": "behind",
                "reason": "holding 3 events behind a gap at sequence 77",
            },
        ],
    }
    before = Snapshot(
        10.0, [Sample(hub, 100 * 2**20, 5.0), Sample(node, 300 * 2**20, 20.0)], freshness
    )
    now = Snapshot(
        12.0,
        [
            Sample(hub, 105 * 2**20, 5.5),
            Sample(node, 310 * 2**20, 22.0),
            Sample(gone, error="connection refused"),
        ],
        freshness,
    )
    console = Console(width=160, record=True)
    console.print(render(now, before))
    text = console.export_text()
    assert "National view: 2 provinces, 1 complete, 1 behind, 0 silent, 0 diverged" in text
    assert "Last 60 s: 44,258 events; delay p50 0.38 s, p90 0.70 s, p99 0.94 s" in text
    assert "440000 广东省 behind: holding 3 events behind a gap at sequence 77" in text
    assert "110000 北京市" not in text  # complete provinces are not listed
    lines = {line.split()[0]: line.split() for line in text.splitlines() if line.strip()}
    assert lines["hub"][-2:] == ["105", "25.0"]
    assert lines["nodes-1"][-2:] == ["310", "100.0"]
    assert "unreachable: connection refused" in text
    assert lines["all"][-2:] == ["415", "125.0"]


def test_without_an_answer_from_the_hub_the_report_says_so() -> None:
    console = Console(width=120, record=True)
    console.print(render(Snapshot(1.0, [], None, "connection refused")))
    assert "National view: the hub did not answer (connection refused)" in console.export_text()


def test_the_simulators_shortfall_against_the_rate_asked_is_shown(tmp_path: Path) -> None:
    federation = manifest()
    federation.data["var_dir"] = str(tmp_path)
    assert simulator_report(federation) is None  # `pls up --no-simulate`
    report = {
        "pid": 4321,
        "at": 1.0,
        "cases_per_second_asked": 300.0,
        "requests_in_flight_limit": 32,
        "last_minute": {"seconds": 60.0, "cases_opened": 3480, "arrivals_dropped": 14520},
        "stats": {"cases_opened": 9000, "http_201": 40000, "http_409": 3, "network_errors": 2},
    }
    federation.simulator_report().write_text(json.dumps({**report, "pid": 1}))
    assert simulator_report(federation) is None  # left by an earlier `pls up`
    federation.simulator_report().write_text(json.dumps(report))
    found = simulator_report(federation)
    assert found == report

    console = Console(width=200, record=True)
    console.print(render(Snapshot(1.0, [], None, "connection refused", found)))
    text = console.export_text()
    assert "Simulator: 300 cases/s asked; last 60 s: 58.0/s opened, 242.0/s dropped" in text
    assert "(dropped: all 32 requests in flight busy; 5 requests failed or refused so far)" in text
    assert all(
        len(line) <= 80 for line in text.splitlines() if "Simulator" in line or "(dr" in line
    )

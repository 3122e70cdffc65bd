"""`pls status`: how a running local federation is doing, read from what its services publish.

From federation.json it finds the services; it asks the hub's `/v1/national/freshness` (with the
ministry staff token `pls up` wrote) for each province's state and for the delay of the last
minute's events, each service's `/metrics` for its process's resident memory and CPU time,
nats-server's monitoring `/varz` for the same, and /proc for the process that started the
federation (`pls up`, with its traffic simulator). Nodes that share a process are shown once, as
that process. Nothing is changed anywhere.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client import ProcessCollector
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from contracts.subjects import PROVINCES
from pls.manifest import Manifest

RSS = "process_resident_memory_bytes"
CPU = "process_cpu_seconds_total"


@dataclass(frozen=True)
class Endpoint:
    name: str  # the process: "hub", "nodes-1", "node-440000", "nats-server"
    serves: str  # what runs in it
    url: str | None = None  # where its figures are read: /metrics, or nats-server's /varz
    pid: int | None = None  # else: a process on this machine that serves neither, read in /proc


@dataclass(frozen=True)
class Sample:
    endpoint: Endpoint
    rss_bytes: float | None = None
    cpu_seconds: float | None = None  # since the process started (Python services)
    cpu_percent: float | None = None  # as nats-server reports it
    error: str | None = None


@dataclass(frozen=True)
class Snapshot:
    at: float  # time.monotonic()
    samples: list[Sample]
    freshness: dict[str, Any] | None
    freshness_error: str | None = None
    simulator: dict[str, Any] | None = None  # the report of `pls up`'s traffic simulator


def endpoints(manifest: Manifest) -> list[Endpoint]:
    """Every process of the federation, once: nodes grouped by the process that serves them."""
    data = manifest.data
    found = [Endpoint("nats-server", "the bus (JetStream)", f"{data['nats']['monitor']}/varz")]
    for key, serves in (
        ("hub", "ministry hub"),
        ("directory", "national directory"),
        ("complaints", "complaints supervision"),
    ):
        if key in data:
            found.append(Endpoint(key, serves, f"{data[key]['url']}/metrics"))
    launcher = data.get("launcher")
    if launcher:
        found.append(Endpoint("launcher", launcher.get("command") or "pls up", pid=launcher["pid"]))
    processes: dict[str, list[str]] = defaultdict(list)
    for code, entry in data["provinces"].items():
        processes[entry.get("process") or f"node-{code}"].append(code)
    for name, codes in processes.items():
        url = data["provinces"][codes[0]]["url"]
        serves = (
            f"province node {codes[0]} {PROVINCES.get(codes[0], '')}".rstrip()
            if len(codes) == 1
            else f"{len(codes)} province nodes"
        )
        found.append(Endpoint(name, serves, f"{url}/metrics"))
    for code, entry in data["provinces"].items():
        if entry.get("relay"):
            found.append(Endpoint(f"relay-{code}", f"relay of {code}", f"{entry['relay']}/metrics"))
    return found


def sample(client: httpx.Client, endpoint: Endpoint) -> Sample:
    pid = endpoint.pid
    if pid is not None:
        values = _values(ProcessCollector(pid=lambda: pid, registry=None).collect())
        if RSS not in values:
            return Sample(endpoint, error="not running")
        return Sample(endpoint, rss_bytes=values[RSS], cpu_seconds=values.get(CPU))
    assert endpoint.url is not None
    try:
        response = client.get(endpoint.url)
        response.raise_for_status()
    except httpx.HTTPError as error:
        return Sample(endpoint, error=str(error) or type(error).__name__)
    if endpoint.url.endswith("/varz"):
        varz = response.json()
        return Sample(endpoint, rss_bytes=varz.get("mem"), cpu_percent=varz.get("cpu"))
    # Only the process's own lines: a node process's other series run to thousands of lines.
    own = "\n".join(line for line in response.text.splitlines() if line.startswith("process_"))
    values = _values(text_string_to_metric_families(own + "\n"))
    return Sample(endpoint, rss_bytes=values.get(RSS), cpu_seconds=values.get(CPU))


def _values(families: Iterable[Metric]) -> dict[str, float]:
    return {item.name: item.value for family in families for item in family.samples}


def simulator_report(manifest: Manifest) -> dict[str, Any] | None:
    """What the traffic simulator of this federation's `pls up` last wrote about itself; None
    without one (or when the report is of an earlier run)."""
    try:
        report: dict[str, Any] = json.loads(manifest.simulator_report().read_text())
    except (OSError, ValueError):
        return None
    launcher = manifest.data.get("launcher") or {}
    return report if report.get("pid") == launcher.get("pid") else None


def snapshot(client: httpx.Client, manifest: Manifest) -> Snapshot:
    samples = [sample(client, endpoint) for endpoint in endpoints(manifest)]
    simulator = simulator_report(manifest)
    token = manifest.token("staff")
    try:
        response = client.get(
            f"{manifest.data['hub']['url']}/v1/national/freshness",
            headers={"Authorization": f"Bearer {token}"} if token else None,
        )
        response.raise_for_status()
    except httpx.HTTPError as error:
        error_text = str(error) or type(error).__name__
        return Snapshot(time.monotonic(), samples, None, error_text, simulator)
    return Snapshot(time.monotonic(), samples, response.json(), simulator=simulator)


def cpu_percent(now: Sample, before: Sample | None, seconds: float) -> float | None:
    """A process's CPU over the interval, in % of one core."""
    if now.cpu_percent is not None:
        return now.cpu_percent
    if before is None or now.cpu_seconds is None or before.cpu_seconds is None or seconds <= 0:
        return None
    return max(0.0, 100 * (now.cpu_seconds - before.cpu_seconds) / seconds)


def _seconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f} s"


def _simulator_lines(report: dict[str, Any]) -> list[Text]:
    """What the simulator was asked for beside what it opened: the nodes answering more slowly
    than the rate asked keeps its requests in flight at their limit, and the rest is dropped."""
    minute, stats = report["last_minute"], report["stats"]
    seconds = minute["seconds"]
    asked = f"Simulator: {report['cases_per_second_asked']:g} cases/s asked"
    if seconds <= 0:
        return [Text(asked)]
    failed = stats.get("network_errors", 0) + sum(
        n for key, n in stats.items() if key.startswith("http_") and int(key[5:]) >= 400
    )
    dropped = minute["arrivals_dropped"]
    because = (
        f"dropped: all {report['requests_in_flight_limit']} requests in flight busy; "
        if dropped
        else ""
    )
    return [
        Text(
            f"{asked}; last {seconds:.0f} s: {minute['cases_opened'] / seconds:.1f}/s opened, "
            f"{dropped / seconds:.1f}/s dropped"
        ),
        Text(f"  ({because}{failed:,} requests failed or refused so far)"),
    ]


def render(now: Snapshot, before: Snapshot | None = None) -> Group:
    """The national view's state and delay, then each process's memory and CPU."""
    parts: list[Table | Text] = []
    fresh = now.freshness
    if fresh is None:
        parts.append(Text(f"National view: the hub did not answer ({now.freshness_error})"))
    else:
        delay = fresh["delay"]
        parts.append(
            Text(
                f"National view: {len(fresh['rows'])} provinces, {fresh['complete']} complete, "
                f"{fresh['behind']} behind, {fresh['silent']} silent, "
                f"{fresh['diverged']} diverged"
            )
        )
        parts.append(
            Text(
                f"Last {delay['window_seconds']:g} s: {delay['events']:,} events; "
                f"delay p50 {_seconds(delay['p50_seconds'])}, "
                f"p90 {_seconds(delay['p90_seconds'])}, p99 {_seconds(delay['p99_seconds'])}, "
                f"max {_seconds(delay['max_seconds'])}"
            )
        )
        for row in [r for r in fresh["rows"] if r["status"] in ("behind", "diverged")][:8]:
            parts.append(
                Text(f"  {row['province']} {row['name']} {row['status']}: {row['reason']}")
            )
    if now.simulator is not None:
        parts.extend(_simulator_lines(now.simulator))
    table = Table(box=box.SIMPLE_HEAD)
    for column, justify in (
        ("process", "left"),
        ("serves", "left"),
        ("resident MB", "right"),
        ("CPU % of a core", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    previous = {s.endpoint.name: s for s in before.samples} if before else {}
    seconds = now.at - before.at if before else 0.0
    total_rss = 0.0
    total_cpu = 0.0
    for item in now.samples:
        if item.error is not None:
            table.add_row(
                item.endpoint.name, item.endpoint.serves, "–", f"unreachable: {item.error}"
            )
            continue
        cpu = cpu_percent(item, previous.get(item.endpoint.name), seconds)
        total_rss += item.rss_bytes or 0.0
        total_cpu += cpu or 0.0
        table.add_row(
            item.endpoint.name,
            item.endpoint.serves,
            f"{(item.rss_bytes or 0) / 2**20:,.0f}",
            "–" if cpu is None else f"{cpu:.1f}",
        )
    table.add_row("all", "", f"{total_rss / 2**20:,.0f}", f"{total_cpu:.1f}" if before else "–")
    parts.append(table)
    return Group(*parts)

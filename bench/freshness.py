"""Freshness benchmark: a command accepted at a province node to its event in the national view.

    python -m bench.freshness            # make bench: 60 s at 1,000 commands/s over 32 provinces
    python -m bench.freshness --quick    # make bench-quick: 4 provinces, 125/s, 6 s

The federation runs as `pls up --provinces all` runs it (without the traffic simulator): a
nats-server, 32 province nodes (each with its relay) sharing a process a core
(`--node-processes 32`: each in its own), the hub, the directory and complaints supervision.
Load processes offer commands at a fixed rate (open loop: a command is sent when it is due,
whether or not earlier ones were answered) spread evenly over
the 32 provinces: 70 % open a case, 30 % accept a case the same process opened earlier. Each
province gets an equal share of `--max-in-flight` keep-alive connections with one command in
flight on each (bench/keepalive.py, a client lean enough not to take the CPU the nodes need); a
command due while all of its province's connections are busy is counted as not sent.

The CPU of every process of the federation is read from /proc while it sits idle after the
warm-up (nothing offered, nothing polled) and under the load.

Freshness is measured two ways:
- by the hub: `pls_hub_event_freshness_seconds` on its /metrics, the time from an event's `time`
  (stamped when the node stored it, just before its 201) to its batch being committed to the
  national read model; the quantiles come from the histogram's buckets, read before and after;
- from outside: the bench polls the hub's `/v1/national/freshness` (each province's last applied
  event time) and takes, for every answered command, the first poll showing it applied, minus the
  moment its 201 arrived (so it includes up to one poll interval).

Where the time goes: after the load, the bench reads back every event the load published from the
province streams and takes the time JetStream stored it minus the event's `time`, the provinces'
part of the delay (journal writer, relay, stream); the rest of the hub's figure is the hub's part.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import re
import resource
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvloop
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from bench.common import Figure, free_port, peak_rss_mb, percentiles, report
from bench.keepalive import Client, HTTPError
from contracts.subjects import PROVINCES, origin_subjects, stream_name
from pls import bus
from pls.federation import Federation, default_node_processes
from pls.publication.relay import event_time
from pls.trust.local import OPERATOR

METRIC = "pls_hub_event_freshness_seconds"
HELD = "pls_node_command_held_seconds"  # commands waiting for their node's publication backlog
OPEN_SHARE = 0.7
KEEPALIVE = 4.0  # below uvicorn's 5 s, so the client never reuses a connection the server closes


def county_of(province: str) -> str:
    """A county-level code in `province`."""
    from pls import divisions

    return divisions.counties_of(province)[0]


@dataclass
class Answered:
    province: str
    kind: str
    status: int
    sent: float  # wall clock
    answered: float  # wall clock
    event_time: str | None  # the case's modified_on: its event's `time`


@dataclass
class Offered:
    answered: list[Answered] = field(default_factory=list)
    sent: int = 0
    not_sent: int = 0  # due while all of its province's connections had a command in flight
    errors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    cpu_seconds: float = 0.0


def _offer(job: dict[str, Any]) -> Offered:
    """One load process: its share of the rate, over its provinces, open loop."""

    async def run() -> Offered:
        offered = Offered()
        rng = random.Random(job["seed"])
        provinces: list[str] = job["provinces"]
        opened: dict[str, list[str]] = {p: [] for p in provinces}
        counties = job["counties"]
        clients = {
            p: Client(
                job["urls"][p],
                connections=job["connections"],
                headers={"Authorization": f"Bearer {job['tokens'][p]}"},
                idle=KEEPALIVE,
            )
            for p in provinces
        }
        in_flight = dict.fromkeys(provinces, 0)
        before = resource.getrusage(resource.RUSAGE_SELF)

        async def one(province: str) -> None:
            try:
                await exchange(province)
            finally:
                in_flight[province] -= 1

        async def exchange(province: str) -> None:
            headers = {"Idempotency-Key": uuid.uuid4().hex}
            if opened[province] and rng.random() >= OPEN_SHARE:
                kind = "accept"
                path = f"/v1/cases/{opened[province].pop()}/accept"
                request = clients[province].request("POST", path, headers=headers)
            else:
                kind = "open"
                body = {
                    "service_type": "consultation",
                    "channel": rng.choice(["hotline_12348", "web", "wechat"]),
                    "county": counties[province],
                    "applicant": {"name": "王" + rng.choice("伟芳娜敏静"), "phone": "13800138000"},
                }
                request = clients[province].post_json("/v1/cases", body, headers)
            sent = time.time()
            try:
                response = await request
            except (HTTPError, OSError) as error:
                name = type(error).__name__
                offered.errors[name] = offered.errors.get(name, 0) + 1
                return
            answered = time.time()
            event_time = None
            if response.status in (200, 201):
                case = response.json()
                event_time = case["modified_on"]
                if kind == "open":
                    opened[province].append(case["id"])
            else:
                name = f"{kind} {response.status}"
                offered.errors[name] = offered.errors.get(name, 0) + 1
            offered.answered.append(
                Answered(province, kind, response.status, sent, answered, event_time)
            )

        interval = 1.0 / job["rate"]
        start = time.perf_counter()
        end = start + job["seconds"]
        due = start
        turn = 0
        tasks: set[asyncio.Task[None]] = set()
        while due < end:
            now = time.perf_counter()
            while due <= now and due < end:
                province = provinces[turn % len(provinces)]
                turn += 1
                due += interval
                if in_flight[province] >= job["connections"]:
                    offered.not_sent += 1
                    continue
                in_flight[province] += 1
                offered.sent += 1
                task = asyncio.create_task(one(province))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
        offered.seconds = time.perf_counter() - start
        await asyncio.gather(*tasks)
        for client in clients.values():
            await client.close()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        offered.cpu_seconds = usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime
        return offered

    # The nodes' own event loop: it costs the client about a third less per request than asyncio's.
    return uvloop.run(run())


def offer(
    federation: Federation,
    provinces: list[str],
    *,
    rate: float,
    seconds: float,
    processes: int,
    max_in_flight: int,
) -> Offered:
    counties = {p: county_of(p) for p in provinces}
    jobs = []
    processes = min(processes, len(provinces))  # each load generator has provinces of its own
    for i in range(processes):
        mine = provinces[i::processes]
        jobs.append(
            {
                "provinces": mine,
                "urls": {p: federation.node_url(p) for p in mine},
                "tokens": {p: federation.token(f"operator-{p}") for p in mine},
                "counties": counties,
                "rate": rate * len(mine) / len(provinces),
                "seconds": seconds,
                "connections": max(1, max_in_flight // len(provinces)),
                "seed": i + 1,
            }
        )
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        parts = pool.map(_offer, jobs)
    merged = Offered(seconds=max(p.seconds for p in parts))
    for part in parts:
        merged.answered += part.answered
        merged.sent += part.sent
        merged.not_sent += part.not_sent
        merged.cpu_seconds += part.cpu_seconds
        for name, count in part.errors.items():
            merged.errors[name] = merged.errors.get(name, 0) + count
    return merged


class HubWatch:
    """Polls the hub's per-province freshness view: (moment, {province: last event time})."""

    def __init__(self, url: str, token: str, interval: float) -> None:
        self.url = url
        self.token = token
        self.interval = interval
        self.polls: list[tuple[float, dict[str, datetime]]] = []
        self.delay: dict[str, Any] = {}  # the hub's own summary of the last minute's delays
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hub-watch", daemon=True)

    def __enter__(self) -> HubWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(headers=headers, timeout=30) as http:
            while not self._stop.is_set():
                try:
                    freshness = http.get(f"{self.url}/v1/national/freshness").json()
                    rows, self.delay = freshness["rows"], freshness["delay"]
                except (httpx.HTTPError, ValueError, KeyError):
                    self._stop.wait(self.interval)
                    continue
                moment = time.time()
                self.polls.append(
                    (
                        moment,
                        {
                            r["province"]: datetime.fromisoformat(r["last_event_time"])
                            for r in rows
                            if r.get("last_event_time")
                        },
                    )
                )
                self._stop.wait(self.interval)

    def caught_up(self, latest: dict[str, datetime]) -> bool:
        if not self.polls:
            return False
        seen = self.polls[-1][1]
        return all(p in seen and seen[p] >= t for p, t in latest.items())

    def seen_after(self, answered: list[Answered]) -> list[float]:
        """For each answered command, the first poll showing its event minus its 201's moment."""
        delays = []
        for item in answered:
            if item.event_time is None:
                continue
            moment = datetime.fromisoformat(item.event_time)
            for polled, seen in self.polls:
                if polled < item.answered:
                    continue
                last = seen.get(item.province)
                if last is not None and last >= moment:
                    delays.append(polled - item.answered)
                    break
        return delays


def scrape(url: str, metric: str = METRIC, **labels: str) -> dict[float, float]:
    """A histogram on a service's /metrics (the hub's freshness by default): cumulative count
    per bucket upper bound, of the series with these labels."""
    text = httpx.get(f"{url}/metrics", timeout=30).text
    buckets: dict[float, float] = {}
    for match in re.finditer(rf"^{metric}_bucket{{([^}}]*)}} (\S+)$", text, re.MULTILINE):
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
        if all(found.get(k) == v for k, v in labels.items()):
            bound = float(found["le"])
            buckets[bound] = buckets.get(bound, 0.0) + float(match.group(2))
    return buckets


def scrape_nodes(federation: Federation, provinces: list[str]) -> dict[float, float]:
    """How long commands waited for their node's publication backlog, all nodes added up."""
    total: dict[float, float] = {}
    for province in provinces:
        url = federation.node_url(province)
        for bound, count in scrape(url, HELD, province=province).items():
            total[bound] = total.get(bound, 0.0) + count
    return total


def histogram_quantile(q: float, before: dict[float, float], after: dict[float, float]) -> float:
    """Prometheus-style quantile (linear within a bucket) of the observations between scrapes."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1] if counts else 0.0
    if total <= 0:
        return float("nan")
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, cumulative in zip(bounds, counts, strict=True):
        if cumulative >= rank:
            if bound == float("inf"):
                return lower
            inside = cumulative - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, cumulative
    return lower


def cpu_times(federation: Federation) -> dict[str, float]:
    """CPU seconds used so far by each process of the federation (user and system)."""
    assert federation.nats is not None and federation.nats.process is not None
    pids = {c.name: c.process.pid for c in federation.children}
    pids["nats-server"] = federation.nats.process.pid
    tick = os.sysconf("SC_CLK_TCK")
    times = {}
    for name, pid in pids.items():
        # stat(5): utime and stime are fields 14 and 15; split after the command's ")".
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        times[name] = (int(fields[11]) + int(fields[12])) / tick
    return times


def spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before.get(name, 0.0) for name in after}


def share(cpu: dict[str, float], seconds: float) -> dict[str, float]:
    """Percent of a core taken by the nodes together and by each other process."""
    nodes = sum(v for k, v in cpu.items() if k.startswith("node"))
    others = {f"{k} %": 100 * v / seconds for k, v in cpu.items() if not k.startswith("node")}
    return {"nodes %": 100 * nodes / seconds, **others}


def start_federation(
    directory: Path, provinces: list[str], timeout: float, node_processes: int | None = None
) -> Federation:
    """What `pls up --provinces all --no-simulate` starts, on free ports, waiting longer: with a
    process a node, 35 Python processes take a while to start on a small machine."""
    ports: list[int] = []
    while len(ports) < len(provinces) + 5:  # free_port alone may give the same port twice
        port = free_port()
        if port not in ports:
            ports.append(port)
    federation = Federation(
        var_dir=directory,
        provinces=provinces,
        nats_port=ports[0],
        nats_monitor_port=ports[1],
        hub_port=ports[2],
        complaints_port=ports[3],
        directory_port=ports[4],
        node_ports=dict(zip(provinces, ports[5:], strict=True)),
        node_processes=node_processes,
    )
    try:
        federation.start(timeout)
    except BaseException:
        federation.stop()
        raise
    return federation


async def _in_stream_delays(
    federation: Federation, provinces: list[str], since: datetime
) -> list[float]:
    """For every event stored in the province streams since `since`: the time JetStream stored
    it minus the event's `time` (read with an ephemeral consumer that acknowledges nothing)."""
    client = await bus.connect(
        federation.nats_url,
        name="bench-freshness",
        creds=federation.trust.creds(OPERATOR),
        member_id=OPERATOR,
    )
    js = client.jetstream(timeout=30)
    delays: list[float] = []
    try:
        for province in provinces:
            reader = await js.pull_subscribe(
                origin_subjects(province),
                stream=stream_name(province),
                config=ConsumerConfig(
                    ack_policy=AckPolicy.NONE,
                    deliver_policy=DeliverPolicy.BY_START_TIME,
                    opt_start_time=since,
                    inactive_threshold=30.0,
                ),
            )
            while True:
                try:
                    messages = await reader.fetch(1000, timeout=1.0)
                except TimeoutError:
                    break
                for message in messages:
                    moment = event_time(message.data)
                    if moment is not None:
                        delays.append(message.metadata.timestamp.timestamp() - moment)
            await reader.unsubscribe()
    finally:
        await client.close()
    return delays


def in_stream_delays(federation: Federation, provinces: list[str], since: datetime) -> list[float]:
    return asyncio.run(_in_stream_delays(federation, provinces, since))


def warm_up(federation: Federation, provinces: list[str], watch: HubWatch) -> None:
    """One case at each node, seen by the hub, before anything is measured (first requests load
    the gazetteer, first events open the hub's consumers)."""
    latest = {}
    with httpx.Client(timeout=120) as http:
        for province in provinces:
            response = http.post(
                f"{federation.node_url(province)}/v1/cases",
                json={
                    "service_type": "consultation",
                    "channel": "web",
                    "county": county_of(province),
                    "applicant": {"name": "预热"},
                },
                headers={"Authorization": f"Bearer {federation.token(f'operator-{province}')}"},
            )
            response.raise_for_status()
            latest[province] = datetime.fromisoformat(response.json()["modified_on"])
    deadline = time.monotonic() + 120
    while not watch.caught_up(latest) and time.monotonic() < deadline:
        time.sleep(0.2)


def main(args: argparse.Namespace) -> list[Figure]:
    provinces = list(PROVINCES)[: args.provinces]
    directory = Path(tempfile.mkdtemp(prefix="pls-bench-freshness-"))
    started = time.perf_counter()
    federation = start_federation(
        directory,
        provinces,
        args.start_timeout,
        args.node_processes or default_node_processes(len(provinces)),
    )
    print(f"federation of {len(provinces)} provinces up in {time.perf_counter() - started:.0f} s")
    try:
        hub = federation.hub_url
        with HubWatch(hub, federation.token("staff"), args.poll) as watch:
            warm_up(federation, provinces, watch)
        # Idle: nothing offered and nothing polled, as an operator's `pls up` sits between uses.
        idle_before = cpu_times(federation)
        time.sleep(args.idle)
        idle = spent(idle_before, cpu_times(federation))
        before, held_before = scrape(hub), scrape_nodes(federation, provinces)
        load_since = datetime.now(UTC)
        with HubWatch(hub, federation.token("staff"), args.poll) as watch:
            load_before, load_started = cpu_times(federation), time.perf_counter()
            offered = offer(
                federation,
                provinces,
                rate=args.rate,
                seconds=args.seconds,
                processes=args.processes,
                max_in_flight=args.max_in_flight,
            )
            latest: dict[str, datetime] = {}
            for item in offered.answered:
                if item.event_time is not None:
                    moment = datetime.fromisoformat(item.event_time)
                    latest[item.province] = max(latest.get(item.province, moment), moment)
            drained_at = time.perf_counter()
            while not watch.caught_up(latest) and time.perf_counter() - drained_at < 300:
                time.sleep(0.2)
            drain = time.perf_counter() - drained_at
            last_minute = watch.delay
            load = spent(load_before, cpu_times(federation))
            load_seconds = time.perf_counter() - load_started
        after, held_after = scrape(hub), scrape_nodes(federation, provinces)
        in_stream = percentiles(in_stream_delays(federation, provinces, load_since) or [0.0])
        rss = {c.name: peak_rss_mb(c.process.pid) for c in federation.children}
        assert federation.nats is not None and federation.nats.process is not None
        rss["nats-server"] = peak_rss_mb(federation.nats.process.pid)
    finally:
        federation.stop()
        shutil.rmtree(directory, ignore_errors=True)

    stored = [a for a in offered.answered if a.status in (200, 201)]
    achieved = len(stored) / offered.seconds
    latency = percentiles([a.answered - a.sent for a in stored] or [0.0])
    direct = percentiles(watch.seen_after(stored) or [float("nan")])
    hub_p50 = histogram_quantile(0.5, before, after) * 1000
    hub_p99 = histogram_quantile(0.99, before, after) * 1000
    observed = after.get(float("inf"), 0.0) - before.get(float("inf"), 0.0)
    held = held_after.get(float("inf"), 0.0) - held_before.get(float("inf"), 0.0)
    held_p99 = histogram_quantile(0.99, held_before, held_after) * 1000 if held else 0.0
    nodes = [v for k, v in rss.items() if k.startswith("node")]
    extra_common = {"provinces": len(provinces), "seconds": round(offered.seconds, 1)}
    if offered.errors:
        print(f"failed or refused: {offered.errors}", flush=True)
    for name, cpu in [("idle", idle), ("under load", load)]:
        top = ", ".join(f"{k} {v:.2f} s" for k, v in sorted(cpu.items(), key=lambda i: -i[1])[:5])
        print(f"federation CPU {name}, most: {top}", flush=True)
    print(
        f"after the load the hub caught up in {drain:.1f} s; hub observed {observed:,.0f} events",
        flush=True,
    )
    return [
        Figure(
            "commands stored at the nodes",
            achieved,
            "commands/s",
            args.rate,
            "offered",
            "1.0 (1,000/s offered)",
            {
                **extra_common,
                "not sent (cap in flight)": offered.not_sent,
                "failed": offered.sent - len(stored),
                "201 p50 ms": latency["p50"],
                "201 p99 ms": latency["p99"],
                "held for the backlog": int(held),
                "held p99 ms": held_p99,
                "load generator CPU s": offered.cpu_seconds,
                "load generator CPU ms per command": 1000 * offered.cpu_seconds / offered.sent,
            },
        ),
        Figure(
            "federation CPU under load (offered → caught up)",
            100 * sum(load.values()) / load_seconds,
            "% of a core",
            extra={
                "seconds": round(load_seconds, 1),
                "CPU ms per command stored": 1000 * sum(load.values()) / max(1, len(stored)),
                **share(load, load_seconds),
            },
        ),
        Figure(
            f"federation CPU idle ({args.idle:.0f} s, nothing offered or polled)",
            100 * sum(idle.values()) / args.idle,
            "% of a core",
            extra=share(idle, args.idle),
        ),
        Figure(
            "freshness, hub histogram (event time → applied)",
            hub_p99,
            "ms p99",
            target="p99 < 1,000 ms",
            extra={
                "p50 ms": hub_p50,
                "events": int(observed),
                # /v1/national/freshness: exact quantiles of the last minute's events
                "hub's last minute p50 ms": 1000 * (last_minute.get("p50_seconds") or 0.0),
                "its p99 ms": 1000 * (last_minute.get("p99_seconds") or 0.0),
                "its events": last_minute.get("events", 0),
            },
        ),
        Figure(
            "  of which at the provinces (event time → stored in the stream)",
            in_stream["p99"],
            "ms p99",
            extra={"p50 ms": in_stream["p50"], "events": in_stream["n"]},
        ),
        Figure(
            f"freshness, polled from outside (201 → visible, poll every {args.poll * 1000:.0f} ms)",
            direct["p99"],
            "ms p99",
            target="p99 < 1,000 ms",
            extra={"p50 ms": direct["p50"], "commands": direct["n"]},
        ),
        Figure(
            "peak RSS",
            max(nodes),
            "MB (largest node)",
            extra={
                "node mean MB": sum(nodes) / len(nodes),
                "hub MB": rss.get("hub", 0.0),
                "nats-server MB": rss["nats-server"],
                "directory MB": rss.get("directory", 0.0),
                "complaints MB": rss.get("complaints", 0.0),
            },
        ),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="4 provinces at 125/s for 6 s (the same rate each)"
    )
    parser.add_argument("--rate", type=float, default=1000.0, help="commands/s offered in all")
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--provinces", type=int, default=32, help="the first N provinces")
    parser.add_argument("--processes", type=int, default=2, help="load generator processes")
    parser.add_argument("--max-in-flight", type=int, default=512)
    parser.add_argument(
        "--node-processes",
        type=int,
        default=None,
        help="processes the nodes run in (as `pls up`: one a core, at least two)",
    )
    parser.add_argument("--poll", type=float, default=0.1, help="seconds between hub polls")
    parser.add_argument("--idle", type=float, default=None, help="seconds of idle CPU measured")
    parser.add_argument("--start-timeout", type=float, default=600.0)
    parser.add_argument("--json", type=Path)
    arguments = parser.parse_args()
    if arguments.quick and arguments.provinces == 32 and arguments.rate == 1000.0:
        arguments.provinces, arguments.rate = 4, 125.0
    if arguments.seconds is None:
        arguments.seconds = 6.0 if arguments.quick else 60.0
    if arguments.idle is None:
        arguments.idle = 3.0 if arguments.quick else 30.0
    report(main(arguments), arguments.json)

"""Province node benchmark: commands over HTTP from 64 concurrent clients, beside a trivial route.

    python bench/node.py            # make bench: 45 s of commands, 15 s of the trivial route
    python bench/node.py --quick    # make bench-quick: 4 s and 3 s

A real `pls node` process (uvicorn, its relay publishing to a private nats-server, the
federation's trust) is started as `pls up` starts it. Load comes from other processes (the lean
keep-alive client of bench/keepalive.py, as the freshness bench uses, with an operator's bearer
token), 64 clients in all, each sending its next request as soon as the last is answered. The
mix is mostly opening cases (60 %), the rest moving cases opened earlier by the same client one
step on: accept, assign (to an agency with a mediator, registered before the run), start,
conclude, rate. Every command carries an Idempotency-Key, as the channels send it.

Baseline: the same clients against `/healthz` of the same process (same middleware: tracing,
metrics, body limit, security headers), so the ratio says what a command costs beyond HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import random
import resource
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.common import Bed, Figure, bed, free_port, peak_rss_mb, percentiles, report
from bench.keepalive import Client, HTTPError
from pls import bus
from pls.federation import Federation
from pls.trust.local import OPERATOR

PROVINCE = "440000"
COUNTIES = ["440106", "440104", "440303", "440605", "440112"]
STEPS = ["accept", "assign", "start", "conclude", "rating"]
OPEN_SHARE = 0.6


@dataclass
class Load:
    """What one load process measured."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    requests: int = 0  # all sent, the warm-up's too (CPU is measured over all of them)


def _case_body(rng: random.Random) -> dict[str, Any]:
    return {
        "service_type": "mediation",
        "channel": rng.choice(["hotline_12348", "web", "wechat", "app"]),
        "county": rng.choice(COUNTIES),
        "applicant": {
            "name": "张" + rng.choice("伟芳娜敏静丽强磊军洋"),
            "phone": f"138{rng.randrange(10**8):08d}",
        },
    }


def _step_body(step: str, agency: dict[str, str], rng: random.Random) -> dict[str, Any] | None:
    if step == "assign":
        return {"agency_id": agency["id"], "person_id": agency["person_id"]}
    if step == "conclude":
        return {"outcome": "agreement_reached"}
    if step == "rating":
        score = rng.randint(3, 5)
        return {"overall": score, "attitude": score, "efficiency": score, "competence": 5}
    return None


async def _client(
    http: Client,
    kind: str,
    agency: dict[str, str],
    warm_until: float,
    until: float,
    load: Load,
    seed: int,
) -> None:
    rng = random.Random(seed)
    cases: list[tuple[str, int]] = []  # (case id, next step) for cases this client opened
    while True:
        now = time.perf_counter()
        if now >= until:
            return
        if kind == "trivial":
            name, method, url, body = "healthz", "GET", "/healthz", None
        elif not cases or rng.random() < OPEN_SHARE:
            name, method, url, body = "open", "POST", "/v1/cases", _case_body(rng)
        else:
            index = rng.randrange(len(cases))
            case_id, step = cases[index]
            name = STEPS[step]
            method, url = "POST", f"/v1/cases/{case_id}/{name}"
            body = _step_body(name, agency, rng)
        started = time.perf_counter()
        try:
            if method == "POST":
                response = await http.post_json(
                    url, body or {}, headers={"Idempotency-Key": uuid.uuid4().hex}
                )
            else:
                response = await http.request(method, url)
        except HTTPError as error:
            key = f"{name} {type(error).__name__}"
            load.failures[key] = load.failures.get(key, 0) + 1
            continue
        elapsed = time.perf_counter() - started
        load.requests += 1
        ok = response.status in (200, 201)
        if started >= warm_until:
            if ok:
                load.latencies.setdefault(name, []).append(elapsed)
            else:
                load.failures[f"{name} {response.status}"] = (
                    load.failures.get(f"{name} {response.status}", 0) + 1
                )
        if not ok or kind == "trivial":
            continue
        if name == "open":
            cases.append((response.json()["id"], 0))
        else:
            case_id, step = cases[index]
            if step + 1 < len(STEPS):
                cases[index] = (case_id, step + 1)
            else:
                cases.pop(index)


def _run_load(job: dict[str, Any]) -> Load:
    """One load process: `clients` concurrent clients on their own keep-alive connections."""

    async def run() -> Load:
        load = Load()
        before = resource.getrusage(resource.RUSAGE_SELF)
        # The lean client of bench/keepalive.py, one keep-alive connection a client: httpx's
        # pool spends several times the CPU per request, which the node would not get.
        http = Client(
            job["url"],
            connections=job["clients"],
            headers={"Authorization": f"Bearer {job['token']}"},
        )
        start = time.perf_counter()
        warm_until = start + job["warmup"]
        until = warm_until + job["seconds"]
        try:
            await asyncio.gather(
                *(
                    _client(
                        http,
                        job["kind"],
                        job["agency"],
                        warm_until,
                        until,
                        load,
                        job["seed"] * 1000 + i,
                    )
                    for i in range(job["clients"])
                )
            )
        finally:
            await http.close()
        load.seconds = time.perf_counter() - warm_until
        usage = resource.getrusage(resource.RUSAGE_SELF)
        load.cpu_seconds = usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime
        return load

    return asyncio.run(run())


def drive(
    url: str,
    token: str,
    agency: dict[str, str],
    kind: str,
    *,
    clients: int,
    processes: int,
    seconds: float,
    warmup: float,
) -> Load:
    """Run the clients in `processes` processes of their own and merge what they measured."""
    jobs = [
        {
            "url": url,
            "token": token,
            "agency": agency,
            "kind": kind,
            "clients": clients // processes + (1 if i < clients % processes else 0),
            "seconds": seconds,
            "warmup": warmup,
            "seed": i + 1,
        }
        for i in range(processes)
    ]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        loads = pool.map(_run_load, jobs)
    merged = Load(seconds=max(load.seconds for load in loads))
    for load in loads:
        merged.cpu_seconds += load.cpu_seconds
        merged.requests += load.requests
        for name, samples in load.latencies.items():
            merged.latencies.setdefault(name, []).extend(samples)
        for name, count in load.failures.items():
            merged.failures[name] = merged.failures.get(name, 0) + count
    return merged


def cpu_seconds_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    import os

    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _create_stream(test_bed: Bed) -> None:
    client = await bus.connect(
        test_bed.nats.url, name="bench", creds=test_bed.trust.creds(OPERATOR), member_id=OPERATOR
    )
    try:
        await bus.ensure_stream(client.jetstream(), PROVINCE)
    finally:
        await client.close()


def register_agency(url: str, token: str) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    created = httpx.post(
        f"{url}/v1/agencies",
        json={
            "agency_type": "mediation_committee",
            "name": "天河区人民调解委员会",
            "county": COUNTIES[0],
            "address": "天河区人民路1号",
            "services": ["mediation"],
        },
        headers=headers,
        timeout=30,
    )
    created.raise_for_status()
    agency_id = created.json()["id"]
    person = httpx.post(
        f"{url}/v1/agencies/{agency_id}/personnel",
        json={"name": "李调解", "role": "mediator", "person_id": "mediator-1"},
        headers=headers,
        timeout=30,
    )
    person.raise_for_status()
    return {"id": agency_id, "person_id": person.json()["person_id"]}


def wait_relayed(url: str, token: str, timeout: float = 120.0) -> dict[str, Any]:
    """Until the relay has published everything the node stored (so the run leaves no backlog)."""
    deadline = time.monotonic() + timeout
    details: dict[str, Any] = {}
    while time.monotonic() < deadline:
        details = httpx.get(f"{url}/readyz", timeout=10).json()
        if details.get("projection_lag") == 0 and details.get("relay_lag") == 0:
            break
        time.sleep(0.5)
    return details


def profile(pid: int, path: Path, seconds: float) -> subprocess.Popen[bytes]:
    """py-spy sampling the node's thread holding the GIL (its Python CPU) while the commands run."""
    return subprocess.Popen(
        [
            str(Path(sys.executable).with_name("py-spy")),
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(int(seconds)),
            "--rate",
            "200",
            "--gil",
            "--nonblocking",  # sampling without stopping the node, which would slow it
            "--format",
            "raw",
            "--output",
            str(path),
        ],
        stdout=subprocess.DEVNULL,
    )


def summarise_profile(path: Path, top: int = 25) -> None:
    """The functions the node spent most samples in (inclusive), from py-spy's collapsed stacks."""
    inclusive: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        samples = int(count)
        if "select" in stack.rsplit(";", 1)[-1] or "wait" in stack.rsplit(";", 1)[-1]:
            continue  # idle threads
        total += samples
        for frame in set(stack.split(";")):
            inclusive[frame] = inclusive.get(frame, 0) + samples
    print(f"profile: {total} busy samples; inclusive share of the busiest frames:")
    for frame, samples in sorted(inclusive.items(), key=lambda x: -x[1])[:top]:
        print(f"  {samples / total:6.1%}  {frame}")


def node_metrics(url: str, *names: str) -> dict[str, float]:
    """Samples on the node's /metrics, every series of a name added up (0 for those it has
    not got)."""
    lines = httpx.get(f"{url}/metrics", timeout=30).text.splitlines()
    return {
        name: sum(float(x.split()[-1]) for x in lines if x.startswith((name + " ", name + "{")))
        for name in names
    }


def commands_per_commit(url: str) -> float:
    """Mean commands stored per event store transaction, from the node's metrics."""
    values = node_metrics(
        url, "pls_node_commands_per_commit_sum", "pls_node_commands_per_commit_count"
    )
    count = values["pls_node_commands_per_commit_count"]
    return values["pls_node_commands_per_commit_sum"] / count if count else 0.0


def main(args: argparse.Namespace) -> list[Figure]:
    with bed() as test_bed:
        asyncio.run(_create_stream(test_bed))
        port = free_port()
        federation = Federation(
            var_dir=test_bed.directory,
            provinces=[PROVINCE],
            nats_port=test_bed.nats.port,
            node_ports={PROVINCE: port},
        )
        (test_bed.directory / "logs").mkdir(exist_ok=True)
        federation.tokens()
        token = federation.token(f"operator-{PROVINCE}")
        node = federation.spawn_node(PROVINCE)
        try:
            federation.wait_ready()
            url = federation.node_url(PROVINCE)
            agency = register_agency(url, token)
            pid = node.process.pid
            common = {
                "clients": args.clients,
                "processes": args.processes,
                "warmup": args.warmup,
            }
            cpu = cpu_seconds_of(pid)
            profiler = (
                profile(pid, args.profile, args.warmup + args.seconds) if args.profile else None
            )
            commands = drive(url, token, agency, "commands", seconds=args.seconds, **common)
            if profiler is not None:
                profiler.wait()
            server_cpu_commands = cpu_seconds_of(pid) - cpu
            per_commit = commands_per_commit(url)
            # Commands that waited for publication to catch up (adapters/backlog.py).
            held = node_metrics(url, "pls_node_command_held_seconds_count")
            backlog = wait_relayed(url, token)
            cpu = cpu_seconds_of(pid)
            trivial = drive(url, token, agency, "trivial", seconds=args.trivial_seconds, **common)
            server_cpu_trivial = cpu_seconds_of(pid) - cpu
            rss = peak_rss_mb(pid)
        finally:
            federation.stop()
    shutil.rmtree(test_bed.directory, ignore_errors=True)

    all_commands = [s for samples in commands.latencies.values() for s in samples]
    healthz = trivial.latencies.get("healthz", [])
    command_rate = len(all_commands) / commands.seconds
    trivial_rate = len(healthz) / trivial.seconds
    spread = percentiles(all_commands)
    base = percentiles(healthz)
    mix = {name: len(samples) for name, samples in sorted(commands.latencies.items())}
    figures = [
        Figure(
            f"node commands over HTTP ({args.clients} clients)",
            command_rate,
            "commands/s",
            trivial_rate,
            "GET /healthz, same server and clients",
            "≥ 0.4",
            {
                "p50 ms": spread["p50"],
                "p99 ms": spread["p99"],
                "healthz p50 ms": base["p50"],
                "healthz p99 ms": base["p99"],
                "commands": len(all_commands),
                "failed": sum(commands.failures.values()),
            },
        ),
        Figure(
            "node CPU per command",
            server_cpu_commands / max(1, commands.requests) * 1000,
            "ms",
            server_cpu_trivial / max(1, trivial.requests) * 1000,
            "CPU per /healthz",
            extra={
                "load generator CPU per command ms": commands.cpu_seconds
                / max(1, commands.requests)
                * 1000,
                "load generator CPU per /healthz ms": trivial.cpu_seconds
                / max(1, trivial.requests)
                * 1000,
                # Of one core, while the commands ran: near 1.0, one interpreter is saturated.
                "node cores busy": server_cpu_commands / (args.warmup + args.seconds),
                "node peak RSS MB": rss,
                "commands per commit": per_commit,
                "commands held for publication": int(held["pls_node_command_held_seconds_count"]),
            },
        ),
    ]
    for name, samples in sorted(commands.latencies.items()):
        each = percentiles(samples)
        figures.append(
            Figure(
                f"  {name}",
                each["p50"],
                "ms p50",
                extra={"p99 ms": each["p99"], "count": len(samples)},
            )
        )
    if args.profile:
        summarise_profile(args.profile)
    if commands.failures:
        print(f"failed requests: {commands.failures}", flush=True)
    print(
        f"mix: {mix}; relay after the run: projection lag {backlog.get('projection_lag')}, "
        f"relay lag {backlog.get('relay_lag')}",
        flush=True,
    )
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="4 s of commands, 3 s trivial")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--processes", type=int, default=2, help="load generator processes")
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--trivial-seconds", type=float, default=None)
    parser.add_argument("--warmup", type=float, default=None)
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--profile", type=Path, help="sample the node with py-spy into this file (collapsed stacks)"
    )
    arguments = parser.parse_args()
    quick = arguments.quick
    if arguments.seconds is None:
        arguments.seconds = 4.0 if quick else 45.0
    if arguments.trivial_seconds is None:
        arguments.trivial_seconds = 3.0 if quick else 15.0
    if arguments.warmup is None:
        arguments.warmup = 2.0 if quick else 5.0
    report(main(arguments), arguments.json)

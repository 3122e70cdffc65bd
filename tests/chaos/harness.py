"""The fault-injection harness: a real federation of processes, exact traffic, and the figures.

`Traffic` drives the province nodes over HTTP from a thread of its own. Every command carries an
Idempotency-Key and is retried until a province acknowledges it, so each acknowledged command is
exactly one event in that province's journal: "accepted" is exact. After a fault, `settle` waits
until the hub's national figures equal each province's own (`/v1/statistics`) and the hub's
completeness view says every province is complete, and `figures` counts, per province, the events
in its journal against the events the hub applied: lost and counted twice.
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from pls.federation import Federation
from tests.conftest import free_port
from tests.support import FederationAuth, federation_on_free_ports

PROVINCES = {"440000": ("440106", "440304", "441900"), "510000": ("510104", "510107")}
SEPARATE_RELAY = "510000"  # its relay runs as a process of its own, so it can be killed alone
CHECKPOINT_TYPE = "cn.gov.moj.pls.checkpoint."


@dataclass(frozen=True)
class Profile:
    """How hard the suite pushes: `short` runs inside `make test`, `full` in `make chaos`."""

    name: str
    rate: float  # commands per second across the federation
    warm_up: float
    kills: int
    between_kills: tuple[float, float]
    nats_outage: float
    hub_pause: float
    settle_timeout: float

    @classmethod
    def chosen(cls) -> Profile:
        return FULL if os.environ.get("PLS_CHAOS", "short") == "full" else SHORT


SHORT = Profile("short", 16.0, 2.0, 3, (0.8, 2.0), 5.0, 8.0, 90.0)
FULL = Profile("full", 24.0, 5.0, 20, (1.0, 5.0), 60.0, 300.0, 600.0)


# -- traffic ----------------------------------------------------------------------------------


@dataclass
class Traffic:
    """Cases opened and moved on at `rate` commands per second, each command until acknowledged."""

    nodes: dict[str, str]
    rate: float
    seed: int = 2026
    auth: httpx.Auth | None = None
    acknowledged: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[float, str, str]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    _thread: threading.Thread | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _done: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Traffic:
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 180.0) -> None:
        """No new cases; every command already started is carried through to acknowledgement."""
        self._stop.set()
        if not self._done.wait(timeout):
            raise AssertionError(f"traffic did not finish within {timeout} s")

    def wait_flowing(self, timeout: float = 60.0) -> Traffic:
        """Until every province has acknowledged a few commands."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.acknowledged[p] >= 3 for p in self.nodes):
                return self
            time.sleep(0.1)
        raise AssertionError(f"traffic not flowing: {dict(self.acknowledged)} {self.failures[-3:]}")

    @property
    def accepted(self) -> int:
        return sum(self.acknowledged.values())

    def failures_between(self, start: float, end: float) -> int:
        return sum(1 for moment, _, _ in self.failures if start <= moment <= end)

    def _run(self) -> None:
        asyncio.run(self._main())
        self._done.set()

    async def _main(self) -> None:
        rng = random.Random(self.seed)
        running: set[asyncio.Task[None]] = set()
        async with httpx.AsyncClient(timeout=10.0, auth=self.auth) as client:
            n = 0
            while not self._stop.is_set():
                province = rng.choice(list(self.nodes))
                flow = rng.choices(["consultation", "mediation", "legal_aid"], [5, 3, 2])[0]
                task = asyncio.create_task(self._case(client, province, flow, n, rng.random()))
                running.add(task)
                task.add_done_callback(running.discard)
                n += 1
                # A case is two or three commands: pace cases so commands come at `rate`.
                await asyncio.sleep(rng.expovariate(self.rate / 2.5))
            if running:
                await asyncio.gather(*running)

    async def _case(
        self, client: httpx.AsyncClient, province: str, flow: str, n: int, luck: float
    ) -> None:
        url = self.nodes[province]
        county = PROVINCES[province][n % len(PROVINCES[province])]
        key = f"chaos-{self.seed}-{n}"
        service = {"consultation": "consultation", "mediation": "mediation"}.get(flow, "legal_aid")
        body = {
            "service_type": service,
            "channel": ("hotline_12348", "web", "wechat")[n % 3],
            "county": county,
            "applicant": {"name": "王五", "phone": "13700137000"},
        }
        case = await self.command(client, province, f"{url}/v1/cases", body, key)
        if case is None:
            return
        cases = f"{url}/v1/cases/{case['id']}"
        if flow == "consultation":
            done = await self.command(
                client, province, f"{cases}/conclude", {"outcome": "advice_given"}, f"{key}-c"
            )
            if done is not None and luck < 0.7:
                score = 1 + n % 5
                rating = {"overall": score, "attitude": 4, "efficiency": 3, "competence": 5}
                await self.command(client, province, f"{cases}/rating", rating, f"{key}-r")
        elif flow == "mediation":
            await self.command(client, province, f"{cases}/accept", {}, f"{key}-a")
        else:
            await self.command(
                client,
                province,
                f"{cases}/reject",
                {"reason": "not_eligible_financial"},
                f"{key}-j",
            )

    async def command(
        self, client: httpx.AsyncClient, province: str, url: str, body: dict[str, Any], key: str
    ) -> dict[str, Any] | None:
        backoff = 0.1
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            try:
                response = await client.post(url, json=body, headers={"Idempotency-Key": key})
            except httpx.HTTPError as error:
                self.failures.append((time.monotonic(), province, repr(error)))
            else:
                if response.status_code < 300:
                    self.acknowledged[province] += 1
                    return dict(orjson.loads(response.content))
                retry = response.status_code >= 500 or (
                    response.status_code == 409 and b"ConcurrentChange" in response.content
                )
                if not retry:
                    self.refused.append(f"{url}: {response.status_code} {response.text[:200]}")
                    return None
                self.failures.append((time.monotonic(), province, str(response.status_code)))
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 1.0)
        self.refused.append(f"{url}: never acknowledged")
        return None


# -- the federation -------------------------------------------------------------------------


def start_federation(var_dir: Path) -> Federation:
    provinces = list(PROVINCES)
    federation = federation_on_free_ports(
        var_dir,
        provinces,
        relay_ports={SEPARATE_RELAY: free_port()},
        separate_relays=[SEPARATE_RELAY],
        checkpoint_interval=2.0,
        silent_after=3600.0,
        reconcile_interval=1.0,
        environment={"PLS_LOG_LEVEL": "info", "PLS_HUB_GAP_TIMEOUT": "1.0"},
    )
    try:
        federation.start()
    except Exception:
        federation.stop()
        raise
    return federation


def restart(federation: Federation, name: str) -> None:
    federation.respawn(name)
    federation.wait_ready(timeout=60, names=[name])


def rss_mb(federation: Federation, name: str) -> float:
    pid = federation.child(name).process.pid
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# -- what converged means ---------------------------------------------------------------------


KEYS = ("total", "by_status", "by_service_type", "by_channel", "by_outcome")


def agrees(client: httpx.Client, federation: Federation) -> tuple[bool, str]:
    """The national figures equal each province's own, and every province is complete."""
    for province in federation.provinces:
        mine = client.get(f"{federation.node_url(province)}/v1/statistics").json()
        national = client.get(
            f"{federation.hub_url}/v1/national/summary", params={"province": province}
        ).json()
        cases = national["cases"]
        for key in KEYS:
            if cases[key] != mine[key]:
                return False, f"{province} {key}: national {cases[key]} != province {mine[key]}"
        satisfaction = national["satisfaction"] or {"rated": 0, "rating_sum": 0}
        if (satisfaction["rated"], satisfaction["rating_sum"]) != (
            mine["ratings"]["count"],
            mine["ratings"]["overall_sum"],
        ):
            return False, f"{province} ratings differ"
    rows = client.get(f"{federation.hub_url}/v1/national/freshness").json()["rows"]
    for row in rows:
        if row["status"] != "complete":
            return False, f"{row['province']} is {row['status']}: {row['reason']}"
        head = client.get(f"{federation.node_url(row['province'])}/v1/journal/head").json()
        if row["sequence"] != head["sequence"]:
            return False, f"{row['province']} at {row['sequence']} of {head['sequence']}"
    return True, "national figures equal the provinces' own; every province complete"


def settle(federation: Federation, timeout: float) -> float:
    """Seconds until the national view agrees with every province (fails after `timeout`)."""
    started = time.monotonic()
    last = "not checked"
    with httpx.Client(timeout=10, auth=FederationAuth(federation)) as client:
        while time.monotonic() - started < timeout:
            try:
                ok, last = agrees(client, federation)
            except (httpx.HTTPError, KeyError, ValueError) as error:
                ok, last = False, repr(error)
            if ok:
                return time.monotonic() - started
            time.sleep(0.25)
    raise AssertionError(f"not converged after {timeout} s: {last}")


def journal_events(client: httpx.Client, url: str) -> int:
    """Events in a province's journal, checkpoints aside (read page by page, as any consumer)."""
    count, after = 0, 0
    while True:
        page = orjson.loads(
            client.get(f"{url}/v1/journal", params={"after": after, "limit": 5000}).content
        )
        events = page["events"]
        if not events:
            return count
        count += sum(1 for e in events if not e["type"].startswith(CHECKPOINT_TYPE))
        after = page["next_after"]


@dataclass
class Figures:
    scenario: str
    accepted: int
    journal: int
    applied: int
    lost: int
    counted_twice: int
    converge_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        extra = "  ".join(f"{k}={v}" for k, v in self.extra.items())
        return (
            f"{self.scenario:<34} accepted={self.accepted:>6} applied={self.applied:>6} "
            f"lost={self.lost} counted_twice={self.counted_twice} "
            f"converge_s={self.converge_seconds:5.1f}  {extra}"
        ).rstrip()


def figures(
    scenario: str,
    federation: Federation,
    traffic: Traffic,
    converge_seconds: float,
    **extra: Any,
) -> Figures:
    """Per province: events in its journal against events the hub applied."""
    lost = twice = journal_total = applied_total = 0
    with httpx.Client(timeout=30, auth=FederationAuth(federation)) as client:
        rows = {
            row["province"]: row
            for row in client.get(f"{federation.hub_url}/v1/national/freshness").json()["rows"]
        }
        for province in federation.provinces:
            journal = journal_events(client, federation.node_url(province))
            applied = int(rows[province]["events_applied"])
            journal_total += journal
            applied_total += applied
            lost += max(0, journal - applied)
            twice += max(0, applied - journal)
    if traffic.refused:
        extra = {**extra, "refused": len(traffic.refused), "first_refused": traffic.refused[0]}
    return Figures(
        scenario,
        traffic.accepted,
        journal_total,
        applied_total,
        lost,
        twice,
        converge_seconds,
        extra,
    )

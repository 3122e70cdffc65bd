"""Simulated traffic: agencies registered, then cases arriving and moving through their lifecycles.

Arrivals are a Poisson process at `rate` cases per second across the federation, split between
the running provinces by population. Each case follows its service's lifecycle with delays drawn
from the calibration, compressed so that one simulated day takes `day_seconds` real seconds.
Applications with a statutory decision deadline are back-dated by their simulated decision time,
so the share of decisions made late is realistic from the first minute. A few concluded cases draw
a complaint (`complaints_per_10k`), handled through its steps with some handled late, and
dissatisfied ratings get a callback, a few of them late.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import os
import random
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import structlog

from pls import divisions
from pls.simulator import calibration as cal
from pls.simulator import people
from pls.tasks import cancel_and_wait

log = structlog.get_logger(__name__)
IDLE_KEEPALIVE = 3.0

AGENCY_FOR_SERVICE = {
    "legal_aid": "legal_aid_centre",
    "mediation": "mediation_committee",
    "lawyer": "law_firm",
    "notarization": "notary_office",
    "judicial_appraisal": "judicial_appraisal_institution",
    "arbitration": "arbitration_commission",
}
ON_THE_SPOT = {"consultation", "legal_publicity"}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")


def pick(rng: random.Random, weights: dict[Any, float]) -> Any:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


@dataclass
class Agency:
    id: str
    agency_type: str
    prefecture: str
    people: list[str] = field(default_factory=list)


@dataclass
class ProvinceState:
    province: str
    url: str
    counties: tuple[str, ...]
    token: str | None = None
    agencies: dict[str, list[Agency]] = field(default_factory=dict)

    def agency_for(
        self, rng: random.Random, agency_type: str, prefecture: str | None
    ) -> Agency | None:
        candidates = self.agencies.get(agency_type, [])
        local = [a for a in candidates if a.prefecture == prefecture]
        pool = local or candidates
        return rng.choice(pool) if pool else None


class Simulator:
    def __init__(
        self,
        nodes: dict[str, str],
        *,
        rate: float = 5.0,
        day_seconds: float = 5.0,
        seed: int | None = None,
        concurrency: int = 32,
        tokens: dict[str, str] | None = None,
        complaints_per_10k: float = cal.COMPLAINTS_PER_10K,
        report: Path | None = None,
    ) -> None:
        self.rng = random.Random(seed)
        self.complaint_probability = min(1.0, complaints_per_10k / 10_000)
        self.rate = rate
        self.day_seconds = day_seconds
        self.provinces = {
            code: ProvinceState(
                code, url.rstrip("/"), divisions.counties_of(code), (tokens or {}).get(code)
            )
            for code, url in nodes.items()
        }
        weights = {code: cal.POPULATION_MILLIONS[code] for code in self.provinces}
        self.province_weights = weights
        self.mix = cal.service_mix()
        self.concurrency = concurrency
        self.max_waiting = concurrency * 32  # steps under way or waiting for a request slot
        # A session (a connection pool) for each node, opened when the simulator runs: one pool
        # for all would look through every node's connections for each request.
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        self.semaphore = asyncio.Semaphore(concurrency)
        # Registering agencies has its own, narrower lane so case traffic flows from the start.
        self.seeding = asyncio.Semaphore(max(2, concurrency // 4))
        self.stats: Counter[str] = Counter()
        self._schedule: list[tuple[float, int, Callable[[], Awaitable[object]]]] = []
        self._counter = itertools.count()
        self._wake = asyncio.Event()
        self._running: set[asyncio.Future[object]] = set()
        self.report = report  # where what it asked and did is written, for `pls status`
        self._reported: deque[tuple[float, int, int]] = deque()  # (when, opened, dropped)

    # -- plumbing ------------------------------------------------------------------------------

    async def post(
        self,
        url: str,
        body: dict[str, Any] | None = None,
        key: str | None = None,
        *,
        lane: asyncio.Semaphore | None = None,
    ) -> dict[str, Any] | None:
        headers = {"Idempotency-Key": key} if key else {}
        session = next(c for base, c in self._sessions.items() if url.startswith(base))
        async with lane or self.semaphore:
            for attempt in range(3):
                try:
                    async with session.post(
                        url, data=orjson.dumps(body or {}), headers=headers
                    ) as response:
                        status, content = response.status, await response.read()
                except (aiohttp.ClientError, TimeoutError) as error:
                    self.stats["network_errors"] += 1
                    log.debug("simulator request failed", url=url, error=str(error))
                    await asyncio.sleep(0.5 * (attempt + 1))
                    continue
                self.stats[f"http_{status}"] += 1
                if status == 503:
                    await asyncio.sleep(0.5 * (attempt + 1))
                    continue
                if status >= 400:
                    log.debug(
                        "simulator request refused",
                        url=url,
                        status=status,
                        body=content[:300].decode(errors="replace"),
                    )
                    return None
                return orjson.loads(content) if content else {}
        return None

    def _open_sessions(self) -> None:
        for state in self.provinces.values():
            headers = {"Content-Type": "application/json"}
            if state.token:
                headers["Authorization"] = f"Bearer {state.token}"
            self._sessions[state.url + "/"] = aiohttp.ClientSession(
                # uvicorn closes a keep-alive connection idle for 5 s; let go of it first, so
                # that a request is not sent on a connection as the server closes it.
                connector=aiohttp.TCPConnector(
                    limit=self.concurrency * 2, keepalive_timeout=IDLE_KEEPALIVE
                ),
                timeout=aiohttp.ClientTimeout(total=15.0),
                headers=headers,
            )

    def later(self, simulated_days: float, action: Callable[[], Awaitable[object]]) -> None:
        due = time.monotonic() + max(0.0, simulated_days) * self.day_seconds
        heapq.heappush(self._schedule, (due, next(self._counter), action))
        self._wake.set()

    def _days(self, mean_spread: tuple[float, float]) -> float:
        mean, spread = mean_spread
        return max(0.05, self.rng.gauss(mean, spread))

    # -- agencies ------------------------------------------------------------------------------

    async def seed_agencies(self) -> int:
        """Register the agencies cases are assigned to: a set per prefecture and a few per province.

        Each province's first prefecture comes first everywhere, so every province can assign
        cases within seconds; the remaining prefectures follow, interleaved across provinces.
        """
        gazetteer = divisions.gazetteer()
        per_prefecture = (
            "legal_aid_centre",
            "mediation_committee",
            "law_firm",
            "law_firm",
            "notary_office",
            "pls_centre",
        )
        per_province = (
            "judicial_appraisal_institution",
            "judicial_appraisal_institution",
            "arbitration_commission",
        )
        plan: list[tuple[int, ProvinceState, str, str, str, int]] = []
        for state in self.provinces.values():
            prefectures = [
                p
                for p in gazetteer.prefectures_by_province.get(state.province, ())
                if gazetteer.counties_by_prefecture.get(p)
            ]
            for rank, prefecture in enumerate(prefectures):
                county = gazetteer.counties_by_prefecture[prefecture][0]
                for n, agency_type in enumerate(per_prefecture):
                    plan.append((rank, state, prefecture, county, agency_type, n))
                if rank == 0:
                    for n, agency_type in enumerate(per_province):
                        plan.append((rank, state, prefecture, county, agency_type, 100 + n))
        plan.sort(key=lambda item: item[0])
        results = await asyncio.gather(
            *(
                self._register(state, prefecture, county, agency_type, n)
                for _, state, prefecture, county, agency_type, n in plan
            )
        )
        return sum(1 for r in results if r)

    async def _register(
        self, state: ProvinceState, prefecture: str, county: str, agency_type: str, n: int
    ) -> bool:
        gazetteer = divisions.gazetteer()
        division = gazetteer.get(county)
        place = gazetteer.name(
            prefecture
            if gazetteer.name(prefecture) not in ("市辖区县", "省直辖县级行政区划")
            else county
        )
        label = {
            "legal_aid_centre": "法律援助中心",
            "mediation_committee": "人民调解委员会",
            "law_firm": "律师事务所",
            "notary_office": "公证处",
            "pls_centre": "公共法律服务中心",
            "judicial_appraisal_institution": "司法鉴定所",
            "arbitration_commission": "仲裁委员会",
        }[agency_type]
        rng = random.Random(f"{state.province}/{prefecture}/{n}")
        name = f"{place}{rng.choice(people.SURNAMES) + rng.choice('正信德诚明和泰安华') if agency_type == 'law_firm' else ''}{label}"
        point = (division.lat, division.lon) if division and division.lat and division.lon else None
        services = [s for s, t in AGENCY_FOR_SERVICE.items() if t == agency_type] or [
            "consultation"
        ]
        body: dict[str, Any] = {
            "agency_type": agency_type,
            "name": name,
            "county": county,
            "address": f"{gazetteer.name(county)}人民路{rng.randrange(1, 300)}号",
            "services": services,
            "opening_hours": [{"day": d, "opens": "09:00", "closes": "17:30"} for d in WEEKDAYS],
            "phone": f"0{rng.randrange(10, 999)}-{rng.randrange(10**7, 10**8)}",
        }
        if point is not None:
            body["coordinates"] = {
                "lat": round(point[0] + rng.uniform(-0.03, 0.03), 6),
                "lon": round(point[1] + rng.uniform(-0.03, 0.03), 6),
            }
        if agency_type in (
            "law_firm",
            "notary_office",
            "judicial_appraisal_institution",
            "arbitration_commission",
        ):
            body["licence_number"] = people.licence_number(rng, state.province, n % 10)
        created = await self.post(
            f"{state.url}/v1/agencies", body, key=f"sim-agency-{state.province}-{prefecture}-{n}"
        )
        if not created:
            return False
        agency = Agency(created["id"], agency_type, prefecture)
        agency.people = [p["person_id"] for p in created.get("personnel", [])]
        if agency_type in ("law_firm", "legal_aid_centre") and not agency.people:
            role = "lawyer" if agency_type == "law_firm" else "legal_aid_worker"
            for i in range(2):
                person = await self.post(
                    f"{state.url}/v1/agencies/{agency.id}/personnel",
                    {
                        "name": people.name(rng),
                        "role": role,
                        "licence_number": people.licence_number(rng, state.province, i),
                        "person_id": f"{agency.id[:8]}-{i}",
                    },
                    key=f"sim-person-{agency.id}-{i}",
                    lane=self.seeding,
                )
                if person:
                    agency.people.append(person["person_id"])
        state.agencies.setdefault(agency_type, []).append(agency)
        return True

    # -- cases ---------------------------------------------------------------------------------

    async def open_case(self) -> None:
        rng = self.rng
        province = self.provinces[pick(rng, self.province_weights)]
        service = pick(rng, self.mix)
        channel = pick(rng, cal.CHANNEL_MIX[service])
        county = rng.choice(province.counties)
        decision_days = (
            self._days(cal.DECISION_DAYS[service]) if service in cal.DECISION_DAYS else 0.0
        )
        backdate = decision_days if service in ("legal_aid", "judicial_appraisal") else 0.0
        body: dict[str, Any] = {
            "service_type": service,
            "channel": channel,
            "county": county,
            "received_at": (datetime.now(UTC) - timedelta(days=backdate)).isoformat(),
            "applicant": {
                "name": people.name(rng),
                "phone": people.phone(rng),
                "id_number": people.id_number(rng, county),
                "address": f"{divisions.gazetteer().name(county)}幸福小区{rng.randrange(1, 40)}栋",
            },
            "applicant_categories": [
                c for c, p in cal.APPLICANT_CATEGORY_RATE.items() if rng.random() < p
            ],
        }
        if channel == "walk_in":
            body["platform_level"] = pick(rng, cal.PLATFORM_LEVEL_MIX)
        if service == "legal_aid" and rng.random() < 0.03:
            body["detained"] = True
        key = f"sim-{rng.getrandbits(64):016x}"
        case = await self.post(f"{province.url}/v1/cases", body, key=key)
        if case is None:
            return
        self.stats["cases_opened"] += 1
        url = f"{province.url}/v1/cases/{case['id']}"
        if service in ON_THE_SPOT:
            self.later(
                rng.uniform(0.001, 0.02), lambda: self._conclude(province, url, service, key)
            )
        elif backdate:
            self.later(0.01, lambda: self._decide(province, url, service, county, key))
        else:
            self.later(decision_days, lambda: self._decide(province, url, service, county, key))

    async def _decide(
        self, province: ProvinceState, url: str, service: str, county: str, key: str
    ) -> None:
        rng = self.rng
        if rng.random() < cal.REJECTION_RATE.get(service, 0.0):
            await self.post(
                f"{url}/reject", {"reason": pick(rng, cal.REJECTION_REASONS)}, key=f"{key}-d"
            )
            return
        if await self.post(f"{url}/accept", key=f"{key}-d") is None:
            return
        if rng.random() < cal.TRANSFER_OUT_RATE:
            others = [p for p in self.provinces if p != province.province] or ["110000"]
            to = rng.choice(others) if province.province != others[0] else others[0]
            if to != province.province:
                await self.post(f"{url}/transfer", {"to_province": to}, key=f"{key}-t")
                return
        assign_delay = rng.uniform(0.1, 2.5) if service == "legal_aid" else rng.uniform(0.05, 1.0)
        self.later(assign_delay, lambda: self._assign(province, url, service, county, key))

    async def _assign(
        self, province: ProvinceState, url: str, service: str, county: str, key: str
    ) -> None:
        agency = province.agency_for(
            self.rng, AGENCY_FOR_SERVICE[service], divisions.prefecture_of(county)
        )
        if agency is None:  # the province's agencies are still being registered: try again
            self.later(1.0, lambda: self._assign(province, url, service, county, key))
            return
        person = self.rng.choice(agency.people) if agency.people else None
        body = {"agency_id": agency.id, **({"person_id": person} if person else {})}
        if await self.post(f"{url}/assign", body, key=f"{key}-a") is None:
            return
        if await self.post(f"{url}/start", key=f"{key}-s") is None:
            return
        self.later(
            self._days(cal.CONCLUSION_DAYS[service]),
            lambda: self._conclude(province, url, service, key, agency.id, person),
        )

    async def _conclude(
        self,
        province: ProvinceState,
        url: str,
        service: str,
        key: str,
        agency_id: str | None = None,
        person_id: str | None = None,
    ) -> None:
        rng = self.rng
        if (
            await self.post(
                f"{url}/conclude", {"outcome": pick(rng, cal.OUTCOMES[service])}, key=f"{key}-c"
            )
            is None
        ):
            return
        self.stats["cases_concluded"] += 1
        if rng.random() < self.complaint_probability:
            case_id = url.rsplit("/", 1)[1]
            self.later(
                rng.uniform(0.1, 3.0),
                lambda: self._complain(province, case_id, service, agency_id, person_id, key),
            )
        if rng.random() < cal.RATING_PROBABILITY:
            self.later(rng.uniform(0.1, 2.0), lambda: self._rate(url, key))
        elif rng.random() < cal.CALLBACK_PROBABILITY:
            self.later(rng.uniform(0.5, 5.0), lambda: self._callback(url, key, None))

    async def _rate(self, url: str, key: str) -> None:
        rng = self.rng
        overall = pick(rng, cal.RATING_MIX)

        def near(score: int) -> int:
            return max(1, min(5, score + rng.choice((-1, 0, 0, 0, 1))))

        rated = await self.post(
            f"{url}/rating",
            {
                "overall": overall,
                "attitude": near(overall),
                "efficiency": near(overall),
                "competence": near(overall),
            },
            key=f"{key}-r",
        )
        if rated is not None and overall <= 2:
            delay = (
                rng.uniform(5.0, 9.0)
                if rng.random() < cal.CALLBACK_LATE_SHARE
                else self._days(cal.CALLBACK_DELAY_DAYS)
            )
            self.later(delay, lambda: self._callback(url, key, "dissatisfied"))

    async def _callback(self, url: str, key: str, result: str | None) -> None:
        await self.post(
            f"{url}/callback",
            {"result": result or pick(self.rng, cal.CALLBACK_RESULTS)},
            key=f"{key}-b",
        )

    # -- complaints ------------------------------------------------------------------------------

    async def _complain(
        self,
        province: ProvinceState,
        case_id: str,
        service: str,
        agency_id: str | None,
        person_id: str | None,
        key: str,
    ) -> None:
        rng = self.rng
        draw = rng.random()
        if agency_id and person_id and draw < 0.25:
            target: dict[str, Any] = {
                "against": "person",
                "agency_id": agency_id,
                "person_id": person_id,
            }
        elif agency_id and draw < 0.85:
            target = {"against": "agency", "agency_id": agency_id}
        else:
            target = {"against": "platform_service"}
        category = pick(rng, cal.COMPLAINT_CATEGORIES)
        body = {
            **target,
            "service_type": service,
            "case_id": case_id,
            "category": category,
            "channel": pick(rng, cal.COMPLAINT_CHANNELS),
            "complainant": {"name": people.name(rng), "phone": people.phone(rng)},
            "description": "对服务不满意",
        }
        complaint = await self.post(f"{province.url}/v1/complaints", body, key=f"{key}-k")
        if complaint is None:
            return
        self.stats["complaints_filed"] += 1
        url = f"{province.url}/v1/complaints/{complaint['id']}"
        late, days = cal.COMPLAINT_LATE_ACCEPTANCE
        delay = (
            rng.uniform(*days) if rng.random() < late else self._days(cal.COMPLAINT_ACCEPTANCE_DAYS)
        )
        self.later(delay, lambda: self._decide_complaint(url, category, key))

    async def _step(self, url: str, key: str, status: str, **particulars: Any) -> bool:
        body = {"status": status, **particulars}
        return await self.post(f"{url}/status", body, key=f"{key}-{status}") is not None

    async def _decide_complaint(self, url: str, category: str, key: str) -> None:
        rng = self.rng
        if rng.random() < cal.COMPLAINT_NOT_ACCEPTED_RATE:
            reason = rng.choice(("duplicate", "outside_scope", "insufficient_information"))
            if await self._step(url, key, "not_accepted", reason=reason):
                self.later(rng.uniform(0.5, 2.0), lambda: self._step(url, key, "closed"))
            return
        if not (
            await self._step(url, key, "accepted") and await self._step(url, key, "investigating")
        ):
            return
        late, days = cal.COMPLAINT_LATE_RESOLUTION
        delay = (
            rng.uniform(*days) if rng.random() < late else self._days(cal.COMPLAINT_RESOLUTION_DAYS)
        )
        if rng.random() < cal.COMPLAINT_ACTION_RATE:
            action = pick(rng, cal.COMPLAINT_ACTIONS)
            self.later(delay / 2, lambda: self._step(url, key, "action_taken", action=action))
        self.later(delay, lambda: self._resolve_complaint(url, category, key))

    async def _resolve_complaint(self, url: str, category: str, key: str) -> None:
        rng = self.rng
        outcome = pick(rng, cal.COMPLAINT_OUTCOMES)
        finding = (
            cal.COMPLAINT_FINDINGS[category]["upheld"]
            if outcome != "not_upheld"
            else rng.choice(("no_fault_found", "insufficient_evidence"))
        )
        resolved = await self._step(
            url, key, "resolved", outcome=outcome, finding=finding, finding_text="经调查核实"
        )
        if resolved:
            self.stats[f"complaints_{outcome}"] += 1
            self.later(rng.uniform(0.5, 3.0), lambda: self._step(url, key, "closed"))

    # -- running -------------------------------------------------------------------------------

    def _spawn(self, work: Awaitable[object]) -> None:
        """Run a step in the background, keeping a reference until it is done."""
        task = asyncio.ensure_future(work)
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _arrivals(self) -> None:
        """Cases arrive as a Poisson process at `rate`: each arrival is due a random gap after
        the one before, and is made when due (at once when the loop is late), so that a high
        rate is not lost to the event loop's turns between short sleeps."""
        due = time.monotonic()
        while True:
            due += self.rng.expovariate(self.rate)
            # A loop held up for seconds (a machine suspended, say) does not make up for them.
            due = max(due, time.monotonic() - 1.0)
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            if len(self._running) >= self.max_waiting:
                # More is asked than the nodes (or this simulator) answer: a case that would only
                # wait is not opened, so the simulator's memory stays bounded; counted instead.
                self.stats["arrivals_dropped"] += 1
                continue
            self._spawn(self.open_case())

    async def _steps(self) -> None:
        while True:
            now = time.monotonic()
            while self._schedule and self._schedule[0][0] <= now:
                _, _, action = heapq.heappop(self._schedule)
                self._spawn(action())
            self._wake.clear()
            timeout = self._schedule[0][0] - now if self._schedule else 1.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=max(0.01, timeout))

    async def _seed(self) -> None:
        agencies = await self.seed_agencies()
        log.info("simulator seeded agencies", agencies=agencies)

    def write_report(self) -> None:
        """What was asked of the simulator and what it did so far, as JSON in `report`: a rate
        asked that the nodes cannot answer shows as arrivals dropped, not as a quiet shortfall."""
        assert self.report is not None
        now = time.monotonic()
        counts = (self.stats["cases_opened"], self.stats["arrivals_dropped"])
        self._reported.append((now, *counts))
        while now - self._reported[0][0] > 60:
            self._reported.popleft()
        since, opened, dropped = self._reported[0]
        partial = self.report.with_suffix(".partial")
        partial.write_bytes(
            orjson.dumps(
                {
                    "pid": os.getpid(),
                    "at": time.time(),
                    "cases_per_second_asked": self.rate,
                    "requests_in_flight_limit": self.concurrency,
                    "last_minute": {
                        "seconds": now - since,
                        "cases_opened": counts[0] - opened,
                        "arrivals_dropped": counts[1] - dropped,
                    },
                    "stats": dict(self.stats),
                }
            )
        )
        partial.replace(self.report)

    async def _reporting(self, every: float = 2.0) -> None:
        while True:
            self.write_report()
            await asyncio.sleep(every)

    async def run(self, duration: float | None = None) -> Counter[str]:
        self._open_sessions()
        # Cases start arriving at once; each is assigned once its province's agencies exist.
        tasks = [
            asyncio.create_task(self._seed()),
            asyncio.create_task(self._arrivals()),
            asyncio.create_task(self._steps()),
        ]
        if self.report is not None:
            tasks.append(asyncio.create_task(self._reporting()))
        try:
            if duration is None:
                await asyncio.Event().wait()
            else:
                await asyncio.sleep(duration)
        finally:
            # Steps under way end before the sessions they send through are closed.
            await cancel_and_wait([*tasks, *self._running])
            for session in self._sessions.values():
                await session.close()
            self._sessions.clear()
        return self.stats

"""Benchmark of the ministry hub's national queries as the read model grows to 10 million events.

    python -m bench.queries                 # 10 million events (make bench)
    python -m bench.queries --quick         # 50 thousand events, about 20 s

Case events of all 32 provinces, in their real counties, with the simulator's service, channel,
outcome, rating and timing distributions (pls/simulator/calibration.py) over a year that ends
now, are applied through the hub's own projection and tracking (`NationalProjection.commit`), in
batches of the hub's `max_batch` as its applier commits them. Loading does not go through NATS,
signature checks or the hash chain (the hub's intake benchmark measures those): the load rate is
the projection's, generation excluded, per million events as the read model grows.

At the first and the last checkpoint a real hub process (`pls hub`) serves the database, and
every national query of its API is asked over HTTP with a ministry_staff token, a few hundred
times each with varied places, services and periods, interleaved; the baseline beside each is a
primary-key lookup on the same database through the same stack (`GET /v1/national/cases/...`).
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.common import Bed, Figure, bed, free_port, percentiles, report
from contracts.envelope import CloudEvent
from contracts.events import case as ce
from contracts.events.base import EventData
from contracts.subjects import PROVINCES
from contracts.vocabulary import (
    ApplicantCategory,
    CallbackResult,
    Channel,
    Outcome,
    PlatformLevel,
    RejectionReason,
    ServiceType,
)
from pls import divisions
from pls.deadlines import DEFAULT_RULES, WorkingCalendar, load_rules
from pls.intake.intake import Applicable, Batch, SourceState
from pls.simulator import calibration as cal
from pls.simulator.traffic import AGENCY_FOR_SERVICE, ON_THE_SPOT, pick
from pls.sqlstore import SQLiteDatabase
from pls.trust.local import HUB
from services.ministry_hub.adapters.readmodel import NationalReadModel
from services.ministry_hub.application.projection import NationalProjection
from services.ministry_hub.settings import HubSettings

DAY = 86_400.0
APPLICANT = "5f2b9c0d1e3a4b6c7d8e9f0a1b2c3d4e"


_DEFAULTS: dict[type[Any], dict[str, Any]] = {}


def build(cls: type[Any], **values: Any) -> Any:
    """A model instance from values known to be valid, as `model_construct` makes it, in half
    the time (ten million events are built). Defaults are made once per class and shared, so
    the instances must not be changed."""
    defaults = _DEFAULTS.get(cls)
    if defaults is None:
        defaults = _DEFAULTS[cls] = {
            name: info.get_default(call_default_factory=True)
            for name, info in cls.model_fields.items()
            if not info.is_required()
        }
    made = object.__new__(cls)
    object.__setattr__(made, "__dict__", {**defaults, **values})
    object.__setattr__(made, "__pydantic_fields_set__", set(values))
    object.__setattr__(made, "__pydantic_extra__", None)
    object.__setattr__(made, "__pydantic_private__", None)
    return made


# -- traffic ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class Case:
    origin: str
    case_id: str
    service: str
    county: str
    step: str = "open"


@dataclass
class Traffic:
    """Case events of the whole country in time order, each case through its lifecycle.

    Arrivals are spread evenly (with jitter) over `days` days ending at `end`; each case's next
    step is drawn when it is reached, so only the cases still open are held in memory."""

    events: int
    days: float
    end: datetime
    seed: int = 7
    per_case: float = cal.EVENTS_PER_CASE
    rng: random.Random = field(init=False)
    cases_opened: int = 0
    some_cases: list[str] = field(default_factory=list)  # every 100th case, to look up

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.counties = {p: divisions.counties_of(p) for p in PROVINCES}
        self.provinces = [p for p in PROVINCES if self.counties[p]]
        self.weights = [cal.POPULATION_MILLIONS[p] for p in self.provinces]
        mix = cal.service_mix()
        self.services, self.service_weights = list(mix), list(mix.values())
        self.sequences: Counter[str] = Counter()
        self.start = self.end.timestamp() - self.days * DAY
        self.gap = self.days * DAY / (self.events / self.per_case)

    def days_of(self, mean_spread: tuple[float, float]) -> float:
        mean, spread = mean_spread
        return max(0.05, self.rng.gauss(mean, spread)) * DAY

    def __iter__(self) -> Iterator[tuple[float, str, EventData]]:
        rng = self.rng
        schedule: list[tuple[float, int, Case, Any]] = []
        counter = itertools.count()
        arrival = self.start
        made = 0
        while made < self.events:
            if not schedule or arrival <= schedule[0][0]:
                origin = rng.choices(self.provinces, self.weights)[0]
                service = rng.choices(self.services, self.service_weights)[0]
                case = Case(
                    origin,
                    str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                    service,
                    rng.choice(self.counties[origin]),
                )
                at, payload = arrival, None
                arrival += rng.expovariate(1 / self.gap)
                self.cases_opened += 1
                if self.cases_opened % 100 == 0:
                    self.some_cases.append(f"{origin}:{case.case_id}")
            else:
                at, _, case, payload = heapq.heappop(schedule)
            data, later = self.step(case, at, payload)
            for delay, then in later:
                heapq.heappush(schedule, (at + delay, next(counter), case, then))
            if data is not None:
                made += 1
                yield at, case.origin, data

    def step(
        self, case: Case, at: float, payload: Any
    ) -> tuple[EventData | None, list[tuple[float, Any]]]:
        """The event a case's next step publishes, and the steps it schedules after it."""
        rng, service, step = self.rng, case.service, case.step
        if step == "open":
            channel = pick(rng, cal.CHANNEL_MIX[service])
            categories = [
                ApplicantCategory(c)
                for c, p in cal.APPLICANT_CATEGORY_RATE.items()
                if rng.random() < p
            ]
            data: EventData = build(
                ce.CaseOpened,
                case_id=case.case_id,
                service_type=ServiceType(service),
                channel=Channel(channel),
                platform_level=PlatformLevel(pick(rng, cal.PLATFORM_LEVEL_MIX))
                if channel == "walk_in"
                else None,
                county=case.county,
                received_at=datetime.fromtimestamp(at, UTC),
                applicant_id=APPLICANT,
                applicant_categories=categories,
                detained=service == "legal_aid" and rng.random() < 0.03,
            )
            if service in ON_THE_SPOT:
                case.step = "conclude"
                return data, [(rng.uniform(0.001, 0.02) * DAY, None)]
            case.step = "decide"
            return data, [(self.days_of(cal.DECISION_DAYS[service]), None)]
        if step == "decide":
            if rng.random() < cal.REJECTION_RATE.get(service, 0.0):
                case.step = "done"
                reason = RejectionReason(pick(rng, cal.REJECTION_REASONS))
                return build(ce.CaseRejected, case_id=case.case_id, reason=reason), []
            if rng.random() < cal.TRANSFER_OUT_RATE:
                case.step = "transfer"
                return build(ce.CaseAccepted, case_id=case.case_id), [(60.0, None)]
            case.step = "assign"
            delay = rng.uniform(0.1, 2.5) if service == "legal_aid" else rng.uniform(0.05, 1.0)
            return build(ce.CaseAccepted, case_id=case.case_id), [(delay * DAY, None)]
        if step == "transfer":
            case.step = "done"
            to = rng.choice([p for p in self.provinces if p != case.origin])
            return build(
                ce.CaseTransferred, case_id=case.case_id, to_agency_id=None, to_province=to
            ), []
        if step == "assign":
            case.step = "start"
            prefecture = divisions.prefecture_of(case.county)
            agency = f"{prefecture}-{AGENCY_FOR_SERVICE[service]}"
            return build(ce.CaseAssigned, case_id=case.case_id, agency_id=agency, person_id=None), [
                (rng.uniform(60, 3600), None)
            ]
        if step == "start":
            case.step = "conclude"
            return build(ce.CaseStarted, case_id=case.case_id), [
                (self.days_of(cal.CONCLUSION_DAYS[service]), None)
            ]
        if step == "conclude":
            outcome = Outcome(pick(rng, cal.OUTCOMES[service]))
            data = build(ce.CaseConcluded, case_id=case.case_id, outcome=outcome)
            if rng.random() < cal.RATING_PROBABILITY:
                case.step = "rate"
                return data, [(rng.uniform(0.1, 2.0) * DAY, None)]
            if rng.random() < cal.CALLBACK_PROBABILITY:
                case.step = "callback"
                result = CallbackResult(pick(rng, cal.CALLBACK_RESULTS))
                return data, [(rng.uniform(0.5, 5.0) * DAY, result)]
            case.step = "done"
            return data, []
        if step == "rate":
            overall = pick(rng, cal.RATING_MIX)

            def near(score: int) -> int:
                return max(1, min(5, score + rng.choice((-1, 0, 0, 0, 1))))

            data = build(
                ce.CaseRated,
                case_id=case.case_id,
                overall=overall,
                attitude=near(overall),
                efficiency=near(overall),
                competence=near(overall),
            )
            if overall <= 2:
                case.step = "callback"
                late = rng.random() < cal.CALLBACK_LATE_SHARE
                delay = (
                    rng.uniform(5.0, 9.0) * DAY if late else self.days_of(cal.CALLBACK_DELAY_DAYS)
                )
                return data, [(delay, CallbackResult("dissatisfied"))]
            case.step = "done"
            return data, []
        if step == "callback":
            case.step = "done"
            return build(ce.CaseCallbackDone, case_id=case.case_id, result=payload), []
        raise AssertionError(step)


def applicable(traffic: Traffic, at: float, origin: str, data: EventData) -> Applicable:
    """What the intake hands the projection for one event (without its signature or hash)."""
    sequence = traffic.sequences[origin] = traffic.sequences[origin] + 1
    moment = datetime.fromtimestamp(at, UTC)
    envelope = build(
        CloudEvent,
        specversion="1.0",
        id=f"{origin}-{sequence}",
        source=f"/pls/{origin}",
        type=f"cn.gov.moj.pls.{data.aggregate}.{data.event}.v1",
        subject=f"{data.aggregate}/{getattr(data, 'case_id', '')}",
        time=moment,
        datacontenttype="application/json",
        dataschema="https://pls.moj.gov.cn/schemas",
        sequence=f"{sequence:020d}",
        data={},
    )
    return Applicable(origin, envelope, data)


# -- loading ---------------------------------------------------------------------------------------


@dataclass
class Segment:
    events: int
    seconds: float  # in the projection's commits
    cpu: float  # of which on this process's CPU (the rest: waiting for the disk or the CPU)
    generating: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


class Loader:
    def __init__(self, path: Path, traffic: Traffic, batch: int) -> None:
        self.db = SQLiteDatabase(path)
        self.projection = NationalProjection(
            NationalReadModel(self.db), load_rules(DEFAULT_RULES), WorkingCalendar()
        )
        self.sources = {s.origin: s for s in self.projection.sources()}
        self.stream = iter(traffic)
        self.traffic = traffic
        self.batch = batch
        self.loaded = 0

    def load_to(self, target: int) -> Segment:
        spent = cpu = generating = 0.0
        events = 0
        while self.loaded < target:
            started = time.perf_counter()
            items = [
                applicable(self.traffic, *event)
                for event in itertools.islice(self.stream, min(self.batch, target - self.loaded))
            ]
            if not items:
                break
            sample = items[0].data  # the contract accepts what is built without checks
            type(sample).model_validate(sample.model_dump(mode="json"))
            sources = self._advance(items)
            made, made_cpu = time.perf_counter(), time.thread_time()
            self.projection.commit(Batch(events=items, sources=sources))
            done = time.perf_counter()
            cpu += time.thread_time() - made_cpu
            spent += done - made
            generating += made - started
            events += len(items)
            self.loaded += len(items)
            if self.loaded % 500_000 < self.batch:
                print(f"  {self.loaded:,} events, {events / spent:,.0f}/s", flush=True)
        return Segment(events, spent, cpu, generating)

    def _advance(self, items: list[Applicable]) -> dict[str, SourceState]:
        now = datetime.now(UTC).isoformat()
        changed: dict[str, SourceState] = {}
        for item in items:
            state = changed.get(item.origin)
            if state is None:
                state = self.sources.setdefault(item.origin, SourceState(item.origin))
                changed[item.origin] = state
            state.sequence = item.envelope.sequence_number
            state.applied += 1
            state.last_event_time = item.envelope.time.isoformat()
            state.last_applied_at = now
        return changed

    def sample_cases(self, n: int, rng: random.Random) -> list[str]:
        return [rng.choice(self.traffic.some_cases) for _ in range(n)]


# -- questions -------------------------------------------------------------------------------------

Question = tuple[str, str, dict[str, Any]]


def questions(
    per_kind: int, cases: list[str], end: datetime, days: float, rng: random.Random
) -> list[Question]:
    gazetteer = divisions.gazetteer()
    provinces = [p for p in PROVINCES if divisions.counties_of(p)]
    prefectures = [p for p in provinces for p in gazetteer.prefectures_by_province.get(p, ())]
    prefectures = [p for p in prefectures if gazetteer.counties_by_prefecture.get(p)]
    counties = [c for p in provinces for c in divisions.counties_of(p)]
    services = [s.value for s in ServiceType]
    last = end.astimezone(UTC).date()

    def period(params: dict[str, Any], always: bool = False) -> dict[str, Any]:
        draw = rng.random()
        if draw < 0.4 and not always:
            return params
        length = rng.choice((1, 7, 30, 90, 365))
        to = last - timedelta(days=rng.randrange(0, max(1, int(days) - length + 1)))
        return {**params, "from": (to - timedelta(days=length - 1)).isoformat(), "to": str(to)}

    def filters(params: dict[str, Any], channel: bool = True) -> dict[str, Any]:
        draw = rng.random()
        if draw < 0.3:
            params = {**params, "service_type": rng.choice(services)}
        elif draw < 0.4 and channel:
            params = {**params, "channel": rng.choice([c.value for c in Channel])}
        return period(params)

    def place() -> dict[str, Any]:
        level = rng.choice(("nation", "province", "prefecture", "county"))
        if level == "province":
            return {"province": rng.choice(provinces)}
        if level == "prefecture":
            return {"prefecture": rng.choice(prefectures)}
        if level == "county":
            return {"county": rng.choice(counties)}
        return {}

    def series() -> dict[str, Any]:
        where = place()
        metrics = rng.sample(["opened", "concluded", "rated", "satisfied", "deadlines_late"], 2)
        params: dict[str, Any] = {**where, "metric": metrics}
        if rng.random() < 0.3 and not ({"prefecture", "county"} & where.keys()):
            params["service_type"] = rng.choice(services)
        return period(params, always=rng.random() < 0.5)

    made: list[Question] = []
    for _ in range(per_kind):
        made.append(("summary", "/v1/national/summary", filters(place())))
        made.append(("provinces", "/v1/national/provinces", filters({})))
        made.append(
            (
                "prefectures",
                f"/v1/national/provinces/{rng.choice(provinces)}/prefectures",
                filters({}),
            )
        )
        made.append(
            (
                "counties",
                f"/v1/national/prefectures/{rng.choice(prefectures)}/counties",
                filters({}),
            )
        )
        made.append(("timeseries", "/v1/national/timeseries", series()))
        made.append(("freshness", "/v1/national/freshness", {}))
        origin, case_id = rng.choice(cases).split(":", 1)
        made.append(("case by key", f"/v1/national/cases/{origin}/{case_id}", {}))
    rng.shuffle(made)
    return made


KINDS = ("summary", "provinces", "prefectures", "counties", "timeseries", "freshness")
BASELINE = "case by key"


@dataclass
class Hub:
    process: subprocess.Popen[bytes]
    base: str
    token: str


def start_hub(place: Bed, path: Path, workdir: Path) -> Hub:
    port = free_port()
    env = {
        **os.environ,
        "PLS_VAR_DIR": str(workdir / "var"),
        "PLS_NATS_URL": place.nats.url,
        "PLS_TRUST_REGISTRY": str(place.trust.registry_path),
        "PLS_MEMBER_ID": HUB,
        "PLS_NATS_CREDS": str(place.trust.creds(HUB)),
        "PLS_HUB_DATABASE": str(path),
        "PLS_HUB_RECONCILE_INTERVAL": "3600",
        "PLS_LOG_LEVEL": "warning",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "pls.cli", "hub", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "hub.log").open("ab"),
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the hub did not start; see {workdir / 'hub.log'}")
        time.sleep(0.2)
    return Hub(process, base, place.trust.staff_token())


def stop_hub(hub: Hub) -> None:
    hub.process.terminate()
    try:
        hub.process.wait(30)
    except subprocess.TimeoutExpired:
        hub.process.kill()
        hub.process.wait()


def ask(hub: Hub, asked: list[Question]) -> dict[str, list[float]]:
    latencies: dict[str, list[float]] = {}
    headers = {"Authorization": f"Bearer {hub.token}"}
    with httpx.Client(base_url=hub.base, headers=headers, timeout=60.0) as client:
        for _, path, params in asked[: min(50, len(asked))]:  # warm up connections and caches
            client.get(path, params=params)
        for kind, path, params in asked:
            started = time.perf_counter()
            response = client.get(path, params=params)
            spent = time.perf_counter() - started
            if response.status_code != 200:
                raise RuntimeError(f"{path} {params}: {response.status_code} {response.text[:300]}")
            latencies.setdefault(kind, []).append(spent)
    return latencies


# -- the run ---------------------------------------------------------------------------------------


def checkpoints(total: int, quick: bool) -> list[int]:
    if quick:
        return [total // 4, total // 2, total]
    marks = [m for m in (1_000_000, 2_000_000, 5_000_000) if m < total]
    return [*marks, total]


def label(n: int) -> str:
    return f"{n / 1e6:g}M" if n >= 1_000_000 else f"{n / 1e3:g}k"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--quick", action="store_true", help="50k events, 60 questions per kind")
    parser.add_argument("--days", type=float, default=365.0, help="the period the events cover")
    parser.add_argument("--questions", type=int, default=300, help="per kind of query")
    parser.add_argument("--batch", type=int, default=HubSettings().max_batch)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    if args.quick:
        args.events, args.questions = min(args.events, 50_000), min(args.questions, 60)

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="pls-bench-queries-"))
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "national.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    print(f"workdir: {workdir}; load average {os.getloadavg()[0]:.2f}", flush=True)
    print(
        "loading bypasses NATS, signature checks and the hash chain: the projection and its "
        "tracking only",
        flush=True,
    )

    end = datetime.now(UTC).replace(microsecond=0)
    pilot = Traffic(20_000, args.days, end)
    for _ in pilot:
        pass
    traffic = Traffic(args.events, args.days, end, per_case=20_000 / pilot.cases_opened)
    loader = Loader(path, traffic, args.batch)
    marks = checkpoints(args.events, args.quick)
    measured_at = {marks[0], marks[-1]}
    rng = random.Random(11)
    segments: list[tuple[int, Segment]] = []
    timings: dict[int, dict[str, dict[str, float]]] = {}
    figures: list[Figure] = []
    started = time.perf_counter()
    with bed(workdir / "bed") as place:
        for mark in marks:
            segment = loader.load_to(mark)
            segments.append((loader.loaded, segment))
            print(
                f"{label(loader.loaded)}: {segment.rate:,.0f} events/s over the last "
                f"{segment.events:,} ({segment.events / segment.cpu:,.0f}/s of CPU time; "
                f"generation {segment.generating:.0f} s not counted), "
                f"load average {os.getloadavg()[0]:.2f}",
                flush=True,
            )
            if mark not in measured_at:
                continue
            asked = questions(
                args.questions, loader.sample_cases(args.questions, rng), end, args.days, rng
            )
            hub = start_hub(place, path, workdir)
            try:
                latencies = ask(hub, asked)
            finally:
                stop_hub(hub)
            timings[loader.loaded] = {k: percentiles(v) for k, v in latencies.items()}
            base = timings[loader.loaded][BASELINE]
            for kind in KINDS:
                got = timings[loader.loaded][kind]
                figure = Figure(
                    f"{kind} p99 at {label(loader.loaded)} events",
                    got["p99"],
                    "ms",
                    base["p99"],
                    "primary-key lookup p99",
                    "p99 < 50 ms",
                    {"p50": got["p50"], "p95": got["p95"], "n": got["n"]},
                )
                figures.append(figure)
                print(f"  {figure.line()}", flush=True)
    first_rate = segments[0][1].rate
    for loaded, segment in segments:
        figures.append(
            Figure(
                f"load rate, events {label(loaded - segment.events)}-{label(loaded)}",
                segment.rate,
                "events/s",
                first_rate,
                f"first {label(segments[0][1].events)}",
                "no worse than linear growth (ratio near 1)",
            )
        )
    print_table(segments, timings)
    size = sum(f.stat().st_size for f in workdir.glob("national.db*"))
    print(
        f"database {size / 2**20:,.0f} MiB; {traffic.cases_opened:,} cases; "
        f"{time.perf_counter() - started:.0f} s in all; load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    loader.db.close()
    report(figures, args.json)
    if not args.keep and args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)


def print_table(
    segments: list[tuple[int, Segment]], timings: dict[int, dict[str, dict[str, float]]]
) -> None:
    print(
        "\nevents | load rate (events/s, wall / CPU) | "
        + " | ".join(f"{k} p50 / p99 ms" for k in (*KINDS, BASELINE))
    )
    for loaded, segment in segments:
        cells = [
            f"{timings[loaded][k]['p50']:.1f} / {timings[loaded][k]['p99']:.1f}"
            if loaded in timings
            else "-"
            for k in (*KINDS, BASELINE)
        ]
        rate = f"{segment.rate:,.0f} / {segment.events / segment.cpu:,.0f}"
        print(f"{label(loaded)} | {rate} | " + " | ".join(cells))
    print()


if __name__ == "__main__":
    main()

"""Benchmark of the national directory: loading from events, then search, region and nearest
queries over HTTP at national scale, each beside a naive full-scan baseline on the same data.

    python bench/directory.py                      # one million organizations (make bench)
    python bench/directory.py --quick               # 5,000 organizations (make bench-quick)

Loading runs the directory's own intake and projection over contract CloudEvents (the generator's
time is not counted); the hub's loading rate is measured the same way on case events. Queries go
to a `pls directory` process over HTTP, one at a time; the baseline answers the same questions
in this process by reading every row (`DirectoryQueries.full_scan`).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from contracts.events import case as ce
from contracts.events.base import EventData
from pls import divisions
from pls.deadlines import DEFAULT_RULES, WorkingCalendar, load_rules
from pls.intake.intake import Intake
from pls.simulator.directory import NATIONAL, DirectoryGenerator, Plan
from pls.sqlstore import SQLiteDatabase
from pls.trust.local import DIRECTORY, create_local_trust
from services.directory.adapters.queries import Criteria, DirectoryQueries, Region
from services.directory.adapters.readmodel import DirectoryReadModel
from services.directory.application.loading import encode
from services.directory.application.projection import DirectoryProjection, interested_in
from services.directory.domain.geometry import Circle
from services.directory.domain.text import initials_of, short_place_name, syllables, terms
from services.directory.settings import DirectorySettings
from services.ministry_hub.adapters.readmodel import NationalReadModel
from services.ministry_hub.application.projection import NationalProjection
from services.ministry_hub.settings import HubSettings


def chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def timed_load(
    projection: Any, events: Iterable[tuple[str, EventData]], batch: int
) -> tuple[int, float]:
    """Events/s through intake and projection, generation and encoding excluded."""
    intake = Intake(projection.sources(), interested_in=interested_in)
    after = {origin: state.sequence for origin, state in intake.sources.items()}
    count, spent = 0, 0.0
    for chunk in chunks(encode(events, after), batch):
        started = time.perf_counter()
        for delivery in chunk:
            intake.offer(delivery)
        taken = intake.take()
        projection.commit(taken)
        intake.committed(taken)
        spent += time.perf_counter() - started
        count += len(chunk)
        if count % 250_000 < batch:
            print(f"  {count} events, {count / spent:,.0f}/s", flush=True)
    return count, spent


def case_events(n: int, seed: int = 7) -> Iterator[tuple[str, EventData]]:
    rng = random.Random(seed)
    counties = list(divisions.counties_of("440000"))
    start = datetime(2026, 3, 2, 1, tzinfo=UTC)
    made = 0
    while made < n:
        case_id = f"case-{made}"
        yield (
            "440000",
            ce.CaseOpened(
                case_id=case_id,
                service_type="consultation",
                channel="hotline_12348",
                county=rng.choice(counties),
                received_at=start + timedelta(seconds=made),
                applicant_id=f"{rng.getrandbits(64):016x}",
            ),
        )
        yield "440000", ce.CaseConcluded(case_id=case_id, outcome="advice_given")
        made += 2


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]

    return {
        "n": len(ordered),
        "p50": at(0.5) * 1000,
        "p95": at(0.95) * 1000,
        "p99": at(0.99) * 1000,
        "max": ordered[-1] * 1000,
        "mean": statistics.fmean(ordered) * 1000,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the questions ---------------------------------------------------------------------------------


def sample_listings(db: SQLiteDatabase, n: int, rng: random.Random) -> list[tuple[Any, ...]]:
    """`n` organizations drawn with `rng`, so a run's questions can be asked again."""
    with db.reading() as cursor:
        cursor.execute("SELECT rid FROM organizations ORDER BY rid")
        rids = rng.sample([int(r[0]) for r in cursor.fetchall()], n)
        found: dict[int, tuple[Any, ...]] = {}
        for start in range(0, n, 500):
            chunk = rids[start : start + 500]
            cursor.execute(
                "SELECT rid, name, county, prefecture, province, lat, lon, agency_type "
                f"FROM organizations WHERE rid IN ({', '.join('?' * len(chunk))})",
                chunk,
            )
            found.update((int(row[0]), row[1:]) for row in cursor.fetchall())
        return [found[rid] for rid in rids]


Question = tuple[str, dict[str, Any], Criteria]


def search_questions(rows: list[tuple[Any, ...]], rng: random.Random) -> list[Question]:
    gazetteer = divisions.gazetteer()
    questions: list[Question] = []
    kind_words = {
        "law_firm": ("律师", "ls"),
        "notary_office": ("公证", "gz"),
        "legal_aid_centre": ("法律援助", "flyz"),
    }
    for name, county, prefecture, _province, *_ in rows:
        pick = rng.randrange(5)
        place = short_place_name(
            gazetteer.name(
                prefecture
                if gazetteer.name(prefecture) not in ("市辖区县", "省直辖县级行政区划", "兵团师市")
                else county
            )
        )
        if pick == 0 and len(name) >= 4:  # what people remember of a name: how it starts
            start = rng.randrange(0, 2)
            text = name[start : start + 3]
        elif pick == 1:  # a place and a kind, in Chinese
            word, _ = rng.choice(list(kind_words.values()))
            text = f"{place}{word}"
        elif pick == 2:  # pinyin initials of place and kind: gzls
            _, initials = rng.choice(list(kind_words.values()))
            text = initials_of(place) + initials
        elif pick == 3:  # full pinyin of a county
            text = "".join(syllables(short_place_name(gazetteer.name(county))))
        else:  # two terms: a county and a kind
            text = f"{short_place_name(gazetteer.name(county))} 调解"
        try:
            criteria = Criteria(search=tuple(terms(text)))
        except ValueError:  # a fragment cut across a digit or letter: ask by the county instead
            text = short_place_name(gazetteer.name(county))
            criteria = Criteria(search=tuple(terms(text)))
        questions.append(("/organizations", {"search": text}, criteria))
    return questions


def region_questions(rows: list[tuple[Any, ...]], rng: random.Random) -> list[Question]:
    questions: list[Question] = []
    for _, county, prefecture, province, *_ in rows:
        level, code = rng.choice(
            [("province", province), ("prefecture", prefecture), ("county", county)]
        )
        params: dict[str, Any] = {"region": code}
        kinds: tuple[str, ...] = ()
        if rng.random() < 0.5:
            kinds = (rng.choice(list(NATIONAL)),)
            params["agency_type"] = kinds[0]
        questions.append(
            (
                "/organizations",
                params,
                Criteria(region=Region(level, code), agency_types=kinds),  # type: ignore[arg-type]
            )
        )
    return questions


def nearest_questions(rows: list[tuple[Any, ...]], rng: random.Random) -> list[Question]:
    questions: list[Question] = []
    for *_, lat, lon, _kind in rows:
        if lat is None:
            continue
        lat, lon = lat + rng.gauss(0, 0.02), lon + rng.gauss(0, 0.02)
        if rng.random() < 0.5:  # the nearest legal aid centre within 50 km
            circle = Circle(lat, lon, 50_000)
            params = {
                "proximity": f"{lat:.6f},{lon:.6f},50000",
                "agency_type": "legal_aid_centre",
                "per_page": 5,
            }
            criteria = Criteria(near=circle, agency_types=("legal_aid_centre",))
        else:  # anything within 3 km
            circle = Circle(lat, lon, 3_000)
            params = {"proximity": f"{lat:.6f},{lon:.6f},3000", "per_page": 20}
            criteria = Criteria(near=circle)
        questions.append(("/locations", params, criteria))
    return questions


def ask(
    client: httpx.Client, base: str, questions: list[Question]
) -> tuple[list[float], list[int]]:
    latencies, totals = [], []
    for path, params, _ in questions:
        started = time.perf_counter()
        response = client.get(f"{base}{path}", params=params)
        latencies.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"{path} {params}: {response.status_code} {response.text[:300]}")
        totals.append(int(response.json()["total_items"]))
    return latencies, totals


def baseline(
    queries: DirectoryQueries, questions: list[Question], per_page: int = 20
) -> tuple[list[float], list[int]]:
    latencies, totals = [], []
    for _, params, criteria in questions:
        started = time.perf_counter()
        found = queries.full_scan(criteria, 0, int(params.get("per_page", per_page)))
        latencies.append(time.perf_counter() - started)
        totals.append(found.total)
    return latencies, totals


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--organizations", type=int, default=1_000_000)
    parser.add_argument(
        "--personnel", default="professionals", choices=["none", "professionals", "full"]
    )
    parser.add_argument("--questions", type=int, default=300, help="per kind of query")
    parser.add_argument("--baseline-questions", type=int, default=20, help="per kind, full scans")
    parser.add_argument("--hub-events", type=int, default=200_000)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="query the directory already loaded in --workdir instead of loading it again",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="5,000 organizations, fewer questions (make bench-quick)",
    )
    args = parser.parse_args()
    if args.quick:
        args.organizations, args.questions, args.baseline_questions = 5_000, 100, 10
        args.hub_events = 20_000

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="pls-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "directory.db"
    reuse = args.reuse and path.exists()
    if not reuse:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    results: dict[str, Any] = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, SQLite {__import__('sqlite3').sqlite_version}",
        "organizations_requested": args.organizations,
    }
    print(f"machine: {results['machine']}\nworkdir: {workdir}")

    if reuse:
        print("reusing the loaded directory; loading not measured")
    else:
        load_both(args, path, results)
    query(args, path, results)
    size = sum(f.stat().st_size for f in workdir.glob("directory.db*"))
    results["directory_db_bytes"] = size
    print(f"directory database: {size / 2**20:,.0f} MiB")
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n")
    if not args.keep and args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)


def load_both(args: argparse.Namespace, path: Path, results: dict[str, Any]) -> None:
    """Load the directory from agency events, then the hub from case events, and time both."""
    workdir = path.parent
    results["load_average_before_loading"] = os.getloadavg()
    whole = sum(n for n, _ in NATIONAL.values())
    generator = DirectoryGenerator(Plan(scale=args.organizations / whole, personnel=args.personnel))
    db = SQLiteDatabase(path)
    projection = DirectoryProjection(DirectoryReadModel(db))
    print("loading the directory from events ...")
    count, spent = timed_load(projection, generator.events(), DirectorySettings().max_batch)
    results["directory_load"] = {
        "events": count,
        "organizations": generator.registered,
        "personnel": generator.persons,
        "seconds": round(spent, 1),
        "events_per_second": round(count / spent),
    }
    print(
        f"directory: {count} events ({generator.registered} organizations, {generator.persons} people) in {spent:.1f} s = {count / spent:,.0f} events/s"
    )
    db.close()

    hub_path = workdir / "hub.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{hub_path}{suffix}").unlink(missing_ok=True)
    hub_db = SQLiteDatabase(hub_path)
    hub = NationalProjection(
        NationalReadModel(hub_db), load_rules(DEFAULT_RULES), WorkingCalendar()
    )
    print("loading the hub from case events ...")
    hub_count, hub_spent = timed_load(hub, case_events(args.hub_events), HubSettings().max_batch)
    hub_db.close()
    results["hub_load"] = {
        "events": hub_count,
        "seconds": round(hub_spent, 1),
        "events_per_second": round(hub_count / hub_spent),
    }
    print(f"hub: {hub_count} events in {hub_spent:.1f} s = {hub_count / hub_spent:,.0f} events/s")

    results["load_average_after_loading"] = os.getloadavg()


def query(args: argparse.Namespace, path: Path, results: dict[str, Any]) -> None:
    """Ask the questions over HTTP, and the first few of each kind by full scan."""
    results["load_average_before_queries"] = os.getloadavg()
    port = free_port()
    trust = create_local_trust(path.parent / "trust")  # nothing runs unauthenticated
    env = {
        **os.environ,
        "PLS_TRUST_REGISTRY": str(trust.registry_path),
        "PLS_MEMBER_ID": DIRECTORY,
        "PLS_NATS_CREDS": str(trust.creds(DIRECTORY)),
        "PLS_DIRECTORY_DATABASE": str(path),
        "PLS_DIRECTORY_RATE_LIMIT_PER_SECOND": "0",
        "PLS_LOG_LEVEL": "warning",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "pls.cli", "directory", "--port", str(port), "--no-consume"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(timeout=60.0) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if client.get(f"{base}/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise
                time.sleep(0.2)
            db = SQLiteDatabase(path)
            queries = DirectoryQueries(DirectoryReadModel(db))
            rng = random.Random(11)
            rows = sample_listings(db, args.questions * 3 + 100, rng)
            sets: dict[str, list[Question]] = {
                "search": search_questions(rows[: args.questions], rng),
                "region": region_questions(rows[args.questions : 2 * args.questions], rng),
                "nearest": nearest_questions(rows[2 * args.questions : 3 * args.questions], rng),
            }
            ask(client, base, search_questions(rows[-100:], rng))  # warm the server up
            results["queries"] = {}
            for name, questions in sets.items():
                latencies, totals = ask(client, base, questions)
                few = questions[: args.baseline_questions]
                naive, naive_totals = baseline(queries, few)
                agree = sum(1 for a, b in zip(totals, naive_totals, strict=False) if a == b)
                fast, slow = percentiles(latencies), percentiles(naive)
                results["queries"][name] = {
                    "directory": fast,
                    "full_scan": slow,
                    "p99_ratio": round(slow["p99"] / fast["p99"], 1),
                    "median_items": statistics.median(totals),
                    "totals_agree": f"{agree}/{len(few)}",
                    "examples": [q[1] for q in questions[:4]],
                }
                print(
                    f"{name:8s} directory p50 {fast['p50']:6.1f} ms  p99 {fast['p99']:6.1f} ms  (n={fast['n']})"
                    f" | full scan p50 {slow['p50']:7.1f} ms  p99 {slow['p99']:7.1f} ms  (n={slow['n']})"
                    f" | p99 ×{slow['p99'] / fast['p99']:.0f} faster; totals agree {agree}/{len(few)}"
                )
            db.close()
    finally:
        server.terminate()
        server.wait(15)
    results["load_average_after_queries"] = os.getloadavg()


if __name__ == "__main__":
    main()

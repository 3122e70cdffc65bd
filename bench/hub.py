"""Ministry hub benchmark: signed province events into the national read model, and its rebuild.

    python bench/hub.py                 # make bench: 200,000 events live, rebuild from 1,000,000
    python bench/hub.py --quick         # make bench-quick: 8,000 live, rebuild from 24,000

Several province streams on a private nats-server (the federation's trust and credentials) are
filled with signed case events (opened, accepted, assigned, concluded, rated, some rejected) and
signed checkpoints, numbered and hash-chained as a province node's journal writer publishes them
(not timed). Then, measured:
- baselines: raw pulls of the same streams, no processing, one task a stream: with the pull loop
  the hub itself uses (`pls.intake.pull.Puller`; the ratio is taken against this one) and with
  nats-py's `fetch`, which is several times slower;
- hub: the hub's own runtime (durable consumers, applier, intake with signature checks, national
  projection and tracking) from an empty read model until every event is applied, on SQLite and
  on PostgreSQL;
- rebuild: as `pls hub rebuild` runs it from the streams (`pls.rebuild_command.rebuild_into`,
  the provinces dealt out over `--rebuild-workers` processes, by default one a core) into a fresh
  SQLite read model from all of the events, in a process of its own, so that its memory is its
  own. Peak memory is every process's VmHWM added up; proportional shares (PSS) are given beside.
  Beside it: raw pulls of the same events, in a process of their own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import Bed, Figure, bed, peak_rss_mb, report
from contracts.envelope import CHAIN_HASH, ZERO_HASH, build_event, canonical_bytes, chain_hash
from contracts.events import case as ce
from contracts.events.base import EventData
from contracts.events.checkpoint import CheckpointPublished
from contracts.registry import REGISTRY
from contracts.subjects import stream_name
from pls import divisions
from pls.bus import ensure_stream
from pls.intake.pull import Puller
from pls.trust.keys import SigningKey
from pls.trust.local import HUB, OPERATOR, province_member
from pls.trust.natsconfig import inbox_prefix
from pls.trust.signing import sign_event

PROVINCES = ["440000", "330000", "510000", "370000"]
POSTGRES_URL = os.environ.get("PLS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
NAMESPACE = uuid.UUID("6f1c8d2e-4b7a-4c1e-9a55-0d3e2b7c9f10")
OUTCOMES = ["advice_given", "agreement_reached", "no_agreement", "representation_completed"]
SERVICES = ["consultation", "mediation", "legal_aid"]
CHANNELS = ["hotline_12348", "web", "wechat", "app"]


# -- the province journals -----------------------------------------------------------------------


class ProvinceJournal:
    """What a province node's journal writer publishes: each event built from its contract,
    numbered, signed with the province's key and chained into the running hash, and a signed
    checkpoint carrying that hash every `checkpoint_every` events."""

    def __init__(self, origin: str, signer: SigningKey, checkpoint_every: int, seed: int) -> None:
        self.origin = origin
        self.signer = signer
        self.checkpoint_every = checkpoint_every
        self.sequence = 0
        self.running_hash = ZERO_HASH
        self.since_checkpoint = 0
        self.rng = random.Random(seed)
        self.counties = list(divisions.counties_of(origin))
        self.cases = 0
        self.clock = datetime(2026, 3, 2, 1, tzinfo=UTC)

    def _entry(self, data: EventData, subject: str, moment: datetime) -> tuple[str, bytes, str]:
        self.sequence += 1
        event_id = str(uuid.uuid5(NAMESPACE, f"{self.origin}/{self.sequence}"))
        event = build_event(
            data,
            origin=self.origin,
            service="province-node",
            subject=subject,
            event_id=event_id,
            sequence=self.sequence,
            time=moment,
            extensions={CHAIN_HASH: self.running_hash},
        )
        body = canonical_bytes(sign_event(event, self.signer))
        self.running_hash = chain_hash(self.running_hash, body)
        return REGISTRY.of(data).subject(self.origin), body, event_id

    def _one(self, data: EventData, subject: str) -> Iterator[tuple[str, bytes, str]]:
        self.clock += timedelta(seconds=1)
        yield self._entry(data, subject, self.clock)
        self.since_checkpoint += 1
        if self.since_checkpoint >= self.checkpoint_every:
            self.since_checkpoint = 0
            checkpoint = CheckpointPublished(
                through_sequence=self.sequence, running_hash=self.running_hash
            )
            yield self._entry(checkpoint, self.origin, self.clock)

    def case(self) -> Iterator[tuple[str, bytes, str]]:
        """One case's life as the province node publishes it: 2 to 5 events."""
        rng = self.rng
        self.cases += 1
        case_id = str(uuid.uuid5(NAMESPACE, f"{self.origin}/case/{self.cases}"))
        yield from self._one(
            ce.CaseOpened(
                case_id=case_id,
                service_type=rng.choice(SERVICES),
                channel=rng.choice(CHANNELS),
                county=rng.choice(self.counties),
                received_at=self.clock,
                applicant_id=f"{rng.getrandbits(128):032x}",
            ),
            case_id,
        )
        if rng.random() < 0.1:
            yield from self._one(ce.CaseRejected(case_id=case_id, reason="outside_scope"), case_id)
            return
        yield from self._one(ce.CaseAccepted(case_id=case_id), case_id)
        yield from self._one(
            ce.CaseAssigned(case_id=case_id, agency_id=f"agency-{rng.randrange(500)}"), case_id
        )
        yield from self._one(
            ce.CaseConcluded(case_id=case_id, outcome=rng.choice(OUTCOMES)), case_id
        )
        if rng.random() < 0.6:
            scores = [rng.randint(3, 5) for _ in range(4)]
            yield from self._one(
                ce.CaseRated(
                    case_id=case_id,
                    overall=scores[0],
                    attitude=scores[1],
                    efficiency=scores[2],
                    competence=scores[3],
                ),
                case_id,
            )


async def connect(test_bed: Bed, member: str) -> nats.NATS:
    return await nats.connect(
        test_bed.nats.url,
        nkeys_seed=str(test_bed.trust.creds(member)),
        inbox_prefix=inbox_prefix(member),
    )


async def publish(
    test_bed: Bed, journals: dict[str, ProvinceJournal], events: int
) -> dict[str, int]:
    """Publish about `events` more events, spread evenly over the provinces, as their relays
    would (with `Nats-Msg-Id`), one process a province; returns each stream's last sequence."""
    operator = await connect(test_bed, OPERATOR)
    for origin in journals:
        await ensure_stream(operator.jetstream(), origin)
    await operator.close()
    per_province = events // len(journals)
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(min(len(journals), os.cpu_count() or 2)) as pool:
        done = await asyncio.gather(
            *(
                loop.run_in_executor(
                    pool,
                    fill_province,
                    test_bed.nats.url,
                    str(test_bed.trust.creds(province_member(origin))),
                    journal,
                    per_province,
                )
                for origin, journal in journals.items()
            )
        )
    journals.update({journal.origin: journal for journal in done})
    return {origin: journal.sequence for origin, journal in journals.items()}


def fill_province(url: str, seed: str, journal: ProvinceJournal, events: int) -> ProvinceJournal:
    """In a worker process: `events` more of the province's events into its stream."""

    async def run() -> None:
        client = await nats.connect(
            url, nkeys_seed=seed, inbox_prefix=inbox_prefix(province_member(journal.origin))
        )
        js = client.jetstream(timeout=30)
        target = journal.sequence + events
        pending = 0
        while journal.sequence < target:
            for subject, body, event_id in journal.case():
                await js.publish_async(subject, body, headers={"Nats-Msg-Id": event_id})
                pending += 1
            if pending >= 5000:
                await js.publish_async_completed()
                pending = 0
        await js.publish_async_completed()
        await client.close()

    asyncio.run(run())
    return journal


# -- the baseline --------------------------------------------------------------------------------


async def raw_fetch(
    url: str, seed: str, member: str, counts: dict[str, int], batch: int, *, puller: bool = False
) -> tuple[float, float]:
    """Pull every message of the streams with no processing, one task a stream: seconds taken,
    and CPU seconds of this process. With `puller`, through the `Puller` the hub reads with
    instead of nats-py's `fetch`."""
    client = await nats.connect(url, nkeys_seed=seed, inbox_prefix=inbox_prefix(member))
    js = client.jetstream(timeout=30)

    async def one(origin: str, total: int) -> None:
        durable = f"raw-{uuid.uuid4().hex[:10]}"
        stream = stream_name(origin)
        await js.add_consumer(
            stream,
            ConsumerConfig(
                durable_name=durable,
                ack_policy=AckPolicy.NONE,
                deliver_policy=DeliverPolicy.ALL,
                inactive_threshold=300,
            ),
        )
        got = 0
        if puller:
            pulls = Puller(client, stream, durable, batch=batch)
            await pulls.start()
            while got < total:
                got += len(await pulls.next(timeout=5.0))
            await pulls.stop()
        else:
            subscription = await js.pull_subscribe_bind(durable=durable, stream=stream)
            while got < total:
                got += len(await subscription.fetch(batch, timeout=5.0))
            await subscription.unsubscribe()
        await js.delete_consumer(stream, durable)

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one(origin, total) for origin, total in counts.items()))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    await client.close()
    return elapsed, cpu


# -- the hub -------------------------------------------------------------------------------------


def hub_settings(test_bed: Bed, database: str, schema: str, durable: str) -> Any:
    from pls.settings import CommonSettings
    from services.ministry_hub.settings import HubSettings

    settings = HubSettings(
        database=database,
        schema_name=schema,
        provinces=PROVINCES,
        # No province node listens: nothing is missing from the streams, so nothing is fetched.
        node_urls=dict.fromkeys(PROVINCES, "http://127.0.0.1:9"),
        durable=durable,
        reconcile_interval=3600,
        node_token=test_bed.trust.service_token(HUB),
    )
    common = CommonSettings(
        var_dir=test_bed.directory,
        nats_url=test_bed.nats.url,
        trust_registry=test_bed.trust.registry_path,
        member_id=HUB,
        nats_creds=test_bed.trust.creds(HUB),
    )
    return settings, common


async def hub_intake(
    test_bed: Bed, database: str, schema: str, heads: dict[str, int], durable: str
) -> tuple[float, dict[str, Any]]:
    """The hub's runtime from an empty read model until it has applied every event."""
    from services.ministry_hub.bootstrap import build_runtime

    settings, common = hub_settings(test_bed, database, schema, durable)
    runtime = build_runtime(settings, common)
    sources = runtime.applier.intake.sources
    started, cpu = time.perf_counter(), time.process_time()
    await runtime.start()
    deadline = time.monotonic() + 3600
    while any((sources[o].sequence if o in sources else 0) < head for o, head in heads.items()):
        if time.monotonic() > deadline:
            raise RuntimeError("the hub did not apply everything in an hour")
        await asyncio.sleep(0.01)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    states = {o: sources[o] for o in heads}
    await runtime.stop()
    summary = {
        "cpu_seconds": cpu,
        "applied": sum(s.applied for s in states.values()),
        "dead_letters": sum(s.dead_letters for s in states.values()),
        "checkpoints": {o: s.checkpoint_status for o, s in states.items()},
    }
    return elapsed, summary


def drop_schema(url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def postgres_problem(url: str) -> str | None:
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=3) as connection:
            connection.execute("SELECT 1")
    except Exception as error:
        return str(error)
    return None


# -- rebuild, in processes of their own ----------------------------------------------------------


@contextmanager
def profiled(directory: str | None, name: str) -> Iterator[None]:
    """With `--profile DIR`: a pyinstrument profile of the block, as text, in DIR/<name>.txt."""
    if not directory:
        yield
        return
    from pyinstrument import Profiler

    profiler = Profiler(async_mode="disabled")
    profiler.start()
    try:
        yield
    finally:
        profiler.stop()
        Path(directory).mkdir(parents=True, exist_ok=True)
        (Path(directory) / f"{name}.txt").write_text(profiler.output_text(show_all=False))


def child(
    kind: str,
    test_bed: Bed,
    counts: dict[str, int],
    workdir: Path,
    profile: str | None,
    workers: int = 1,
) -> dict[str, Any]:
    spec = {
        "workers": workers,
        "profile": profile,
        "kind": kind,
        "url": test_bed.nats.url,
        "seed": str(test_bed.trust.creds(HUB)),
        "registry": str(test_bed.trust.registry_path),
        "counts": counts,
        "database": str(workdir / "rebuilt.db"),
    }
    out = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
    )
    if out.returncode:
        raise RuntimeError(f"the {kind} process failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


async def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    counts: dict[str, int] = spec["counts"]
    if spec["kind"] == "raw":
        seconds, cpu = await raw_fetch(spec["url"], spec["seed"], HUB, counts, 2000, puller=True)
        return {
            "seconds": seconds,
            "cpu_seconds": cpu,
            "events": sum(counts.values()),
            "rss_mb": peak_rss_mb(),
        }
    raise ValueError(f"unknown child {spec['kind']!r}")


def rebuild_child(spec: dict[str, Any]) -> dict[str, Any]:
    """`pls hub rebuild` from the streams (no journals here) into a fresh SQLite read model, in
    `spec["workers"]` processes; CPU and peak memory are of all of them."""
    from pls.rebuild import Store, positions
    from pls.rebuild_command import Target, rebuild_into
    from pls.settings import CommonSettings
    from pls.trust.registry import FederationRegistry
    from services.ministry_hub.adapters.readmodel import SHARD_TABLES
    from services.ministry_hub.bootstrap import projection_over
    from services.ministry_hub.settings import HubSettings

    counts: dict[str, int] = spec["counts"]
    store = Store(spec["database"], "hub")
    settings = HubSettings(provinces=list(counts))
    target = Target(
        title="the national read model",
        service="hub",
        live=store,
        projection_over=lambda db: projection_over(db, settings),
        origins=list(counts),
        journal=None,
        common=CommonSettings(nats_url=spec["url"], nats_creds=Path(spec["seed"]), member_id=HUB),
        service_url="",
        operator_token=None,
        put=lambda live, fresh, keep: None,
        registry=FederationRegistry.load(Path(spec["registry"])),
        shard_tables=SHARD_TABLES,
    )
    store.drop()
    started, cpu = time.perf_counter(), _cpu_with_children()
    result = rebuild_into(target, store, use_streams=True, workers=spec["workers"])
    seconds, cpu = time.perf_counter() - started, _cpu_with_children() - cpu
    database = store.open()
    try:
        sources = positions(database)
    finally:
        database.close()
    processes = result["processes"]
    workers = [p for p in processes if p["pid"] != os.getpid()]
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "events": sum(s.sequence for s in sources.values()),
        "applied": sum(s.applied for s in sources.values()),
        "dead_letters": sum(s.dead_letters for s in sources.values()),
        "checkpoints": {o: s.checkpoint_status for o, s in sources.items()},
        "processes": len(processes),
        # every process's peak, added up: a forked worker's counts what it shares with this one
        "rss_mb": peak_rss_mb() + sum(p.get("vmhwm_mb", 0.0) for p in workers),
        "pss_mb": sum(p.get("pss_mb", 0.0) for p in processes),
        "each_rss_mb": [round(peak_rss_mb(), 1), *(p.get("vmhwm_mb") for p in workers)],
    }


def _cpu_with_children() -> float:
    mine, children = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return mine.ru_utime + mine.ru_stime + children.ru_utime + children.ru_stime


# -- the run -------------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> list[Figure]:
    workdir = Path(tempfile.mkdtemp(prefix="pls-bench-hub-"))
    figures: list[Figure] = []
    with bed(workdir) as test_bed:
        journals = {
            origin: ProvinceJournal(
                origin,
                SigningKey.from_file(test_bed.trust.signing_seed(province_member(origin))),
                args.checkpoint_every,
                seed=i,
            )
            for i, origin in enumerate(PROVINCES)
        }
        print(f"publishing {args.events:,} signed events over {len(PROVINCES)} provinces ...")
        heads = await publish(test_bed, journals, args.events)
        total = sum(heads.values())

        # Two baselines: the pulls the hub makes (`Puller`), and nats-py's own `fetch`, which
        # waits for every message in a task of its own and so pulls several times slower. The
        # ratio is taken against the faster one.
        raw_seconds, raw_cpu = await raw_fetch(
            test_bed.nats.url, str(test_bed.trust.creds(HUB)), HUB, heads, 500, puller=True
        )
        raw_rate = total / raw_seconds
        print(f"raw pulls: {total:,} messages in {raw_seconds:.2f} s", flush=True)
        fetch_seconds, fetch_cpu = await raw_fetch(
            test_bed.nats.url, str(test_bed.trust.creds(HUB)), HUB, heads, 500
        )
        print(f"raw nats-py fetch: {total:,} in {fetch_seconds:.2f} s", flush=True)

        backends = [("SQLite", str(workdir / "hub" / "national.db"), "hub")]
        problem = postgres_problem(args.postgres) if args.postgres else "not asked for"
        schema = f"bench_hub_{uuid.uuid4().hex[:10]}"
        if problem is None:
            backends.append(("PostgreSQL", args.postgres, schema))
        else:
            print(f"PostgreSQL skipped: {problem}")
        try:
            for label, database, schema_name in backends:
                (workdir / "hub").mkdir(exist_ok=True)
                with profiled(args.profile, f"hub-{label.lower()}"):
                    seconds, summary = await hub_intake(
                        test_bed, database, schema_name, heads, f"bench-{label.lower()}"
                    )
                print(f"hub intake on {label}: {total:,} events in {seconds:.1f} s", flush=True)
                if summary["dead_letters"]:
                    raise RuntimeError(f"the hub refused events: {summary}")
                figures.append(
                    Figure(
                        f"hub intake ({label}, signed events → national read model)",
                        total / seconds,
                        "events/s",
                        raw_rate,
                        "raw pulls, no processing",
                        "≥ 0.5 (aim 0.7)",
                        {
                            "events": total,
                            "seconds": round(seconds, 2),
                            "CPU µs/event": round(summary["cpu_seconds"] / total * 1e6, 1),
                            "raw pulls CPU µs/event": round(raw_cpu / total * 1e6, 1),
                            "nats-py fetch events/s": round(total / fetch_seconds),
                            "its CPU µs/event": round(fetch_cpu / total * 1e6, 1),
                            "ratio to nats-py fetch": round(fetch_seconds / seconds, 2),
                        },
                    )
                )
        finally:
            if problem is None:
                drop_schema(args.postgres, schema)

        if args.rebuild_events > total:
            print(f"publishing up to {args.rebuild_events:,} events for the rebuild ...")
            heads = await publish(test_bed, journals, args.rebuild_events - total)
        rebuild_total = sum(heads.values())
        raw = child("raw", test_bed, heads, workdir, args.profile)
        print(f"raw pulls, own process: {rebuild_total:,} in {raw['seconds']:.1f} s")
        rebuilt = child(
            "rebuild", test_bed, heads, workdir, args.profile, workers=args.rebuild_workers
        )
        print(f"rebuild: {rebuild_total:,} in {rebuilt['seconds']:.1f} s", flush=True)
        if rebuilt["events"] != rebuild_total or rebuilt["dead_letters"]:
            raise RuntimeError(f"the rebuild did not apply every event: {rebuilt}")
        figures.append(
            Figure(
                "rebuild (streams → fresh SQLite national read model)",
                rebuild_total / rebuilt["seconds"],
                "events/s",
                rebuild_total / raw["seconds"],
                "raw pulls, own process",
                "≥ 20,000 events/s, peak RSS < 300 MB",
                {
                    "events": rebuild_total,
                    "seconds": round(rebuilt["seconds"], 1),
                    "CPU µs/event": round(rebuilt["cpu_seconds"] / rebuild_total * 1e6, 1),
                    "raw pulls CPU µs/event": round(raw["cpu_seconds"] / rebuild_total * 1e6, 1),
                    "processes": rebuilt["processes"],
                    "peak RSS MB": round(rebuilt["rss_mb"], 1),
                    "PSS MB at the end": round(rebuilt["pss_mb"], 1),
                    "raw pulls peak RSS MB": round(raw["rss_mb"], 1),
                },
            )
        )
    if not args.keep:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    return figures


if __name__ == "__main__":
    from pls.serve import settle_memory

    settle_memory()  # as every service process and `pls ... rebuild` do once started
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        spec = json.loads(sys.argv[2])
        with profiled(spec.get("profile"), spec["kind"]):
            if spec["kind"] == "rebuild":
                print(json.dumps(rebuild_child(spec)))
            else:
                print(json.dumps(asyncio.run(run_child(spec))))
        sys.exit(0)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: well under a minute")
    parser.add_argument("--events", type=int, help="events for the live intake (200,000)")
    parser.add_argument("--rebuild-events", type=int, help="events to rebuild from (1,000,000)")
    parser.add_argument("--checkpoint-every", type=int, default=5000)
    parser.add_argument(
        "--rebuild-workers",
        type=int,
        help="processes for the rebuild, as `pls hub rebuild --workers` (default: one a core)",
    )
    parser.add_argument("--postgres", default=POSTGRES_URL, help="'' to skip PostgreSQL")
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    parser.add_argument("--profile", help="write pyinstrument profiles of each part to this folder")
    parser.add_argument("--json", type=Path)
    arguments = parser.parse_args()
    if arguments.events is None:
        arguments.events = 8_000 if arguments.quick else 200_000
    if arguments.rebuild_events is None:
        arguments.rebuild_events = 24_000 if arguments.quick else 1_000_000
    if arguments.rebuild_workers is None:
        from pls.rebuild_command import default_workers

        arguments.rebuild_workers = default_workers()
    report(asyncio.run(main(arguments)), arguments.json)

"""Relay benchmark: a province node's stored events to JetStream, beside raw nats-py publishing.

    python bench/relay.py --events 200000     # make bench
    python bench/relay.py --quick             # 6,000 events (make bench-quick)

The node's event store is filled first (not timed). Then, measured:
- journal writer: notification log → signed, numbered, hash-chained journal (one transaction a batch);
- relay: journal → JetStream with Nats-Msg-Id, position saved after the acks;
- end to end: both running together from a freshly filled store, as in a node that was offline;
- baseline: nats-py `publish_async` of the very same message bodies to a stream of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats

from bench.common import Bed, Figure, bed, report
from pls.settings import CommonSettings
from pls.trust.local import OPERATOR, province_member
from pls.trust.natsconfig import inbox_prefix
from services.province_node.bootstrap import NodeRuntime, build_runtime
from services.province_node.domain.case import Applicant, Case
from services.province_node.settings import NodeSettings

PROVINCE = "440000"
COUNTIES = ["440106", "440104", "440303", "440605", "441900"]


def node(test_bed: Bed, name: str, relay: bool) -> NodeRuntime:
    member = province_member(PROVINCE)
    settings = NodeSettings(
        province=PROVINCE,
        database=str(test_bed.directory / name / "node.db"),
        signing_seed=test_bed.trust.signing_seed(member),
        pseudonym_secret_file=test_bed.trust.pseudonym_secret(PROVINCE),
        cipher_key_file=test_bed.trust.cipher_key(PROVINCE),
        relay_enabled=relay,
        checkpoint_interval=3600,
        projection_batch=2000,
        relay_batch=2000,
    )
    common = CommonSettings(
        var_dir=test_bed.directory,
        nats_url=test_bed.nats.url,
        trust_registry=test_bed.trust.registry_path,
        member_id=member,
        nats_creds=test_bed.trust.creds(member),
    )
    return build_runtime(settings, common)


def fill(runtime: NodeRuntime, events: int) -> None:
    """Cases opened and concluded, saved 500 aggregates at a time (two events each)."""
    app = runtime.app
    applicant = Applicant(name="张三", phone="13800138000")
    made = 0
    while made < events:
        cases = []
        for i in range(min(500, (events - made) // 2)):
            case = Case.open(
                id=uuid.uuid4(),
                province=PROVINCE,
                service_type="consultation",
                channel="hotline_12348",
                platform_level=None,
                county=COUNTIES[i % len(COUNTIES)],
                received_at=datetime.now(UTC),
                applicant=applicant,
                applicant_id="ab" * 16,
                applicant_categories=[],
            )
            case.conclude("advice_given")
            cases.append(case)
        app.save(*cases)
        made += 2 * len(cases)


def write_journal(runtime: NodeRuntime) -> float:
    projection = runtime.projection
    head = runtime.app.recorder.max_notification_id() or 0
    started = time.perf_counter()
    while projection.position < head:
        projection.run_once()
    return time.perf_counter() - started


async def relay_until_done(runtime: NodeRuntime, head: int) -> float:
    relay = runtime.relay
    assert relay is not None
    started = time.perf_counter()
    await relay.start()
    while relay.position < head:
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - started
    await relay.stop()
    return elapsed


async def end_to_end(runtime: NodeRuntime, events: int) -> float:
    relay = runtime.relay
    assert relay is not None
    started = time.perf_counter()
    runtime.projection.start()
    await relay.start()
    while relay.position < events:
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - started
    await relay.stop()
    runtime.projection.stop()
    return elapsed


async def raw_publish(test_bed: Bed, messages: list[tuple[str, bytes, str]]) -> float:
    client = await nats.connect(
        test_bed.nats.url,
        nkeys_seed=str(test_bed.trust.creds(OPERATOR)),
        inbox_prefix=inbox_prefix(OPERATOR),
    )
    js = client.jetstream()
    await js.add_stream(name="BENCH_RAW", subjects=["bench.raw.>"], duplicate_window=1200)
    started = time.perf_counter()
    for subject, body, event_id in messages:
        await js.publish_async(
            "bench.raw." + subject.split(".", 2)[2], body, headers={"Nats-Msg-Id": event_id}
        )
    await js.publish_async_completed()
    elapsed = time.perf_counter() - started
    await client.close()
    return elapsed


async def main(args: argparse.Namespace) -> list[Figure]:
    with bed() as test_bed:
        first = node(test_bed, "first", relay=True)
        fill(first, args.events)
        writer_seconds = write_journal(first)
        entries = first.views.journal_after(0, args.events + 10)
        head = entries[-1].sequence
        relay_seconds = await relay_until_done(first, head)
        messages = [(e.subject, e.body, e.event_id) for e in entries]
        raw_seconds = await raw_publish(test_bed, messages)
        first.close()

        second = node(test_bed, "second", relay=True)
        fill(second, args.events)
        client = await nats.connect(
            test_bed.nats.url,
            nkeys_seed=str(test_bed.trust.creds(OPERATOR)),
            inbox_prefix=inbox_prefix(OPERATOR),
        )
        await client.jetstream().purge_stream("PLS_440000")
        await client.close()
        both_seconds = await end_to_end(second, args.events)
        second.close()

    raw_rate = len(messages) / raw_seconds
    extra: dict[str, Any] = {"events": len(messages)}
    return [
        Figure(
            "relay end to end (store → journal → JetStream)",
            args.events / both_seconds,
            "events/s",
            raw_rate,
            "raw publish_async",
            "≥ 0.5",
            extra,
        ),
        Figure(
            "relay alone (journal → JetStream)",
            head / relay_seconds,
            "events/s",
            raw_rate,
            "raw publish_async",
            "≥ 0.5",
        ),
        Figure("journal writer (store → signed journal)", args.events / writer_seconds, "events/s"),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--quick", action="store_true", help="6,000 events (make bench-quick)")
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.events = 6_000
    report(asyncio.run(main(arguments)), arguments.json)

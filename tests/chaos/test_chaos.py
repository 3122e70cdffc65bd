"""Faults against a real federation under load; every scenario ends with nothing lost, nothing
counted twice, and the completeness view saying so.

The processes are real: nats-server, two province nodes (one with its relay in a process of its
own), the hub. The traffic is exact (see `harness.Traffic`).
"""

from __future__ import annotations

import asyncio
import random
import signal
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from contracts.envelope import canonical_bytes, format_sequence
from contracts.subjects import stream_name
from pls.federation import Federation
from pls.trust.keys import SigningKey
from pls.trust.local import province_member
from pls.trust.signing import sign_event
from tests.chaos.harness import (
    SEPARATE_RELAY,
    Figures,
    Profile,
    Traffic,
    figures,
    restart,
    rss_mb,
    settle,
)
from tests.support import FederationAuth, jetstream

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(3600)]
Record = Callable[[Figures], Figures]


def traffic_for(federation: Federation, profile: Profile) -> Traffic:
    nodes = {p: federation.node_url(p) for p in federation.provinces}
    return Traffic(nodes, profile.rate, auth=FederationAuth(federation)).start().wait_flowing()


def pause(rng: random.Random, between: tuple[float, float]) -> None:
    time.sleep(rng.uniform(*between))


def metric(url: str, name: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


def test_hub_killed_at_random_moments(
    federation: Federation, profile: Profile, record: Record
) -> None:
    rng = random.Random(1)
    traffic = traffic_for(federation, profile)
    time.sleep(profile.warm_up)
    for _ in range(profile.kills):
        pause(rng, profile.between_kills)
        federation.kill("hub")
        time.sleep(rng.uniform(0, 0.5))
        restart(federation, "hub")
    traffic.stop()
    seconds = settle(federation, profile.settle_timeout)
    record(figures(f"1 hub kill -9 x{profile.kills}", federation, traffic, seconds))


def test_province_node_and_relay_killed(
    federation: Federation, profile: Profile, record: Record
) -> None:
    rng = random.Random(2)
    victims = ["node-440000", f"relay-{SEPARATE_RELAY}", f"node-{SEPARATE_RELAY}"]
    traffic = traffic_for(federation, profile)
    time.sleep(profile.warm_up)
    kills = 0
    for n in range(profile.kills * 2):
        pause(rng, profile.between_kills)
        victim = victims[n % len(victims)]
        federation.kill(victim)
        time.sleep(rng.uniform(0, 0.5))
        restart(federation, victim)
        kills += 1
    traffic.stop()
    seconds = settle(federation, profile.settle_timeout)
    record(
        figures(
            f"2 node/relay kill -9 x{kills}",
            federation,
            traffic,
            seconds,
            retried_commands=len(traffic.failures),
        )
    )


def test_nats_server_stopped_under_load(
    federation: Federation, profile: Profile, record: Record
) -> None:
    assert federation.nats is not None
    traffic = traffic_for(federation, profile)
    time.sleep(profile.warm_up)
    accepted_before = traffic.accepted
    stopped_at = time.monotonic()
    federation.nats.stop()
    time.sleep(profile.nats_outage)
    during = traffic.accepted - accepted_before
    federation.nats.start()
    back_at = time.monotonic()
    failed = traffic.failures_between(stopped_at, back_at)
    traffic.stop()
    seconds = settle(federation, profile.settle_timeout)
    assert failed == 0, f"{failed} writes failed while NATS was down"
    assert during > 0
    record(
        figures(
            f"3 nats-server down {profile.nats_outage:.0f} s",
            federation,
            traffic,
            seconds,
            accepted_while_down=during,
            failed_writes=failed,
        )
    )


def _truncate_stream_store(federation: Federation, province: str) -> int:
    """Cut the end off a stream's message blocks on disk, as a power failure could."""
    root = federation.var_dir / "nats" / "jetstream"
    cut = 0
    for block in root.rglob(f"streams/{stream_name(province)}/msgs/*.blk"):
        size = block.stat().st_size
        with block.open("r+b") as handle:
            handle.truncate(size // 2)
        cut += size - size // 2
    return cut


async def _until_undelivered(federation: Federation, provinces: list[str], timeout: float) -> None:
    """Until the hub's consumer of each province's stream has events waiting, not delivered."""
    deadline = time.monotonic() + timeout
    async with jetstream(federation.nats_url, federation.trust) as js:
        while True:
            pending = {
                province: (
                    await js.consumer_info(stream_name(province), "ministry-hub")
                ).num_pending
                for province in provinces
            }
            if all(pending.values()):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"no undelivered events while the hub is paused: {pending}")
            await asyncio.sleep(0.2)


def test_the_bus_loses_data_while_the_hub_is_behind(
    federation: Federation, profile: Profile, record: Record
) -> None:
    assert federation.nats is not None
    traffic = traffic_for(federation, profile)
    time.sleep(profile.warm_up)
    federation.pause("hub")
    # A pull the hub had open when it stopped goes on delivering into its socket for up to the
    # pull's expiry: the hub is only behind once its streams hold events never delivered to it.
    asyncio.run(_until_undelivered(federation, [SEPARATE_RELAY, "440000"], timeout=30.0))

    async def purge() -> int:
        async with jetstream(federation.nats_url, federation.trust) as js:
            info = await js.stream_info(stream_name(SEPARATE_RELAY))
            await js.purge_stream(stream_name(SEPARATE_RELAY))
            return int(info.state.messages)

    purged = asyncio.run(purge())
    federation.nats.stop()
    truncated = _truncate_stream_store(federation, "440000")
    federation.nats.start()
    time.sleep(1.0)  # the provinces' relays publish to the recovered store before the hub resumes
    federation.resume("hub")
    traffic.stop()
    seconds = settle(federation, profile.settle_timeout)
    backfilled = metric(federation.hub_url, "pls_hub_backfilled_total")
    assert backfilled > 0, "the hub should have fetched what the bus lost from the journals"
    record(
        figures(
            "4 stream purged + store truncated",
            federation,
            traffic,
            seconds,
            purged_messages=purged,
            truncated_bytes=truncated,
            backfilled=int(backfilled),
        )
    )


def test_duplicates_and_a_rewound_relay_count_once(
    federation: Federation, profile: Profile, record: Record
) -> None:
    rng = random.Random(5)
    traffic = traffic_for(federation, profile)
    time.sleep(profile.warm_up * 2)

    async def republish() -> int:
        count = 0
        async with jetstream(federation.nats_url, federation.trust) as js:
            for province in federation.provinces:
                stream = stream_name(province)
                info = await js.stream_info(stream)
                sequences = range(info.state.first_seq, info.state.last_seq + 1)
                chosen = rng.sample(list(sequences), max(1, len(sequences) // 10))
                for sequence in chosen:
                    message = await js.get_msg(stream, sequence)
                    # A new message id: the stream keeps the copy, the hub must drop it.
                    await js.publish(
                        message.subject,
                        message.data,
                        stream=stream,
                        headers={"Nats-Msg-Id": f"copy-{uuid.uuid4()}"},
                    )
                    count += 1
        return count

    copies = asyncio.run(republish())
    rewound = 0
    with httpx.Client(timeout=10, auth=FederationAuth(federation)) as client:
        for province in federation.provinces:
            head = client.get(f"{federation.node_url(province)}/v1/journal/head").json()
            after = head["sequence"] // 2
            response = client.post(
                f"{federation.node_url(province)}/v1/relay/rewind", json={"after": after}
            )
            assert response.status_code == 200, response.text
            rewound += head["sequence"] - after
    time.sleep(profile.warm_up)
    traffic.stop()
    seconds = settle(federation, profile.settle_timeout)
    with httpx.Client(timeout=10, auth=FederationAuth(federation)) as client:
        rows = client.get(f"{federation.hub_url}/v1/national/freshness").json()["rows"]
    dropped = sum(row["duplicates"] for row in rows)
    assert dropped >= copies, f"{copies} copies reached the hub but {dropped} were dropped"
    record(
        figures(
            "5 10% republished + relay rewound",
            federation,
            traffic,
            seconds,
            republished=copies,
            rewound=rewound,
            duplicates_dropped=dropped,
        )
    )


def _poison(federation: Federation, province: str) -> list[tuple[str, bytes, str]]:
    """(subject, body, what is wrong) for every kind of bad message, in `province`'s stream."""
    with httpx.Client(timeout=10, auth=FederationAuth(federation)) as client:
        head = client.get(f"{federation.node_url(province)}/v1/journal/head").json()["sequence"]
        first = orjson.loads(
            client.get(
                f"{federation.node_url(province)}/v1/journal", params={"after": 0, "limit": 1}
            ).content
        )["events"][0]
    subject = f"pls.{province}.case.opened"

    own_key = SigningKey.from_file(federation.trust.signing_seed(province_member(province)))
    other = "110000" if province != "110000" else "440000"
    others_key = SigningKey.from_file(federation.trust.signing_seed(province_member(other)))

    def variant(key: SigningKey | None = own_key, **changes: Any) -> bytes:
        """A copy of the province's first event, changed, and signed as the province would."""
        event = {**first, "id": str(uuid.uuid4()), **changes}
        event["data"] = {**first["data"], "case_id": str(uuid.uuid4())}
        event.pop("signature", None)
        return canonical_bytes(sign_event(event, key) if key else event)

    bad_data_event = orjson.loads(variant(sequence=format_sequence(head + 10_000), key=None))
    bad_data_event["data"] = {"case_id": "x"}
    bad_data_signed = canonical_bytes(sign_event(bad_data_event, own_key))
    return [
        (subject, variant(key=None, sequence=format_sequence(head + 4)), "not signed"),
        (
            subject,
            variant(key=others_key, sequence=format_sequence(head + 5)),
            "signed by another province",
        ),
        (subject, b"\x00\xff not json at all", "not JSON"),
        (subject, b"[1, 2, 3]", "JSON but not an object"),
        (subject, b'{"specversion": "1.0", "id": "x"}', "missing attributes"),
        (subject, variant(sequence="0" * 20), "sequence zero"),
        (subject, bad_data_signed, "data fails its schema"),
        (
            subject,
            variant(type="cn.gov.moj.pls.case.exploded.v1", sequence=format_sequence(head + 1)),
            "unknown type at the next sequence",
        ),
        (
            subject,
            variant(type="cn.gov.moj.pls.case.opened.v9", sequence=format_sequence(1)),
            "unknown version at an applied sequence",
        ),
        (
            subject,
            variant(source=f"/pls/{other}/province-node", sequence=format_sequence(head + 2)),
            "another province's source",
        ),
        (
            f"pls.{province}.case.concluded",
            variant(sequence=format_sequence(head + 3)),
            "type does not match the subject",
        ),
    ]


def test_poison_messages_are_dead_lettered_and_the_hub_carries_on(
    federation: Federation, profile: Profile, record: Record
) -> None:
    traffic = traffic_for(federation, profile)
    time.sleep(profile.warm_up)
    sent: list[str] = []

    async def publish() -> None:
        async with jetstream(federation.nats_url, federation.trust) as js:
            for province in federation.provinces:
                for subject, body, what in _poison(federation, province):
                    await js.publish(subject, body, stream=stream_name(province))
                    sent.append(f"{province}: {what}")

    asyncio.run(publish())
    time.sleep(profile.warm_up)  # the traffic goes on after the poison
    traffic.stop()
    seconds = settle(federation, profile.settle_timeout)
    with httpx.Client(timeout=10, auth=FederationAuth(federation)) as client:
        letters = client.get(
            f"{federation.hub_url}/v1/dead-letters", params={"per_page": 200}
        ).json()
    assert letters["total_items"] == len(sent), (letters["total_items"], sent)
    assert all(letter["reason"] for letter in letters["contents"])
    record(
        figures(
            "6 poison messages",
            federation,
            traffic,
            seconds,
            poison=len(sent),
            dead_lettered=letters["total_items"],
        )
    )


def test_hub_paused_catches_up_with_bounded_memory(
    federation: Federation, profile: Profile, record: Record
) -> None:
    traffic = traffic_for(federation, profile)
    time.sleep(profile.warm_up * 2)
    before = rss_mb(federation, "hub")
    federation.pause("hub")
    paused_at = traffic.accepted
    time.sleep(profile.hub_pause)
    backlog = traffic.accepted - paused_at
    federation.resume("hub")
    samples = [before]
    catching_up = threading.Event()

    def sample() -> None:
        while not catching_up.is_set():
            samples.append(rss_mb(federation, "hub"))
            time.sleep(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    traffic.stop()
    try:
        seconds = settle(federation, profile.settle_timeout)
    finally:
        catching_up.set()
        sampler.join()
    after = rss_mb(federation, "hub")
    peak = max(*samples, after)
    assert peak - before < 200, f"hub memory grew from {before:.0f} MB to {peak:.0f} MB"
    record(
        figures(
            f"7 hub paused {profile.hub_pause:.0f} s",
            federation,
            traffic,
            seconds,
            accepted_while_paused=backlog,
            rss_mb=f"{before:.0f}/{peak:.0f}/{after:.0f}",
        )
    )


def test_sigterm_drains_and_saves_positions(
    federation: Federation, profile: Profile, record: Record
) -> None:
    traffic = traffic_for(federation, profile)
    time.sleep(profile.warm_up)
    stopped = {}
    for name in ("hub", "node-440000", f"relay-{SEPARATE_RELAY}"):
        child = federation.child(name)
        started = time.monotonic()
        child.process.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then re-raises the signal: -15 is a clean stop.
        assert child.process.wait(30) in (0, -signal.SIGTERM), f"{name} did not stop cleanly"
        stopped[name] = round(time.monotonic() - started, 1)
        restart(federation, name)
    log = federation.child("hub").log.read_text(errors="replace")
    assert "ministry hub stopped; positions saved" in log
    traffic.stop()
    seconds = settle(federation, profile.settle_timeout)
    record(
        figures(
            "  SIGTERM hub, node, relay",
            federation,
            traffic,
            seconds,
            stop_seconds="/".join(str(v) for v in stopped.values()),
        )
    )

"""Commands run from the event loop (`ProvinceNode.execute`): answered once stored, stored in
groups, and answered exactly as a command committing by itself would be when two race."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from contracts.vocabulary import CaseStatus
from services.province_node.application.node import ConcurrentChange, ProvinceNode
from services.province_node.domain.context import CommandContext
from services.province_node.domain.errors import IdempotencyKeyReused, TransitionNotAllowed
from services.province_node.settings import NodeSettings
from tests.unit.samples import case_fields, make_node, open_case


def transactions(node: ProvinceNode) -> list[int]:
    """How many events each transaction stored, in order, from now on."""
    sizes: list[int] = []
    node.on_recorded.append(lambda recordings: sizes.append(len(recordings)))
    return sizes


async def together(node: ProvinceNode, commands: list[Callable[[], Any]]) -> list[Any]:
    """Start `commands` while another transaction commits, so they are committed as one group."""
    node._committing.acquire()  # the other transaction
    try:
        running = [asyncio.ensure_future(command()) for command in commands]
        await asyncio.sleep(0.01)  # each runs up to waiting for its commit
        assert len(node._queue) == len(commands), "every command waits for the next commit"
    finally:
        node._committing.release()
    return await asyncio.gather(*running, return_exceptions=True)


def opening(node: ProvinceNode, key: str, fingerprint: str = "first") -> Callable[[], Any]:
    return lambda: node.execute(
        CommandContext(actor="clerk", command_id=key),
        lambda: node.open_case(**case_fields(idempotency_key=key, fingerprint=fingerprint)),
    )


def accepting(node: ProvinceNode, case_id: Any, key: str) -> Callable[[], Any]:
    return lambda: node.execute(
        CommandContext(actor="clerk", command_id=key), lambda: node.accept_case(case_id)
    )


async def test_commands_at_the_same_moment_are_stored_in_one_transaction() -> None:
    node = make_node()
    sizes = transactions(node)
    results = await together(node, [opening(node, f"open-{i}") for i in range(8)])
    assert sizes == [8]
    assert len({case.id for case, created in results if created}) == 8
    for case, _ in results:
        assert node.get_case(case.id).status == CaseStatus.RECEIVED


async def test_an_answer_comes_only_after_its_events_are_stored() -> None:
    node = make_node()
    node._committing.acquire()  # a transaction that does not finish yet
    try:
        task = asyncio.ensure_future(opening(node, "open-1")())
        await asyncio.sleep(0.05)
        assert not task.done()
        assert node.recorder.max_notification_id() is None
    finally:
        node._committing.release()
    case, created = await task
    assert created and node.get_case(case.id).version == 1


async def test_two_commands_on_one_case_one_wins_the_other_is_a_conflict() -> None:
    node = make_node()
    case, other = open_case(node), open_case(node)
    results = await together(
        node,
        [
            accepting(node, case.id, "accept-by-clerk-a"),
            accepting(node, case.id, "accept-by-clerk-b"),
            accepting(node, other.id, "accept-by-clerk-c"),
        ],
    )
    assert [type(result) for result in results].count(ConcurrentChange) == 1
    assert node.get_case(case.id).version == 2
    assert node.get_case(other.id).status == CaseStatus.ACCEPTED


async def test_a_retry_racing_its_first_attempt_gets_that_attempts_answer() -> None:
    node = make_node()
    case = open_case(node)
    first, retry = await together(
        node, [accepting(node, case.id, "call-1"), accepting(node, case.id, "call-1")]
    )
    assert first.status == retry.status == CaseStatus.ACCEPTED
    assert first.version == retry.version == 2
    assert len(list(node.repository.event_store.get(case.id))) == 2


async def test_an_open_retried_at_the_same_moment_makes_one_case() -> None:
    node = make_node()
    first, retry = await together(node, [opening(node, "open-1"), opening(node, "open-1")])
    assert first[0].id == retry[0].id
    assert sorted([first[1], retry[1]]) == [False, True]
    assert node.recorder.max_notification_id() == 1


async def test_a_key_reused_for_another_request_at_the_same_moment_is_refused() -> None:
    node = make_node()
    results = await together(
        node, [opening(node, "open-1", "first"), opening(node, "open-1", "other")]
    )
    assert [type(result) for result in results].count(IdempotencyKeyReused) == 1
    assert node.recorder.max_notification_id() == 1


async def test_with_sqlite_reads_are_answered_on_the_event_loop() -> None:
    node = make_node()
    case = open_case(node)
    ran_in: list[int] = []

    def reading() -> Any:
        ran_in.append(threading.get_ident())
        return node.get_case(case.id)

    assert (await node.read(reading)).id == case.id
    assert ran_in == [threading.get_ident()]


async def test_a_refused_command_stores_nothing_and_holds_nothing_up() -> None:
    node = make_node()
    case = open_case(node)
    context = CommandContext(actor="clerk", command_id="start-too-early")
    with pytest.raises(TransitionNotAllowed):
        await node.execute(context, lambda: node.start_case(case.id))
    accepted = await accepting(node, case.id, "accept-1")()
    assert accepted.version == 2


async def test_a_node_closed_by_its_own_committer_thread_closes() -> None:
    """The last reference to a node can be dropped in its committer thread, which then closes it."""
    node = make_node()
    await opening(node, "open-1")()
    node._committer.submit(node.close).result(timeout=5)  # raised "cannot join current thread"


@pytest.mark.postgres
async def test_on_postgresql_commands_and_reads_run_in_worker_threads(
    tmp_path: Path, postgres_url: str, pg_schema: str
) -> None:
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(f"CREATE SCHEMA {pg_schema}")
    settings = NodeSettings(province="440000", database=postgres_url, schema_name=pg_schema)
    node = ProvinceNode("440000", b"secret", env=settings.eventsourcing_env(tmp_path))
    try:
        ran_in: list[int] = []

        def register() -> Any:
            ran_in.append(threading.get_ident())
            return open_case(node)

        case = await node.execute(CommandContext(actor="clerk"), register)

        def reading() -> Any:
            ran_in.append(threading.get_ident())
            return node.get_case(case.id)

        read = await node.read(reading)
        assert len(ran_in) == 2 and threading.get_ident() not in ran_in
        assert read.status == CaseStatus.RECEIVED
    finally:
        node.close()

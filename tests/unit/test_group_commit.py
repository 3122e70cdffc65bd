"""Commands that arrive while another commits are stored together, each answered as if alone."""

from __future__ import annotations

import threading
import time
from typing import Any

from contracts.vocabulary import CaseStatus
from services.province_node.application.node import ConcurrentChange, ProvinceNode
from services.province_node.domain.context import CommandContext, acting
from tests.unit.samples import make_node, open_case


def queued_while_committing(node: ProvinceNode, commands: list[Any]) -> list[Any]:
    """Run `commands` in threads while a commit is in progress, so they form one group."""
    results: list[Any] = [None] * len(commands)

    def run(index: int) -> None:
        try:
            results[index] = commands[index]()
        except Exception as error:
            results[index] = error

    with node._committing:  # another command's transaction is committing
        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(commands))]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 5
        while len(node._queue) < len(commands) and time.monotonic() < deadline:
            time.sleep(0.001)
        assert len(node._queue) == len(commands)
    for thread in threads:
        thread.join()
    return results


def test_cases_opened_at_the_same_moment_are_all_stored_in_one_transaction() -> None:
    node = make_node()
    head = node.recorder.max_notification_id() or 0
    cases = queued_while_committing(node, [lambda: open_case(node) for _ in range(8)])
    assert len({case.id for case in cases}) == 8
    for case in cases:
        assert node.get_case(case.id).status == CaseStatus.RECEIVED
    assert (node.recorder.max_notification_id() or 0) - head == 8


def test_two_commands_on_one_case_in_a_group_one_wins_the_other_is_a_conflict() -> None:
    node = make_node()
    case = open_case(node)
    other = open_case(node)

    def accept(case_id: Any, key: str) -> Any:
        with acting(CommandContext(command_id=key)):
            loaded = node.get_case(case_id)
            loaded.accept()
            node.save(loaded)
            return loaded

    results = queued_while_committing(
        node,
        [
            lambda: accept(case.id, "a"),
            lambda: accept(case.id, "b"),
            lambda: accept(other.id, "c"),
        ],
    )
    conflicts = [r for r in results if isinstance(r, ConcurrentChange)]
    assert len(conflicts) == 1
    assert node.get_case(case.id).status == CaseStatus.ACCEPTED
    assert node.get_case(case.id).version == 2
    assert node.get_case(other.id).status == CaseStatus.ACCEPTED

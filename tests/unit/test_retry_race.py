"""A retried command that races with its own first attempt gets that attempt's result."""

from __future__ import annotations

from typing import Any

import pytest

from contracts.vocabulary import CaseStatus
from services.province_node.application.node import ConcurrentChange, ProvinceNode
from services.province_node.domain.context import CommandContext, acting
from tests.unit.samples import make_node, open_case


def stale_once(node: ProvinceNode, stale: Any) -> None:
    """The next load returns `stale`: a copy read before the other attempt saved."""
    load = node._load

    def loading(kind: Any, aggregate_id: Any) -> Any:
        node._load = load  # type: ignore[method-assign]
        return stale

    node._load = loading  # type: ignore[method-assign]


def test_a_retry_racing_its_first_attempt_succeeds_once() -> None:
    node = make_node()
    case = open_case(node)
    with acting(CommandContext(command_id="call-accept-1")):
        stale = node.get_case(case.id)
        node.accept_case(case.id)  # the first attempt, whose answer never reached the client
        stale_once(node, stale)
        retried = node.accept_case(case.id)  # the retry, loaded before the first one saved
    assert retried.status == CaseStatus.ACCEPTED
    assert retried.version == 2
    assert len(list(node.repository.event_store.get(case.id))) == 2


def test_a_different_command_racing_is_still_a_conflict() -> None:
    node = make_node()
    case = open_case(node)
    stale = node.get_case(case.id)
    with acting(CommandContext(command_id="accept-by-clerk-a")):
        node.accept_case(case.id)
    stale_once(node, stale)
    with acting(CommandContext(command_id="reject-by-clerk-b")), pytest.raises(ConcurrentChange):
        node.reject_case(case.id, "outside_scope")

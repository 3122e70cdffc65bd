"""Fixtures for the unit suite: no network, no NATS; in-memory event stores."""

from __future__ import annotations

import pytest

from services.province_node.application.node import ProvinceNode
from tests.unit.samples import make_node


@pytest.fixture
def node() -> ProvinceNode:
    """A Guangdong province node on eventsourcing's in-memory (POPO) persistence."""
    return make_node()

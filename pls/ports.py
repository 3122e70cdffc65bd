"""Default local ports of the federation, chosen to stay clear of a NATS already on 4222."""

from __future__ import annotations

from contracts.subjects import PROVINCES

NATS = 14222
NATS_MONITOR = 18222
HUB = 18000
DIRECTORY = 18010
COMPLAINTS = 18020
NODE_BASE = 18100
RELAY_BASE = 18200

_ORDER = list(PROVINCES)


def node_port(province: str) -> int:
    """Each province node has its own port: 18100 for Beijing (110000) up to 18131 for the Corps."""
    return NODE_BASE + _ORDER.index(province)


def relay_port(province: str) -> int:
    """A relay run as its own process: 18200 for Beijing up to 18231 for the Corps."""
    return RELAY_BASE + _ORDER.index(province)

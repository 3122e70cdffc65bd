"""The node's relay: its journal to the province's JetStream stream (the shared `pls.publication`
relay, named for the province)."""

from __future__ import annotations

from typing import Any

from pls.publication.journal import Journal
from pls.publication.relay import Relay as OriginRelay
from pls.publication.relay import RelayPositionError, verify_chain

__all__ = ["Relay", "RelayPositionError", "verify_chain"]


class Relay(OriginRelay):
    def __init__(self, views: Journal, *, province: str, **options: Any) -> None:
        super().__init__(views, origin=province, **options)
        self.province = province

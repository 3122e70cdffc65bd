"""Publishing an event-sourced application's decisions to the federation, exactly as the province
nodes and the ministry's own services do it.

- `journal`: the journal of integration events as published, and the positions beside it;
- `handover`: what the event store hands the writer, and the writer the relay, in memory;
- `writer`: the notification log into the journal (numbered by the contiguous per-source sequence,
  chained by the running hash, with checkpoints), one transaction per batch;
- `relay`: the journal to the origin's JetStream stream, in order, at least once.
"""

from pls.publication.journal import PROJECTION, RELAY, Journal, JournalEntry
from pls.publication.relay import Relay, RelayPositionError, verify_chain
from pls.publication.writer import JournalCursor, JournalWriter

__all__ = [
    "PROJECTION",
    "RELAY",
    "Journal",
    "JournalCursor",
    "JournalEntry",
    "JournalWriter",
    "Relay",
    "RelayPositionError",
    "verify_chain",
]

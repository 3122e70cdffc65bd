"""Checkpoint events: what a province has published so far, so consumers can prove completeness."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from contracts.events.base import EventData


class CheckpointPublished(EventData):
    """The running hash over every event of this source with a sequence up to `through_sequence`.

    The hash chain is h(0) = 32 zero bytes, h(n) = SHA-256(h(n-1) || SHA-256(canonical event n)),
    where the canonical form of an event is given by `contracts.envelope.canonical_bytes`.
    """

    aggregate = "checkpoint"
    event = "published"
    through_sequence: int = Field(ge=0)
    running_hash: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]

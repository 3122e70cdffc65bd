"""The base of every aggregate at a node: events record who acted, in which trace, for which request."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate

from services.province_node.domain.context import current_command


class NodeAggregate(Aggregate):
    """An aggregate whose events carry the actor, traceparent and command id of the command."""

    class Event(Aggregate.Event):
        actor: str | None
        traceparent: str | None
        command_id: str | None

        def apply(self, aggregate: Any) -> None:
            self.evolve(aggregate)
            if self.command_id is not None:
                aggregate.handled_commands.add(self.command_id)

        def evolve(self, aggregate: Any) -> None:
            """How this event changes its aggregate; each event type says."""

    class Created(Event, Aggregate.Created):
        pass

    def __init__(self) -> None:
        self.handled_commands: set[str] = set()

    @classmethod
    def _create(cls, event_class: type[Any], *, id: UUID | None = None, **kwargs: Any) -> Any:
        return super()._create(event_class, id=id, **_context_kwargs(), **kwargs)

    def trigger_event(self, event_class: type[Any], **kwargs: Any) -> None:
        super().trigger_event(event_class, **_context_kwargs(), **kwargs)

    def has_handled(self, command_id: str | None) -> bool:
        """Whether a command with this id was already applied (a retried request)."""
        return command_id is not None and command_id in self.handled_commands


def _context_kwargs() -> dict[str, Any]:
    context = current_command()
    return {
        "actor": context.actor,
        "traceparent": context.traceparent,
        "command_id": context.command_id,
    }

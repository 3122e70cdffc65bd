"""Who is acting and on behalf of which trace and request, for the events a command records."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class CommandContext:
    actor: str | None = None
    traceparent: str | None = None
    command_id: str | None = None


_NOBODY = CommandContext()
_current: ContextVar[CommandContext] = ContextVar("command_context", default=_NOBODY)


def current_command() -> CommandContext:
    return _current.get()


@contextmanager
def acting(context: CommandContext) -> Iterator[CommandContext]:
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)

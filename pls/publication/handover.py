"""What one stage of publication hands the next in memory, so the next need not read it back.

The event store hands the journal writer the events each command committed; the writer hands the
relay the entries it appended. Either may miss something (a report lost, the handover full, a
restart): the taker then reads storage, which stays the record. What is handed over is only ever a
shortcut for the run that continues exactly where the taker is.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class Handover(Generic[T]):
    """Items numbered consecutively, handed over in order by one thread and taken by another.

    At most `capacity` items wait; beyond that new ones are dropped (the taker reads them from
    storage). `collections.deque` appends and pops are atomic, so no lock is needed with one
    thread adding and one taking."""

    def __init__(self, number: Callable[[T], int], capacity: int) -> None:
        self._number = number
        self._capacity = capacity
        self._items: deque[T] = deque()

    def add(self, items: Iterable[T]) -> None:
        if len(self._items) < self._capacity:
            self._items.extend(items)

    def take(self, after: int, limit: int) -> list[T]:
        """The items numbered `after` + 1, `after` + 2, ... up to the first gap (at most `limit`);
        what is numbered `after` or lower is dropped, being done."""
        items, number = self._items, self._number
        while items and number(items[0]) <= after:
            items.popleft()
        run: list[T] = []
        while items and len(run) < limit and number(items[0]) == after + 1 + len(run):
            run.append(items.popleft())
        return run

"""What one stage of publication hands the next in memory, so the next need not read it back.

The event store hands the journal writer the events each command committed; the writer hands the
relay the entries it appended. Either may miss something (a report lost, the handover full, a
restart): the taker then reads storage, which stays the record. What is handed over is only ever a
shortcut for the run that continues exactly where the taker is.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class Handover(Generic[T]):
    """Items numbered consecutively, handed over by one or more threads and taken by another.

    At most `capacity` items wait; beyond that new ones are dropped (the taker reads them from
    storage). `end` is the highest number ever handed over, kept or dropped: while the taker is
    there, nothing it has not seen was handed over. `collections.deque` appends and pops are
    atomic; only `end` needs a lock, for threads adding at once."""

    def __init__(self, number: Callable[[T], int], capacity: int) -> None:
        self._number = number
        self._capacity = capacity
        self._items: deque[T] = deque()
        self._lock = threading.Lock()
        self.end = 0

    def add(self, items: Sequence[T]) -> None:
        if not items:
            return
        last = max(map(self._number, items))
        with self._lock:
            self.end = max(self.end, last)
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

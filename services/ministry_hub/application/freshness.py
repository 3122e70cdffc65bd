"""How long after it happened at its province each event reached the national read model.

Every applied event's age at the commit of its batch is observed twice: in a histogram on
`/metrics` for a monitoring system, and in a window of the last minute (`RecentDelays`) that the
hub's `/v1/national/freshness` and its dashboard summarise, nationally and per province, so that
ministry staff see how far behind the national view is right now without a monitoring system.
"""

from __future__ import annotations

import math
import threading
import time
from array import array
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client import Histogram

from pls.intake.intake import Batch, SourceState
from services.ministry_hub.application.projection import NationalProjection

FRESHNESS = Histogram(
    "pls_hub_event_freshness_seconds",
    "From an event's time at its province (when its command was stored) to its batch being "
    "committed to the national read model. Events fetched late from a journal count with their "
    "full age.",
    buckets=(
        0.01,
        0.025,
        0.05,
        0.075,
        0.1,
        0.15,
        0.2,
        0.3,
        0.4,
        0.5,
        0.75,
        1.0,
        1.5,
        2.0,
        3.0,
        5.0,
        10.0,
        30.0,
        60.0,
        300.0,
    ),
)


@dataclass(frozen=True)
class Delays:
    """Quantiles of the ages of the events applied in a window (None when there were none)."""

    window_seconds: float
    events: int
    p50_seconds: float | None = None
    p90_seconds: float | None = None
    p99_seconds: float | None = None
    max_seconds: float | None = None

    @classmethod
    def of(cls, ages: Iterable[float], window_seconds: float) -> Delays:
        ordered = sorted(ages)
        n = len(ordered)
        if not n:
            return cls(window_seconds, 0)

        def rank(q: float) -> float:  # nearest rank: the smallest age at least q of them reach
            return round(ordered[max(0, math.ceil(q * n) - 1)], 3)

        return cls(window_seconds, n, rank(0.5), rank(0.9), rank(0.99), round(ordered[-1], 3))


class RecentDelays:
    """The ages of the events applied in the last `window` seconds, by origin.

    Kept as one entry per committed batch (its time and each origin's ages), so that a batch
    costs an append and old batches are dropped whole. At most `limit` ages are kept: under a
    load heavier than that a minute, the window is the most recent `limit` events, and says how
    many seconds it spans."""

    def __init__(
        self,
        window: float = 60.0,
        limit: int = 120_000,
        refresh: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window = window
        self.limit = limit
        self.refresh = refresh
        self.clock = clock
        self._batches: deque[tuple[float, dict[str, array[float]]]] = deque()
        self._kept = 0
        self._cut_at: float | None = None  # when a batch was last dropped to keep to the limit
        self._lock = threading.Lock()
        self._summary: tuple[float, tuple[Delays, dict[str, Delays]]] | None = None

    def add(self, ages: dict[str, array[float]]) -> None:
        size = sum(len(a) for a in ages.values())
        if not size:
            return
        with self._lock:
            self._batches.append((self.clock(), ages))
            self._kept += size
            self._prune()

    def _prune(self) -> None:
        batches = self._batches
        oldest = self.clock() - self.window
        while batches and batches[0][0] < oldest:
            self._drop()
        while self._kept > self.limit and len(batches) > 1:
            self._cut_at = self._drop()

    def _drop(self) -> float:
        at, ages = self._batches.popleft()
        self._kept -= sum(len(a) for a in ages.values())
        return at

    def summary(self) -> tuple[Delays, dict[str, Delays]]:
        """The whole federation's delays, and each origin's, over the window; worked out at
        most once every `refresh` seconds (sorting a busy minute's ages takes some 15 ms)."""
        now = self.clock()
        if self._summary is not None and now - self._summary[0] < self.refresh:
            return self._summary[1]
        result = self._summarise()
        self._summary = (now, result)
        return result

    def _summarise(self) -> tuple[Delays, dict[str, Delays]]:
        with self._lock:
            self._prune()
            batches = list(self._batches)
            cut_at = self._cut_at
        now = self.clock()
        window = self.window
        if batches and cut_at is not None and cut_at >= now - window:
            window = now - batches[0][0]  # the limit cut the window short
        by_origin: dict[str, list[float]] = defaultdict(list)
        for _, ages in batches:
            for origin, values in ages.items():
                by_origin[origin].extend(values)
        everything = [age for values in by_origin.values() for age in values]
        window = round(window, 1)
        return (
            Delays.of(everything, window),
            {origin: Delays.of(values, window) for origin, values in by_origin.items()},
        )


class FreshnessObserved:
    """The live national projection, observing each applied event's age once its batch is
    committed (a rebuild beside the live read model is not observed: its events are old)."""

    def __init__(self, projection: NationalProjection, recent: RecentDelays) -> None:
        self.projection = projection
        self.recent = recent

    def sources(self) -> list[SourceState]:
        return self.projection.sources()

    def reset(self, origin: str) -> SourceState:
        return self.projection.reset(origin)

    def commit(self, batch: Batch) -> None:
        self.projection.commit(batch)
        now = datetime.now(UTC)
        ages: dict[str, array[float]] = defaultdict(lambda: array("d"))
        observe = FRESHNESS.observe
        for item in batch.events:
            age = max(0.0, (now - item.envelope.time).total_seconds())
            observe(age)
            ages[item.origin].append(age)
        self.recent.add(ages)

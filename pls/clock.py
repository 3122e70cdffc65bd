"""What time it is for a service: the system clock, or one a test or a demonstration controls.

A `Timeline` maps real instants onto supervised time. At scale 1 they are the same; a
demonstration can run supervised time faster (e.g. one day every five seconds) from an epoch, so
periods of working days run out within minutes. Stored and published times stay real instants.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that moves only when told to (tests set it directly)."""

    def __init__(self, start: datetime) -> None:
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, moment: datetime) -> None:
        with self._lock:
            self._now = moment.astimezone(UTC)

    def advance(self, **delta: float) -> datetime:
        with self._lock:
            self._now += timedelta(**delta)
            return self._now


@dataclass(frozen=True)
class Timeline:
    """Real instants onto supervised time and back: `scale` supervised seconds per real second."""

    scale: float = 1.0
    epoch: datetime = EPOCH

    def __post_init__(self) -> None:
        if self.scale <= 0:
            raise ValueError("time scale must be positive")

    @property
    def compressed(self) -> bool:
        return self.scale != 1.0

    def supervised(self, moment: datetime) -> datetime:
        if not self.compressed:
            return moment
        return self.epoch + (moment - self.epoch) * self.scale

    def real(self, moment: datetime) -> datetime:
        if not self.compressed:
            return moment
        return self.epoch + (moment - self.epoch) / self.scale

    def days_between(self, start: datetime, end: datetime) -> float:
        """Supervised days from `start` to `end` (both real instants)."""
        return (self.supervised(end) - self.supervised(start)).total_seconds() / 86_400

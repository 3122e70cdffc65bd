"""The hub's window of recent delays: what `/v1/national/freshness` reports as `delay`."""

from __future__ import annotations

from array import array

from services.ministry_hub.application.freshness import Delays, RecentDelays


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def ages(*values: float) -> array[float]:
    return array("d", values)


def test_quantiles_are_nearest_rank_over_every_event_in_the_window() -> None:
    delays = Delays.of([0.1 * n for n in range(100, 0, -1)], 60.0)  # 0.1 .. 10.0 s, unsorted
    assert (
        delays.events,
        delays.p50_seconds,
        delays.p90_seconds,
        delays.p99_seconds,
        delays.max_seconds,
    ) == (
        100,
        5.0,
        9.0,
        9.9,
        10.0,
    )
    assert Delays.of([], 60.0) == Delays(60.0, 0, None, None, None, None)
    assert Delays.of([0.25], 60.0).p99_seconds == 0.25


def test_each_province_is_summarised_apart_and_together() -> None:
    clock = Clock()
    recent = RecentDelays(window=60.0, refresh=0.0, clock=clock)
    recent.add({"440000": ages(0.2, 0.4), "510000": ages(3.0)})
    clock.now += 1
    recent.add({"440000": ages(0.3)})
    national, provinces = recent.summary()
    assert (national.events, national.p50_seconds, national.max_seconds) == (4, 0.3, 3.0)
    assert (provinces["440000"].events, provinces["440000"].max_seconds) == (3, 0.4)
    assert (provinces["510000"].events, provinces["510000"].p50_seconds) == (1, 3.0)
    assert national.window_seconds == 60.0


def test_batches_older_than_the_window_are_forgotten() -> None:
    clock = Clock()
    recent = RecentDelays(window=60.0, refresh=0.0, clock=clock)
    recent.add({"440000": ages(9.0, 9.0)})  # a slow minute ago
    clock.now += 30
    recent.add({"440000": ages(0.5)})
    assert recent.summary()[0].max_seconds == 9.0
    clock.now += 31
    national, provinces = recent.summary()
    assert (national.events, national.max_seconds) == (1, 0.5)
    clock.now += 60
    national, provinces = recent.summary()
    assert (national.events, national.p99_seconds, provinces) == (0, None, {})


def test_under_more_load_than_the_limit_the_window_is_shorter_and_says_so() -> None:
    clock = Clock()
    recent = RecentDelays(window=60.0, limit=4, refresh=0.0, clock=clock)
    for second in range(10):
        recent.add({"440000": ages(float(second), float(second))})
        clock.now += 1
    national, _ = recent.summary()
    # The last two batches (four events) are kept: seconds 8 and 9, added 2 s and 1 s ago.
    assert (national.events, national.p50_seconds, national.max_seconds) == (4, 8.0, 9.0)
    assert national.window_seconds == 2.0
    clock.now += 120  # a minute later the cut no longer shortens the window
    assert recent.summary()[0] == Delays(60.0, 0)


def test_a_summary_is_worked_out_at_most_once_a_refresh() -> None:
    clock = Clock()
    recent = RecentDelays(window=60.0, refresh=1.0, clock=clock)
    recent.add({"440000": ages(0.5)})
    assert recent.summary()[0].events == 1
    recent.add({"440000": ages(0.7)})
    assert recent.summary()[0].events == 1  # asked again within the second: the same answer
    clock.now += 1.0
    assert recent.summary()[0].events == 2

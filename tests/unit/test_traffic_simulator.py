"""The traffic simulator under more load than the nodes answer."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from pls.simulator.traffic import Simulator


async def test_arrivals_beyond_what_is_answered_are_counted_not_piled_up(tmp_path: Path) -> None:
    report = tmp_path / "simulator.json"
    simulator = Simulator(
        {"440000": "http://127.0.0.1:9"}, rate=5_000.0, seed=1, concurrency=2, report=report
    )
    simulator.write_report()  # as it starts
    posted = 0

    async def never_answered(url: str, body: dict[str, Any] | None = None, **_: Any) -> None:
        nonlocal posted
        posted += 1
        await asyncio.Event().wait()  # a node that takes the request and never answers

    simulator.post = never_answered  # type: ignore[method-assign,assignment]
    arrivals = asyncio.create_task(simulator._arrivals())
    await asyncio.sleep(0.5)
    arrivals.cancel()
    waiting = len(simulator._running)
    for task in list(simulator._running):
        task.cancel()
    assert waiting == posted == simulator.max_waiting == 64
    assert simulator.stats["arrivals_dropped"] > 100  # about 2,500 asked for in the half second

    simulator.write_report()
    written = json.loads(report.read_text())
    assert written["pid"] == os.getpid()
    assert (written["cases_per_second_asked"], written["requests_in_flight_limit"]) == (5000, 2)
    minute = written["last_minute"]
    assert minute["arrivals_dropped"] == simulator.stats["arrivals_dropped"]
    assert minute["cases_opened"] == 0  # none was ever answered
    assert 0.4 < minute["seconds"] < 5


async def test_cases_arrive_at_the_rate_asked_however_short_the_gaps() -> None:
    simulator = Simulator({"440000": "http://127.0.0.1:9"}, rate=5_000.0, seed=2)
    arrived = 0

    async def open_case() -> None:
        nonlocal arrived
        arrived += 1

    simulator.open_case = open_case  # type: ignore[method-assign]
    arrivals = asyncio.create_task(simulator._arrivals())
    await asyncio.sleep(1.0)
    arrivals.cancel()
    assert 4_500 < arrived + simulator.stats["arrivals_dropped"] < 5_500


async def test_stopping_ends_the_steps_under_way_before_closing_connections() -> None:
    simulator = Simulator({"440000": "http://127.0.0.1:9"}, rate=200.0, seed=3, concurrency=2)

    async def never_answered(url: str, body: dict[str, Any] | None = None, **_: Any) -> None:
        await asyncio.Event().wait()

    simulator.post = never_answered  # type: ignore[method-assign,assignment]
    await simulator.run(duration=0.3)
    assert simulator._running == set()  # every step was cancelled and is gone

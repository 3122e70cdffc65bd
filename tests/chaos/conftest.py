"""The fault-injection suite: its profile, a fresh federation per scenario, and the figures.

`make test` runs the short profile; `make chaos` (PLS_CHAOS=full) the full one. Each scenario
prints one line of figures, and the lines are repeated together at the end of the run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pls.federation import Federation
from tests.chaos.harness import Figures, Profile, start_federation

FIGURES: list[Figures] = []


@pytest.fixture
def profile() -> Profile:
    return Profile.chosen()


@pytest.fixture
def federation(tmp_path: Path) -> Iterator[Federation]:
    federation = start_federation(tmp_path / "var")
    yield federation
    federation.stop()


@pytest.fixture
def record(profile: Profile) -> Callable[[Figures], Figures]:
    def recorded(figures: Figures) -> Figures:
        FIGURES.append(figures)
        print(f"\nchaos[{profile.name}] {figures.line()}", flush=True)
        assert figures.lost == 0, figures.line()
        assert figures.counted_twice == 0, figures.line()
        assert figures.journal == figures.accepted, (
            f"{figures.journal} events in the journals for {figures.accepted} acknowledged commands"
        )
        return figures

    return recorded


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not FIGURES:
        return
    terminalreporter.section(f"fault injection figures ({Profile.chosen().name})")
    for figures in FIGURES:
        terminalreporter.write_line(figures.line())

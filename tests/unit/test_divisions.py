"""The gazetteer of divisions: one per process, however many threads ask for it at once."""

from __future__ import annotations

import threading

import pytest

from pls import divisions


def test_threads_asking_at_once_share_one_gazetteer(monkeypatch: pytest.MonkeyPatch) -> None:
    # A fresh node's first requests come together, each on a worker thread: they must wait for
    # one build, not each make a 30 MB copy of their own.
    divisions.gazetteer.forget()
    builds: list[int] = []
    read_points = divisions._coordinates

    def counted() -> dict[str, tuple[float, float]]:
        builds.append(1)  # read once for each build
        return read_points()

    monkeypatch.setattr(divisions, "_coordinates", counted)
    start = threading.Barrier(8)
    seen: list[divisions.Gazetteer] = []

    def ask() -> None:
        start.wait()
        seen.append(divisions.gazetteer())

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 8
    assert len(builds) == 1
    assert all(gazetteer is seen[0] for gazetteer in seen)
    assert divisions.gazetteer() is seen[0]
    assert divisions.is_county("440106")  # 广州市天河区


def test_the_gazetteer_holds_counties_and_townships_come_on_demand() -> None:
    # Every service holds the gazetteer; only the directory simulator names townships.
    gazetteer = divisions.gazetteer()
    assert {division.level for division in gazetteer.by_code.values()} == {1, 2, 3}
    assert gazetteer.name("440106") == "天河区"
    townships = divisions.townships_by_county()
    assert "五山街道" in townships["440106"]
    assert all(code in gazetteer.by_code for code in townships)
    assert divisions.townships_by_county() is townships

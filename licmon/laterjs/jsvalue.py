"""JavaScript number semantics that later.js relies on, for a faithful port.

later.js feeds ``undefined`` and ``NaN`` through its arithmetic when a schedule has an empty
value list; both behave alike in every numeric expression it uses, so both are modelled as a
float NaN here. Python's own ``max``, ``math.floor`` and truthiness disagree with JavaScript on
NaN, hence these helpers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeAlias

Num: TypeAlias = int | float

NAN: float = float("nan")


def is_nan(value: Num) -> bool:
    return value != value  # only NaN is unequal to itself


def truthy(value: Num | None) -> bool:
    """JavaScript truthiness of a number: 0, NaN and undefined (None) are false."""
    return value is not None and value == value and value != 0


def js_or(value: Num, fallback: Num) -> Num:
    """``value || fallback``."""
    if type(value) is int:
        return value or fallback
    return value if truthy(value) else fallback


def js_max(*values: Num) -> Num:
    """``Math.max``: NaN wins over everything."""
    if any(is_nan(v) for v in values):
        return NAN
    return max(values)


def js_min(*values: Num) -> Num:
    if any(is_nan(v) for v in values):
        return NAN
    return min(values)


def js_floor(value: Num) -> Num:
    return value if is_nan(value) or math.isinf(value) else math.floor(value)


def js_ceil(value: Num) -> Num:
    return value if is_nan(value) or math.isinf(value) else math.ceil(value)


def js_rem(value: Num, divisor: Num) -> Num:
    """``value % divisor``: the sign follows the dividend, unlike Python's ``%``."""
    if is_nan(value) or is_nan(divisor) or divisor == 0:
        return NAN
    result = math.fmod(value, divisor)
    return int(result) if isinstance(value, int) and isinstance(divisor, int) else result


def js_div(value: Num, divisor: Num) -> Num:
    """``value / divisor`` that stays an int when exact, so equality with list values holds."""
    if is_nan(value) or is_nan(divisor):
        return NAN
    if isinstance(value, int) and isinstance(divisor, int) and value % divisor == 0:
        return value // divisor
    return value / divisor


def js_index(values: Sequence[Num], index: Num) -> Num:
    """``values[index]``, undefined (NaN) outside the array: no negative indexing."""
    if is_nan(index) or index < 0 or index >= len(values) or index != int(index):
        return NAN
    return values[int(index)]


def norm(value: Num) -> Num:
    """An integral float becomes an int, so arithmetic stays exact and comparable."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value

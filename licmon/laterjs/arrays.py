"""``later.array.next`` / ``nextInvalid``: value lookup in a constraint's value list.

The lists keep the order the text gave them (later.js never sorts a parsed schedule), and a
value of 0 for a period whose extent starts at 1 means "the last one"; both matter here.
"""

from __future__ import annotations

from collections.abc import Sequence

from licmon.laterjs.jsvalue import NAN, Num, js_index, truthy


def next_value(value: Num, values: Sequence[Num], extent: tuple[Num, Num]) -> Num:
    """The value a date should move to: ``value`` itself if listed, else the next one."""
    zero_is_largest = extent[0] != 0
    next_idx = 0
    for i in range(len(values) - 1, -1, -1):
        cur = values[i]
        if cur == value:
            return cur
        if cur > value or (cur == 0 and zero_is_largest and extent[1] > value):
            next_idx = i
            continue
        break
    return js_index(values, next_idx) if values else NAN


def next_invalid(value: Num, values: Sequence[Num], extent: tuple[Num, Num]) -> Num | None:
    """The next value NOT listed, from ``value`` on; None (undefined) when all are listed."""
    minimum, maximum = extent
    length = len(values)
    zero_value = maximum if length and values[-1] == 0 and minimum != 0 else 0
    nxt = value
    i = next((k for k, v in enumerate(values) if v == value), -1)
    start = nxt

    def listed(index: int) -> Num:
        item = js_index(values, index)
        return item if truthy(item) else zero_value

    while nxt == listed(i):
        nxt += 1
        if nxt > maximum:
            nxt = minimum
        i += 1
        if i == length:
            i = 0
        if nxt == start:
            return None
    return nxt

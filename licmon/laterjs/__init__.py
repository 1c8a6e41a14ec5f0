"""A pure-Python port of @breejs/later 4.2.0 text schedules (UTC), as Butler uses them.

``parse_text`` turns ``every 24 hours``-style text into later.js's schedule structure;
``next_occurrences`` and ``next_fire_time`` answer exactly what ``later.schedule(s).next`` and
``later.setInterval`` would.
"""

from licmon.laterjs.api import (
    latest_fire_time,
    next_fire_time,
    next_occurrences,
    raw_fire_ms,
    raw_next,
    validate,
)
from licmon.laterjs.engine import STEP_BUDGET, LaterLimitError, LaterScheduleError, WorkBudget
from licmon.laterjs.errors import LaterParseError
from licmon.laterjs.parser import MAX_TEXT_LENGTH, parse_text
from licmon.laterjs.schedule import LaterSchedule

__all__ = [
    "MAX_TEXT_LENGTH",
    "STEP_BUDGET",
    "LaterLimitError",
    "LaterParseError",
    "LaterSchedule",
    "LaterScheduleError",
    "WorkBudget",
    "latest_fire_time",
    "next_fire_time",
    "next_occurrences",
    "parse_text",
    "raw_fire_ms",
    "raw_next",
    "validate",
]

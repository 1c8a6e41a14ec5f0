"""A pure-Python port of @breejs/later 4.2.0 text schedules (UTC), as Butler uses them.

``parse_text`` turns ``every 24 hours``-style text into later.js's schedule structure;
``next_occurrences`` and ``next_fire_time`` answer exactly what ``later.schedule(s).next`` and
``later.setInterval`` would.
"""

from licmon.laterjs.api import next_fire_time, next_occurrences, raw_fire_ms, raw_next, validate
from licmon.laterjs.engine import LaterScheduleError
from licmon.laterjs.errors import LaterParseError
from licmon.laterjs.parser import parse_text
from licmon.laterjs.schedule import LaterSchedule

__all__ = [
    "LaterParseError",
    "LaterSchedule",
    "LaterScheduleError",
    "next_fire_time",
    "next_occurrences",
    "parse_text",
    "raw_fire_ms",
    "raw_next",
    "validate",
]

"""Schedule-text generators and the reference runner shared by the later.js differential tests.

The generator walks later.js's text grammar (every statement, period spelling, rank, range,
list, ``also``, ``except``, ``after``/``before``) and can damage a text to produce the invalid
inputs whose error positions must match too. Each generated case carries the grammar branches
it exercised, so a test can prove the generator reaches all of them.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from licmon.laterjs.jsdate import days_from_civil

REFERENCE_SCRIPT = Path(__file__).with_name("laterjs_reference.js")
MAX_JS_DELAY = 2**31 - 1  # later.setTimeout never waits longer than this in one go

PERIOD_SPELLINGS: dict[str, tuple[str, ...]] = {
    "second": ("s", "sec", "secs", "second", "seconds"),
    "minute": ("m", "min", "mins", "minute", "minutes"),
    "hour": ("h", "hour", "hours"),
    "day": ("day", "days", "day of the month", "days of the month"),
    "dayOfWeek": ("day of the week", "days of the week"),
    "dayOfYear": ("day of the year", "days of the year"),
    "dayInstance": ("day instance",),
    "weekOfMonth": ("week of the month", "weeks of the month"),
    "weekOfYear": ("week", "weeks", "week of the year", "weeks of the year"),
    "month": ("month", "months"),
    "year": ("year", "years"),
}
# Sensible value ranges per period, a little past the edges to hit later.js's wrapping.
PERIOD_VALUES: dict[str, tuple[int, int]] = {
    "second": (0, 61),
    "minute": (0, 61),
    "hour": (0, 25),
    "day": (0, 32),
    "dayOfWeek": (0, 8),
    "dayOfYear": (0, 367),
    "dayInstance": (0, 6),
    "weekOfMonth": (0, 6),
    "weekOfYear": (0, 54),
    "month": (0, 13),
    "year": (1965, 2110),
}
DAY_NAMES = (
    "sun", "sunday", "mon", "monday", "tue", "tues", "tuesday", "wed", "wednes", "wednesday",
    "thu", "thur", "thurs", "thursday", "fri", "friday", "sat", "satur", "saturday",
)  # fmt: skip
MONTH_NAMES = (
    "jan", "january", "feb", "february", "mar", "march", "ma", "may", "apr", "april", "jun",
    "june", "jul", "july", "aug", "august", "sept", "september", "oct", "october", "nov",
    "november", "dec", "december",
)  # fmt: skip
# Grammar branches the generator must reach (checked by a test).
ALL_TAGS = frozenset(
    {f"period:{p}" for p in PERIOD_SPELLINGS}
    | {
        "every",
        "every:starting",
        "every:between",
        "every:weekday",
        "every:weekend",
        "after:time",
        "after:period",
        "before:time",
        "before:period",
        "onthe:first",
        "onthe:last",
        "onthe:ranks",
        "on:days",
        "of:months",
        "in:years",
        "at:time",
        "at:times",
        "time:12h",
        "time:24h",
        "rank:suffix",
        "rank:bare",
        "range:dash",
        "range:to",
        "range:through",
        "list:and",
        "list:comma",
        "also",
        "except",
        "and-statement",
        "invalid",
        "case:mixed",
    }
)


@dataclass
class Case:
    text: str
    start: int
    count: int
    tags: frozenset[str] = field(default_factory=frozenset)

    def request(self) -> dict[str, Any]:
        return {"text": self.text, "start": self.start, "count": self.count, "fire": True}


Piece = tuple[str, frozenset[str]]


def _piece(text: str, *tags: str) -> Piece:
    return text, frozenset(tags)


def _join(*pieces: Piece, sep: str = " ") -> Piece:
    return sep.join(p[0] for p in pieces), frozenset().union(*(p[1] for p in pieces))


@st.composite
def rank(draw: st.DrawFn, low: int = 0, high: int = 60) -> Piece:
    number = draw(st.integers(low, high))
    suffix = draw(st.sampled_from(("", "", "st", "nd", "rd", "th")))
    return _piece(f"{number}{suffix}", "rank:suffix" if suffix else "rank:bare")


@st.composite
def period(draw: st.DrawFn) -> tuple[str, Piece]:
    kind = draw(st.sampled_from(sorted(PERIOD_SPELLINGS)))
    return kind, _piece(draw(st.sampled_from(PERIOD_SPELLINGS[kind])), f"period:{kind}")


@st.composite
def time_text(draw: st.DrawFn) -> Piece:
    minute = draw(st.integers(0, 59))
    if draw(st.booleans()):
        hour = draw(st.integers(1, 12))
        hour_text = f"0{hour}" if hour < 10 and draw(st.booleans()) else str(hour)
        space = draw(st.sampled_from(("", " ")))
        return _piece(
            f"{hour_text}:{minute:02d}{space}{draw(st.sampled_from(('am', 'pm')))}", "time:12h"
        )
    hour = draw(st.integers(0, 23))
    hour_text = f"{hour:02d}" if draw(st.booleans()) else str(hour)
    return _piece(f"{hour_text}:{minute:02d}", "time:24h")


@st.composite
def value_list(draw: st.DrawFn, item: st.SearchStrategy[Piece]) -> Piece:
    """``x``, ``x-y``, ``x to y``, ``x through y``, joined by ``and`` or commas."""
    parts: list[Piece] = []
    for index in range(draw(st.integers(1, 3))):
        if index:
            sep, tag = draw(st.sampled_from(((" and ", "list:and"), (", ", "list:comma"),
                                             (",", "list:comma"))))  # fmt: skip
            parts.append(_piece(sep, tag))
        first = draw(item)
        choice = draw(st.sampled_from(("", "", "-", " - ", " to ", " through ")))
        if choice:
            tag = {"-": "range:dash", " - ": "range:dash", " to ": "range:to"}.get(
                choice, "range:through"
            )
            parts.append(_join(first, _piece(choice, tag), draw(item), sep=""))
        else:
            parts.append(first)
    return _join(*parts, sep="")


@st.composite
def every_statement(draw: st.DrawFn) -> Piece:
    form = draw(st.sampled_from(("plain", "plain", "starting", "between", "weekday", "weekend")))
    if form == "weekday":
        return _piece("every weekday", "every:weekday")
    if form == "weekend":
        return _piece("every weekend", "every:weekend")
    kind, unit = draw(period())
    low, high = PERIOD_VALUES[kind]
    step = draw(rank(0, max(high - low, 12)))
    head = _join(_piece("every", "every"), step, unit)
    if form == "starting":
        word = draw(st.sampled_from(("starting on the", "starting on", "start on", "start at")))
        return _join(head, _piece(word, "every:starting"), draw(rank(low, high)), unit)
    if form == "between":
        word = draw(st.sampled_from(("between", "between the")))
        return _join(
            head,
            _piece(word, "every:between"),
            draw(rank(low, high)),
            _piece("and"),
            draw(rank(low, high)),
        )
    return head


@st.composite
def modifier_statement(draw: st.DrawFn) -> Piece:
    word = draw(st.sampled_from(("after", "before")))
    if draw(st.booleans()):
        return _join(_piece(word, f"{word}:time"), draw(time_text()))
    kind, unit = draw(period())
    low, high = PERIOD_VALUES[kind]
    return _join(_piece(word, f"{word}:period"), draw(rank(low, high)), unit)


@st.composite
def on_the_statement(draw: st.DrawFn) -> Piece:
    kind, unit = draw(period())
    low, high = PERIOD_VALUES[kind]
    form = draw(st.sampled_from(("first", "last", "ranks", "ranks")))
    if form == "ranks":
        which = draw(value_list(rank(low, high)))
        return _join(_piece("on the", "onthe:ranks"), which, unit)
    return _join(_piece(f"on the {form}", f"onthe:{form}"), unit)


@st.composite
def at_statement(draw: st.DrawFn) -> Piece:
    times = [draw(time_text()) for _ in range(draw(st.integers(1, 3)))]
    head = _piece(draw(st.sampled_from(("at", "at", "@"))), "at:time")
    if len(times) == 1:
        return _join(head, times[0])
    joined = _join(*times, sep=draw(st.sampled_from((" and ", ", "))))
    return _join(head, joined, _piece("", "at:times"))


def _names(names: tuple[str, ...]) -> st.SearchStrategy[Piece]:
    return st.sampled_from(names).map(lambda n: _piece(n))


statement = st.one_of(
    every_statement(),
    modifier_statement(),
    on_the_statement(),
    at_statement(),
    value_list(_names(DAY_NAMES)).map(lambda p: _join(_piece("on", "on:days"), p)),
    value_list(_names(MONTH_NAMES)).map(lambda p: _join(_piece("of", "of:months"), p)),
    value_list(st.integers(1965, 2110).map(lambda y: _piece(str(y)))).map(
        lambda p: _join(_piece("in", "in:years"), p)
    ),
)


@st.composite
def schedule_text(draw: st.DrawFn) -> Piece:
    """Statements joined by spaces, ``and``, ``also`` or ``except``."""
    pieces = [draw(statement)]
    for _ in range(draw(st.integers(0, 3))):
        glue = draw(st.sampled_from((" ", " ", " and ", " also ", " except ")))
        tag = {" and ": "and-statement", " also ": "also", " except ": "except"}.get(glue)
        pieces.append(_piece(glue, tag) if tag else _piece(glue))
        pieces.append(draw(statement))
    return _join(*pieces, sep="")


JUNK = (
    "xyz", "every", "on", "the", "5", "and", "-", ",", "at", "10:61", "13:00 pm", "  ", "\t",
    "\U0001f600", "\u0130", "\u00a0",
)  # fmt: skip


@st.composite
def damaged(draw: st.DrawFn, piece: Piece) -> Piece:
    """The same text with a cut, an insertion, a deletion or trailing whitespace."""
    text, tags = piece
    how = draw(st.sampled_from(("cut", "insert", "delete", "trailing", "lead")))
    at = draw(st.integers(0, len(text)))
    if how == "cut":
        text = text[:at]
    elif how == "insert":
        text = text[:at] + draw(st.sampled_from(JUNK)) + text[at:]
    elif how == "delete":
        text = text[:at] + text[at + 1 :]
    elif how == "trailing":
        text += draw(st.sampled_from((" ", "\t", "\u00a0", "\n")))
    else:
        text = draw(st.sampled_from((" ", "\t\n", "\u3000"))) + text
    return text, tags | {"invalid"}


@st.composite
def mixed_case(draw: st.DrawFn, piece: Piece) -> Piece:
    text, tags = piece
    flags = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(c.upper() if f else c for c, f in zip(text, flags, strict=True)), tags | {
        "case:mixed"
    }


# 2000-01-01 .. 2040-12-31, usually on a whole minute, sometimes anywhere to the millisecond.
_START_MIN, _START_MAX = 946_684_800_000, 2_240_524_800_000


@st.composite
def start_ms(draw: st.DrawFn) -> int:
    style = draw(st.sampled_from(("minute", "minute", "second", "ms", "midnight", "edge")))
    if style == "edge":
        # Around a month or year boundary, where later.js's rollovers happen.
        year = draw(st.integers(2000, 2040))
        month = draw(st.sampled_from((1, 2, 3, 12, draw(st.integers(1, 12)))))
        first = days_from_civil(year, month, 1) * 86_400_000
        return first + draw(st.sampled_from((-86_400_000, -1000, -500, 0, 999, 86_400_000)))
    value = draw(st.integers(_START_MIN, _START_MAX))
    unit = {"minute": 60_000, "second": 1000, "ms": 1, "midnight": 86_400_000}[style]
    return value - value % unit


@st.composite
def case(draw: st.DrawFn) -> Case:
    piece = draw(schedule_text())
    if draw(st.integers(0, 9)) == 0:
        piece = draw(mixed_case(piece))
    if draw(st.integers(0, 5)) == 0:
        piece = draw(damaged(piece))
    return Case(piece[0], draw(start_ms()), draw(st.integers(1, 8)), piece[1])


def run_reference(node: str, node_modules: Path, cases: list[Case]) -> tuple[int, list[dict]]:
    """One node process answers the whole batch: (node's clock, one result per case)."""
    env = dict(os.environ, NODE_PATH=str(node_modules))
    payload = json.dumps({"cases": [c.request() for c in cases]})
    completed = subprocess.run(
        [node, str(REFERENCE_SCRIPT)],
        input=payload,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"reference later.js failed: {completed.stderr}")
    answer = json.loads(completed.stdout)
    return answer["now"], answer["results"]

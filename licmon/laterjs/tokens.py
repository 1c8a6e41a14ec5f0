"""The tokens of ``later.parse.text`` and its longest-match scanner.

The regular expressions are later.js's own, translated so that Python matches exactly what
V8 does: ASCII ``\\d`` and ``\\b`` (``re.ASCII``) but JavaScript's Unicode ``\\s``, which
``re.ASCII`` would otherwise narrow. Each pattern is applied to the rest of the input, as
later.js slices it, and must match at its first character.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# JavaScript's \s (WhiteSpace + LineTerminator), which differs from Python's in both directions.
JS_SPACE_CHARS = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_WS = "[" + re.escape(JS_SPACE_CHARS) + "]"


def _js(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern.replace(r"\s", _WS), re.ASCII)


PATTERNS: dict[str, re.Pattern[str]] = {
    "rank": _js(r"^((\d+)(st|nd|rd|th)?)\b"),
    "time": _js(r"^(((0?[1-9]|1[0-2]):[0-5]\d(\s)?(am|pm))|((0?\d|1\d|2[0-3]):[0-5]\d))\b"),
    "dayName": _js(r"^((sun|mon|tue(s)?|wed(nes)?|thu(r(s)?)?|fri|sat(ur)?)(day)?)\b"),
    "monthName": _js(
        r"^(jan(uary)?|feb(ruary)?|ma((r(ch)?)?|y)|apr(il)?|ju(ly|ne)|aug(ust)?|oct(ober)?"
        r"|(sept|nov|dec)(ember)?)\b"
    ),
    "yearIndex": _js(r"^(\d{4})\b"),
    "every": _js(r"^every\b"),
    "after": _js(r"^after\b"),
    "before": _js(r"^before\b"),
    "second": _js(r"^(s|sec(ond)?(s)?)\b"),
    "minute": _js(r"^(m|min(ute)?(s)?)\b"),
    "hour": _js(r"^(h|hour(s)?)\b"),
    "day": _js(r"^(day(s)?( of the month)?)\b"),
    "dayInstance": _js(r"^day instance\b"),
    "dayOfWeek": _js(r"^day(s)? of the week\b"),
    "dayOfYear": _js(r"^day(s)? of the year\b"),
    "weekOfYear": _js(r"^week(s)?( of the year)?\b"),
    "weekOfMonth": _js(r"^week(s)? of the month\b"),
    "weekday": _js(r"^weekday\b"),
    "weekend": _js(r"^weekend\b"),
    "month": _js(r"^month(s)?\b"),
    "year": _js(r"^year(s)?\b"),
    "between": _js(r"^between (the)?\b"),
    "start": _js(r"^(start(ing)? (at|on( the)?)?)\b"),
    "at": _js(r"^(at|@)\b"),
    "and": _js(r"^(,|and\b)"),
    "except": _js(r"^(except\b)"),
    # later.js leaves these two unanchored but only accepts a match at index 0.
    "also": _js(r"(also)\b"),
    "first": _js(r"^(first)\b"),
    "last": _js(r"^last\b"),
    "in": _js(r"^in\b"),
    "of": _js(r"^of\b"),
    "onthe": _js(r"^on the\b"),
    "on": _js(r"^on\b"),
    "through": _js(r"(-|^(to|through)\b)"),
}
WHITESPACE = _js(r"\s+")

# What a human calls each token, for error messages.
DESCRIPTIONS: dict[str, str] = {
    "rank": "a number (5, 1st, 2nd)",
    "time": "a time (10:15 am, 17:00)",
    "dayName": "a day name (mon, tuesday)",
    "monthName": "a month name (jan, february)",
    "yearIndex": "a four-digit year",
    "between": "'between'",
    "start": "'starting on'",
    "onthe": "'on the'",
    "dayInstance": "'day instance'",
    "dayOfWeek": "'day of the week'",
    "dayOfYear": "'day of the year'",
    "weekOfYear": "'week'",
    "weekOfMonth": "'week of the month'",
    "and": "'and' or ','",
    "through": "'-', 'to' or 'through'",
}


def describe(token_type: str) -> str:
    return DESCRIPTIONS.get(token_type, f"'{token_type}'")


@dataclass(frozen=True)
class Token:
    start: int
    end: int
    text: str
    type: str | None  # None: nothing expected matched here


class Scanner:
    """later.js's ``peek``/``scan``: the longest expected token after any whitespace."""

    def __init__(self, text: str) -> None:
        self.input = text
        self.pos = 0

    def peek(self, expected: tuple[str, ...]) -> Token:
        start = self.pos
        while True:
            rest = self.input[start:]
            best = Token(start, start, "", None)
            best_length = -1
            for token_type in expected:
                match = PATTERNS[token_type].match(rest)
                # Ties go to the earlier type in the list, as in later.js.
                if match and len(match[0]) > best_length:
                    best_length = len(match[0])
                    best = Token(start, start + best_length, match[0], token_type)
            space = WHITESPACE.match(rest)
            if space is None or len(space[0]) <= best_length:
                return best
            start += len(space[0])

    def scan(self, expected: tuple[str, ...]) -> Token:
        token = self.peek(expected)
        self.pos = token.end
        return token

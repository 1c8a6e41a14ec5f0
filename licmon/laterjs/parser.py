"""``later.parse.text``: English-like schedule text to later.js's schedule structure.

A port of @breejs/later 4.2.0's recursive-descent parser. Like later.js, it records the
position of a failure and carries on to the end of the current statement (a later failure in
the same statement moves the reported position), then stops. The text is lower-cased first and
positions refer to that string; they are reported in UTF-16 code units, as JavaScript counts.
"""

from __future__ import annotations

import re
from typing import Any

from licmon.laterjs.engine import LaterLimitError
from licmon.laterjs.errors import LaterParseError
from licmon.laterjs.jsvalue import NAN, Num, is_nan
from licmon.laterjs.recur import Recur, RecurCrash
from licmon.laterjs.schedule import LaterSchedule, freeze
from licmon.laterjs.tokens import JS_SPACE_CHARS, Scanner, Token, describe

NAMES: dict[str, int] = {
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "may": 5,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
    "sun": 1,
    "mon": 2,
    "tue": 3,
    "wed": 4,
    "thu": 5,
    "fri": 6,
    "sat": 7,
}

STATEMENTS = ("every", "after", "before", "onthe", "on", "of", "in", "at", "and", "except", "also")
PERIODS = (
    "second",
    "minute",
    "hour",
    "dayOfYear",
    "dayOfWeek",
    "dayInstance",
    "day",
    "month",
    "year",
    "weekOfMonth",
    "weekOfYear",
)
_TIME_SPLIT = re.compile("(:|am|pm)")
# Far beyond any schedule a person writes (Butler's default is "every 24 hours"); a 10 KB
# text took a quarter of a second to parse and made every engine call slow.
MAX_TEXT_LENGTH = 1000


def _convert(text: str, token_type: str) -> Any:
    """later.js's ``convertString``: a token's text to its value."""
    if token_type == "time":
        parts = _TIME_SPLIT.split(text)
        hour = int(parts[0])
        minute = parts[2].strip(JS_SPACE_CHARS)
        suffix = parts[3] if len(parts) > 3 else None
        if suffix == "pm" and hour < 12:
            hour += 12
        elif suffix == "am" and hour == 12:
            hour -= 12
        return f"{hour:02d}:{minute}"
    if token_type == "rank":
        match = re.match(r"\d+", text, re.ASCII)
        assert match is not None  # the rank pattern starts with digits
        return int(match[0])
    if token_type in ("monthName", "dayName"):
        return NAMES.get(text[:3])  # None for "ma", a month name the pattern lets through
    if token_type == "yearIndex":
        return int(text)
    return text


class _TextParser:
    def __init__(self, text: str) -> None:
        self.scanner = Scanner(text)
        self.error = -1
        self.reason = ""
        self.recur = Recur()

    # Token helpers (later.js's parseToken / parseTokenValue / checkAndParse).
    def token(self, expected: tuple[str, ...]) -> Token:
        token = self.scanner.scan(expected)
        if token.type is None:
            self.error = self.scanner.pos
            self.reason = self._expected_reason(expected, token)
        return token

    def value(self, token_type: str) -> Any:
        """The converted value of the next token; None when it is missing (an error)."""
        token = self.token((token_type,))
        return None if token.type is None else _convert(token.text, token_type)

    def check(self, token_type: str) -> bool:
        if self.scanner.peek((token_type,)).type == token_type:
            self.scanner.scan((token_type,))
            return True
        return False

    def _expected_reason(self, expected: tuple[str, ...], token: Token) -> str:
        found = self.scanner.input[token.start :].split(None, 1)
        seen = f"'{found[0]}'" if found else "the end of the text"
        if not found and token.start > 0 and self.scanner.input[token.start - 1].isspace():
            seen += " (after trailing whitespace)"
        wanted = ", ".join(describe(t) for t in expected)
        return f"expected {wanted}; found {seen}"

    # Grammar.
    def through_expr(self, token_type: str) -> list[Num]:
        start = _as_number(self.value(token_type))
        end = _as_number(self.value(token_type)) if self.check("through") else start
        if is_nan(start) or is_nan(end):
            return []
        return list(range(int(start), int(end) + 1))

    def ranges(self, token_type: str) -> list[Num]:
        numbers = self.through_expr(token_type)
        while self.check("and"):
            numbers += self.through_expr(token_type)
        return numbers

    def every(self) -> None:
        r = self.recur
        if self.check("weekend"):
            r.on([NAMES["sun"], NAMES["sat"]]).day_of_week()
        elif self.check("weekday"):
            r.on([NAMES[d] for d in ("mon", "tue", "wed", "thu", "fri")]).day_of_week()
        else:
            r.every(self.value("rank"))
            period = self.time_period()
            if self.check("start"):
                r.starting_on(self.value("rank"))
                if period.type is None:
                    raise RecurCrash("'starting on' after a missing period")
                self.token((period.type,))
            elif self.check("between"):
                start = self.value("rank")
                if self.check("and"):
                    r.between(start, self.value("rank"))

    def on_the(self) -> None:
        if self.check("first"):
            self.recur.first()
        elif self.check("last"):
            self.recur.last()
        else:
            self.recur.on(self.ranges("rank"))
        self.time_period()

    def time_period(self) -> Token:
        token = self.token(PERIODS)
        method = {
            "second": Recur.second,
            "minute": Recur.minute,
            "hour": Recur.hour,
            "dayOfYear": Recur.day_of_year,
            "dayOfWeek": Recur.day_of_week,
            "dayInstance": Recur.day_of_week_count,
            "day": Recur.day_of_month,
            "weekOfMonth": Recur.week_of_month,
            "weekOfYear": Recur.week_of_year,
            "month": Recur.month,
            "year": Recur.year,
        }.get(token.type or "")
        if method is not None:
            method(self.recur)
        return token

    def after_or_before(self, modifier: str) -> None:
        set_modifier = self.recur.after if modifier == "after" else self.recur.before
        if self.scanner.peek(("time",)).type is not None:
            set_modifier(self.value("time"))
            self.recur.time()
        else:
            set_modifier(self.value("rank"))
            self.time_period()

    def statement(self) -> None:
        token = self.token(STATEMENTS)
        r = self.recur
        match token.type:
            case "every":
                self.every()
            case "after" | "before":
                self.after_or_before(token.type)
            case "onthe":
                self.on_the()
            case "on":
                r.on(self.ranges("dayName")).day_of_week()
            case "of":
                r.on(self.ranges("monthName")).month()
            case "in":
                r.on(self.ranges("yearIndex")).year()
            case "at":
                r.on([self.value("time")]).time()
                while self.check("and"):
                    r.on([self.value("time")]).time()
            case "also":
                r.also()
            case "except":
                r.except_()
            case _:
                pass  # "and" between statements, or a failure already recorded

    def parse(self) -> None:
        while self.scanner.pos < len(self.scanner.input) and self.error < 0:
            self.statement()


def _as_number(value: Any) -> Num:
    return value if isinstance(value, int) else NAN


def _utf16_position(text: str, position: int) -> int:
    return len(text[:position].encode("utf-16-le")) // 2


def parse_text(text: str) -> LaterSchedule:
    """Parse later.js schedule text; raises :class:`LaterParseError` where later.js errs, and
    :class:`LaterLimitError` for a text longer than ``MAX_TEXT_LENGTH``."""
    if len(text) > MAX_TEXT_LENGTH:
        raise LaterLimitError(
            f"the text is {len(text)} characters long; at most {MAX_TEXT_LENGTH} are read"
        )
    lowered = text.lower()
    parser = _TextParser(lowered)
    try:
        parser.parse()
    except RecurCrash as crash:
        # Only reachable once a token has failed; later.js throws instead of returning.
        raise LaterParseError(
            text,
            _utf16_position(lowered, max(parser.error, 0)),
            f"{parser.reason} (later.js itself crashes here: {crash})",
        ) from None
    if parser.error >= 0:
        raise LaterParseError(text, _utf16_position(lowered, parser.error), parser.reason)
    return LaterSchedule(
        text=text,
        schedules=freeze(parser.recur.schedules),
        exceptions=freeze(parser.recur.exceptions),
    )

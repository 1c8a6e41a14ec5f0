"""Unit tests of the later.js text parser (offline; expectations recorded from @breejs/later
4.2.0 and checked live by tests/test_laterjs_differential.py)."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from licmon.laterjs import LaterParseError, LaterSchedule, parse_text

pytestmark = pytest.mark.fast

# (text, schedules, exceptions) exactly as later.parse.text returns them.
VALID: list[tuple[str, list[dict[str, list[int]]], list[Any]]] = [
    ("every 24 hours", [{"h": [0]}], []),
    ("every 14 days", [{"D": [1, 15, 29]}], []),
    ("every 5 mins", [{"m": [0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55]}], []),
    ("at 10:15 am", [{"t": [36900]}], []),
    ("every weekday at 8:00 am", [{"d": [2, 3, 4, 5, 6], "t": [28800]}], []),
    (
        "every 1 hour",
        [
            {
                "h": [
                    0,
                    1,
                    2,
                    3,
                    4,
                    5,
                    6,
                    7,
                    8,
                    9,
                    10,
                    11,
                    12,
                    13,
                    14,
                    15,
                    16,
                    17,
                    18,
                    19,
                    20,
                    21,
                    22,
                    23,
                ]
            }
        ],
        [],
    ),
    ("every 6 hours", [{"h": [0, 6, 12, 18]}], []),
    ("every 30 seconds", [{"s": [0, 30]}], []),
    (
        "every 2 weeks",
        [
            {
                "wy": [
                    1,
                    3,
                    5,
                    7,
                    9,
                    11,
                    13,
                    15,
                    17,
                    19,
                    21,
                    23,
                    25,
                    27,
                    29,
                    31,
                    33,
                    35,
                    37,
                    39,
                    41,
                    43,
                    45,
                    47,
                    49,
                    51,
                    53,
                ]
            }
        ],
        [],
    ),
    ("every 3 months", [{"M": [1, 4, 7, 10]}], []),
    (
        "every 5 minutes starting on the 3rd minute",
        [{"m": [3, 8, 13, 18, 23, 28, 33, 38, 43, 48, 53, 58]}],
        [],
    ),
    ("every weekend at 12:00 pm", [{"d": [1, 7], "t": [43200]}], []),
    ("at 12:30 am", [{"t": [1800]}], []),
    ("at 10:15 am and 5:30 pm and 23:59", [{"t": [36900, 63000, 86340]}], []),
    ("on the first day of the month at 09:00", [{"D": [1], "t": [32400]}], []),
    ("on the last day of the month", [{"D": [0]}], []),
    ("on the last day of the week", [{"d": [7]}], []),
    ("on the 1st,15th day", [{"D": [1, 15]}], []),
    ("on the 1st-5th,10th day of the year", [{"dy": [1, 2, 3, 4, 5, 10]}], []),
    ("on the 2nd day instance on tue", [{"dc": [2], "d": [3]}], []),
    ("on the last day instance on fri", [{"dc": [0], "d": [6]}], []),
    ("on the 3rd week of the month", [{"wm": [3]}], []),
    ("on the last week of the month", [{"wm": [0]}], []),
    ("on the 10th through 12th week of the year", [{"wy": [10, 11, 12]}], []),
    ("on mon, wed and fri at 08:00", [{"d": [2, 4, 6], "t": [28800]}], []),
    ("on mon-fri at 17:00", [{"d": [2, 3, 4, 5, 6], "t": [61200]}], []),
    ("of march to may on the 1st day", [{"M": [3, 4, 5], "D": [1]}], []),
    ("of ma", [{"M": []}], []),
    ("in 2027", [{"Y": [2027]}], []),
    ("in 2025-2030 of december", [{"Y": [2025, 2026, 2027, 2028, 2029, 2030], "M": [12]}], []),
    ("after 10:00 before 17:00", [{"t_a": [36000], "t_b": [61200]}], []),
    ("after 5th hour before 18th hour", [{"h_a": [5], "h_b": [18]}], []),
    ("before 2nd month", [{"M_b": [2]}], []),
    (
        "every 5 mins except at 10:00",
        [{"m": [0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55]}],
        [{"t": [36000]}],
    ),
    (
        "every 1 hour except on sat,sun",
        [
            {
                "h": [
                    0,
                    1,
                    2,
                    3,
                    4,
                    5,
                    6,
                    7,
                    8,
                    9,
                    10,
                    11,
                    12,
                    13,
                    14,
                    15,
                    16,
                    17,
                    18,
                    19,
                    20,
                    21,
                    22,
                    23,
                ]
            }
        ],
        [{"d": [7, 1]}],
    ),
    (
        "every 1 hour also at 10:15 am",
        [
            {
                "h": [
                    0,
                    1,
                    2,
                    3,
                    4,
                    5,
                    6,
                    7,
                    8,
                    9,
                    10,
                    11,
                    12,
                    13,
                    14,
                    15,
                    16,
                    17,
                    18,
                    19,
                    20,
                    21,
                    22,
                    23,
                ]
            },
            {"t": [36900]},
        ],
        [],
    ),
    ("at 10:00 also at 11:00 except on sat", [{"t": [36000]}, {"t": [39600]}], [{"d": [7]}]),
    (
        "every 5 minutes except at 10:00 except at 11:00",
        [{"m": [0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55]}],
        [{"t": [36000, 39600]}, {}],
    ),
    ("every 5 mins also", [{"m": [0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55]}, {}], []),
    ("on the 31st day of feb", [{"D": [31], "M": [2]}], []),
    ("every 5 minutes between 50 and 10", [{"m": []}], []),
    ("EVERY 5 MINS", [{"m": [0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55]}], []),
    ("", [], []),
    (
        "every 0 hours",
        [
            {
                "h": [
                    0,
                    1,
                    2,
                    3,
                    4,
                    5,
                    6,
                    7,
                    8,
                    9,
                    10,
                    11,
                    12,
                    13,
                    14,
                    15,
                    16,
                    17,
                    18,
                    19,
                    20,
                    21,
                    22,
                    23,
                ]
            }
        ],
        [],
    ),
    ("every 100 minutes", [{"m": [0]}], []),
    ("on the first second", [{"s": [0]}], []),
    ("on the last year", [{"Y": [2450]}], []),
    ("in 2020", [{"Y": [2020]}], []),
    ("every 2 days of the week", [{"d": [1, 3, 5, 7]}], []),
    ("on the 53rd week", [{"wy": [53]}], []),
    ("after 2nd week of the month", [{"wm_a": [2]}], []),
    ("every 5 minutes and", [{"m": [0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55]}], []),
]


# (text, error position later.parse.text reports; "THROWS": later.js crashes).
INVALID: list[tuple[str, int | str]] = [
    ("every 10 minutes between the 5th and 35th minute", 42),
    ("@ 10:15", 0),
    ("of jan,jul", 7),
    ("every 5 mins ", 13),
    ("every", 5),
    ("every 5", 7),
    ("every five minutes", 6),
    ("at 25:00", 3),
    ("at 10:15 xm", 9),
    ("on the 1st", 10),
    ("on tues and thur foo", 17),
    ("every 5 mins at", 15),
    ("of smarch", 3),
    ("in 20", 3),
    ("on the first", 12),
    ("after", 5),
    ("before lunch", 7),
    ("every 5 minutes starting on the 3rd hour", 36),
    ("every 5 minutes between 5 and", 29),
    ("x", 0),
    ("every 5 starting on 3 minutes", "THROWS"),
    ("at 10:00 and", 12),
    ("every weekday ", 14),
]


@pytest.mark.parametrize(("text", "schedules", "exceptions"), VALID, ids=[v[0] for v in VALID])
def test_parses_like_later_js(text: str, schedules: list[Any], exceptions: list[Any]) -> None:
    parsed = parse_text(text)
    assert parsed.as_dict() == {"schedules": schedules, "exceptions": exceptions, "error": -1}
    # Key order is meaning: later.js ranks equal-length periods in insertion order.
    assert [list(d) for d in parsed.as_dict()["schedules"]] == [list(d) for d in schedules]


@pytest.mark.parametrize(("text", "position"), INVALID, ids=[i[0] or "empty" for i in INVALID])
def test_invalid_text_reports_later_js_position(text: str, position: int | str) -> None:
    with pytest.raises(LaterParseError) as caught:
        parse_text(text)
    error = caught.value
    assert isinstance(error, ValueError)
    assert error.text == text
    assert error.reason
    if position != "THROWS":
        assert error.position == position
    else:
        assert "crash" in error.reason


def test_verified_structures_from_reference_doc() -> None:
    assert parse_text("every 24 hours").as_dict()["schedules"] == [{"h": [0]}]
    assert parse_text("every 14 days").as_dict()["schedules"] == [{"D": [1, 15, 29]}]
    assert parse_text("every 5 mins").as_dict()["schedules"] == [{"m": list(range(0, 60, 5))}]
    assert parse_text("at 10:15 am").as_dict()["schedules"] == [{"t": [36900]}]
    assert parse_text("every weekday at 8:00 am").as_dict()["schedules"] == [
        {"d": [2, 3, 4, 5, 6], "t": [28800]}
    ]


@pytest.mark.parametrize(
    ("spelling", "key"),
    [
        ("s", "s"), ("sec", "s"), ("secs", "s"), ("second", "s"), ("seconds", "s"),
        ("m", "m"), ("min", "m"), ("mins", "m"), ("minute", "m"), ("minutes", "m"),
        ("h", "h"), ("hour", "h"), ("hours", "h"),
        ("day", "D"), ("days", "D"), ("day of the month", "D"), ("days of the month", "D"),
        ("day of the week", "d"), ("days of the week", "d"),
        ("day of the year", "dy"), ("days of the year", "dy"),
        ("day instance", "dc"),
        ("week of the month", "wm"), ("weeks of the month", "wm"),
        ("week", "wy"), ("weeks", "wy"), ("week of the year", "wy"), ("weeks of the year", "wy"),
        ("month", "M"), ("months", "M"), ("year", "Y"), ("years", "Y"),
    ],
)  # fmt: skip
def test_every_period_spelling(spelling: str, key: str) -> None:
    parsed = parse_text(f"on the 2nd {spelling}")
    assert parsed.as_dict()["schedules"] == [{key: [2]}]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("at 12:00 am", 0), ("at 12:00 pm", 43200), ("at 1:05pm", 46800 + 300),
        ("at 01:05 am", 3900), ("at 0:00", 0), ("at 23:59", 86340), ("at 9:30", 34200),
        ("@10:15", 36900), ("at 11:59 pm", 86340),
    ],
)  # fmt: skip
def test_times(text: str, seconds: int) -> None:
    assert parse_text(text).as_dict()["schedules"] == [{"t": [seconds]}]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("on sun", [1]), ("on sunday", [1]), ("on tues", [3]), ("on wednes", [4]),
        ("on thur", [5]), ("on thurs", [5]), ("on satur", [7]), ("on saturday", [7]),
        ("on mon-fri", [2, 3, 4, 5, 6]), ("on mon to wed", [2, 3, 4]),
        ("on mon through wed and sat", [2, 3, 4, 7]), ("on fri - mon", []),
    ],
)  # fmt: skip
def test_day_names_and_ranges(text: str, expected: list[int]) -> None:
    assert parse_text(text).as_dict()["schedules"] == [{"d": expected}]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("of january", [1]), ("of feb", [2]), ("of march", [3]), ("of mar", [3]),
        ("of may", [5]), ("of june", [6]), ("of july", [7]), ("of sept", [9]),
        ("of september", [9]), ("of dec", [12]), ("of ma", []), ("of jan-ma", []),
        ("of oct through dec", [10, 11, 12]),
    ],
)  # fmt: skip
def test_month_names(text: str, expected: list[int]) -> None:
    assert parse_text(text).as_dict()["schedules"] == [{"M": expected}]


def test_case_insensitive() -> None:
    assert (
        parse_text("EVERY Weekday AT 8:00 AM").as_dict()
        == parse_text("every weekday at 8:00 am").as_dict()
    )


def test_ranks_lists_and_ranges() -> None:
    assert parse_text("on the 1st-3rd, 5 and 7th day").as_dict()["schedules"] == [
        {"D": [1, 2, 3, 5, 7]}
    ]
    assert parse_text("on the 3 to 1 hour").as_dict()["schedules"] == [{"h": []}]


def test_every_variants() -> None:
    # "starting on N" must repeat the period; without it later.js errs at the end.
    with pytest.raises(LaterParseError) as caught:
        parse_text("every 20 minutes starting on 7")
    assert caught.value.position == 30
    assert parse_text("every 20 minutes starting on the 7th minute").as_dict()["schedules"] == [
        {"m": [7, 27, 47]}
    ]
    assert parse_text("every 20 minutes between 10 and 50").as_dict()["schedules"] == [
        {"m": [10, 30, 50]}
    ]
    # "between N" without "and M" is silently ignored by later.js.
    assert parse_text("every 20 minutes between 10").as_dict()["schedules"] == [{"m": [0, 20, 40]}]
    assert parse_text("every weekend").as_dict()["schedules"] == [{"d": [1, 7]}]


def test_after_and_before_modifiers() -> None:
    assert parse_text("after 10:00 before 17:00").as_dict()["schedules"] == [
        {"t_a": [36000], "t_b": [61200]}
    ]
    assert parse_text("after 5th hour").as_dict()["schedules"] == [{"h_a": [5]}]
    assert parse_text("before 3rd day of the week").as_dict()["schedules"] == [{"d_b": [3]}]


def test_also_and_except_structure() -> None:
    assert parse_text("at 10:00 also at 11:00 except on sat").as_dict() == {
        "schedules": [{"t": [36000]}, {"t": [39600]}],
        "exceptions": [{"d": [7]}],
        "error": -1,
    }
    # A second "except" reopens the first exception and leaves an empty one, as in later.js.
    assert parse_text("every 5 mins except at 10:00 except at 11:00").as_dict()["exceptions"] == [
        {"t": [36000, 39600]},
        {},
    ]


def test_empty_text_is_an_empty_schedule() -> None:
    assert parse_text("").as_dict() == {"schedules": [], "exceptions": [], "error": -1}


def test_schedule_is_frozen_hashable_and_picklable() -> None:
    parsed = parse_text("every 5 mins except at 10:00")
    assert isinstance(parsed, LaterSchedule)
    with pytest.raises(AttributeError):
        parsed.text = "x"  # type: ignore[misc]
    assert hash(parsed) == hash(parse_text("every 5 mins except at 10:00"))
    assert pickle.loads(pickle.dumps(parsed)) == parsed
    # as_dict hands out fresh lists: mutating them changes nothing.
    parsed.as_dict()["schedules"][0]["m"].append(99)
    assert 99 not in parsed.as_dict()["schedules"][0]["m"]


def test_caret_message_points_at_the_failure() -> None:
    with pytest.raises(LaterParseError) as caught:
        parse_text("every 5 minutes starting on the 3rd hour")
    error = caught.value
    assert error.position == 36
    lines = error.caret_message().splitlines()
    assert lines[0] == "every 5 minutes starting on the 3rd hour"
    assert lines[1] == " " * 36 + "^"
    assert lines[2] == error.reason
    assert "minute" in error.reason and "'hour'" in error.reason


def test_trailing_whitespace_is_an_error_with_a_hint() -> None:
    with pytest.raises(LaterParseError) as caught:
        parse_text("every 5 mins ")
    assert caught.value.position == 13
    assert "trailing" in caught.value.reason


def test_position_counts_utf16_units_like_javascript() -> None:
    # An astral character counts twice in JavaScript strings.
    with pytest.raises(LaterParseError) as caught:
        parse_text("at 10:00 \U0001f600")
    assert caught.value.position == 9
    with pytest.raises(LaterParseError) as caught:
        parse_text("\U0001f600")
    assert caught.value.position == 0
    assert caught.value.caret_message().splitlines()[1] == "^"


def test_javascript_whitespace_rules() -> None:
    # U+00A0 and U+3000 are whitespace in JavaScript regexps; U+001C is not.
    assert parse_text("every\u00a05\u3000mins").as_dict()["schedules"] == [
        {"m": list(range(0, 60, 5))}
    ]
    with pytest.raises(LaterParseError) as caught:
        parse_text("every\x1c5 mins")
    assert caught.value.position == 5

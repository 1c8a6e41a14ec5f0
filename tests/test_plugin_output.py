"""licmon/plugin_output.py and the kinds' verdicts under -w/-c, as pure functions: labels,
numbers, ranges (every form the guidelines define, and that each reproduces the verdict it
stands for), perfdata entries, the summary and the plugin line."""

from __future__ import annotations

import itertools
import re

import pytest

from licmon.plugin_output import (
    Finding,
    Perf,
    Range,
    at_or_below,
    label_text,
    number,
    one_line,
    output,
    plugin_line,
    summary,
)
from licmon.views import NO_LIMITS, Limits, days_code, days_perf, worst

pytestmark = pytest.mark.fast

# The guidelines' grammar, strictly: 'label'=value[UOM];[warn];[crit];[min];[max]
_NUM = r"-?\d+(?:\.\d+)?"
_RANGE = rf"@?(?:(?:{_NUM}|~):(?:{_NUM})?|{_NUM})"
PERF = re.compile(
    rf"(?:'(?:[^'=]|'')+'|[^'=\s]+)=(?:U|{_NUM}(?:s|ms|us|%|B|KB|MB|TB|c)?)"
    rf"(?:;(?:{_RANGE})?(?:;(?:{_RANGE})?(?:;(?:{_NUM})?(?:;(?:{_NUM})?)?)?)?)?"
)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (30, "30"),
        (-3, "-3"),
        (2.5, "2.5"),
        (1e-7, "0"),
        (100.0, "100"),
        (1 / 3, "0.333333"),
    ],
)
def test_numbers_are_plain_decimals(value: float, text: str) -> None:
    assert number(value) == text


def test_no_infinite_number() -> None:
    with pytest.raises(ValueError):
        number(float("inf"))


@pytest.mark.parametrize(
    ("label", "text"),
    [
        ("prod", "prod"),
        ("several-one-line", "several-one-line"),
        ("prod professional", "'prod professional'"),
        ("o'neil", "'o''neil'"),
        ("a=b", "a_b"),
        ("a|b c", "'a_b c'"),
        ("line\nbreak", "line_break"),
        ("Zürich", "'Zürich'"),
        ("", "_"),
    ],
)
def test_labels_quoted_when_they_must_be(label: str, text: str) -> None:
    assert label_text(label) == text
    assert PERF.fullmatch(f"{text}=1")


@pytest.mark.parametrize(
    ("range_", "text", "alerting", "quiet"),
    [
        (Range(0, 10), "10", [-1, 11], [0, 10]),  # outside 0..10
        (Range(10), "10:", [9, -5], [10, 1000]),  # below 10
        (Range(None, 10), "~:10", [11], [10, -1000]),  # above 10
        (Range(10, 20), "10:20", [9, 21], [10, 20]),
        (Range(10, 20, inside=True), "@10:20", [10, 15, 20], [9, 21]),
        (Range(None, 5, inside=True), "@~:5", [5, -2], [6]),
        (Range(-1), "-1:", [-2], [-1, 0]),
    ],
)
def test_ranges_read_as_the_guidelines_say(
    range_: Range, text: str, alerting: list[float], quiet: list[float]
) -> None:
    assert range_.text() == text
    assert re.fullmatch(_RANGE, text)
    assert [range_.alerts(v) for v in alerting] == [True] * len(alerting)
    assert [range_.alerts(v) for v in quiet] == [False] * len(quiet)


@pytest.mark.parametrize("limit", [-1, 0, 5, 30, 2.5, 7.9])
def test_at_or_below_alerts_exactly_at_or_below(limit: float) -> None:
    whole, any_number = at_or_below(limit), at_or_below(limit, whole=False)
    for value in range(-10, 40):
        assert whole.alerts(value) == (value <= limit), (limit, value)
    for value in [x / 4 for x in range(-40, 160)]:
        assert any_number.alerts(value) == (value <= limit), (limit, value)
    assert any_number.text() == f"@~:{number(limit)}"


def test_perf_entries() -> None:
    assert Perf("prod", 30, warn=Range(61), crit=Range(0)).text() == "prod=30;61:;0:"
    assert Perf("prod", None).text() == "prod=U"
    assert Perf("a b", 5, minimum=0, maximum=100).text() == "'a b'=5;;;0;100"
    assert Perf("t", 1.5, "s", crit=Range(None, 1)).text() == "t=1.5s;;~:1"
    for entry in (
        Perf("prod", 30, warn=Range(61), crit=Range(0)),
        Perf("o'neil x", -3, warn=at_or_below(2.5, whole=False), minimum=0),
        Perf("prod", None),
    ):
        assert PERF.fullmatch(entry.text()), entry.text()


def test_days_perf_reproduces_days_code_everywhere() -> None:
    """For every days left, threshold and -w/-c: the ranges give the exit code (not
    expired by a flag: that one has no number to range)."""
    limits = [Limits(w, c) for w, c in itertools.product([None, 0, 10, 45], [None, 0, 7, 20])]
    for days, threshold, limit in itertools.product(range(-5, 70), [0, 30, 60], limits):
        code = days_code(days, threshold, limit, expired=days < 0)
        assert days_perf("s", days, threshold, limit).state() == code, (days, threshold, limit)


def test_days_code() -> None:
    assert days_code(30, 60, NO_LIMITS, expired=False) == 1
    assert days_code(61, 60, NO_LIMITS, expired=False) == 0
    assert days_code(0, 0, NO_LIMITS, expired=False) == 1  # the last day
    assert days_code(None, 60, NO_LIMITS, expired=False) == 0  # perpetual
    assert days_code(90, 60, NO_LIMITS, expired=True) == 2  # QRS says expired
    assert days_code(30, 60, Limits(warning=10), expired=False) == 0
    assert days_code(10, 60, Limits(warning=10), expired=False) == 1
    assert days_code(0, 60, Limits(critical=0), expired=False) == 2  # -c 0: 0 days or fewer
    assert days_code(-1, 60, Limits(critical=0), expired=True) == 2
    assert days_code(1, 60, Limits(critical=0), expired=False) == 1


def test_worst_is_critical_warning_unknown_ok() -> None:
    assert worst([0, 3, 1]) == 1
    assert worst([3, 2, 1]) == 2
    assert worst([0, 3]) == 3
    assert worst([]) == 0


def test_summary_names_the_worst_first() -> None:
    findings = [
        Finding(0, "a 90 days left", 90),
        Finding(1, "b 30 days left", 30),
        Finding(3, "c unknown", 1e9),
        Finding(1, "d 10 days left", 10),
        Finding(2, "e expired", -1),
    ]
    assert (
        summary(findings) == "e expired, d 10 days left, b 30 days left, +1 more, 1 of 5 sites ok"
    )
    assert summary([*findings[:1], Finding(0, "z 40 days left", 40)]) == (
        "z 40 days left, 2 of 2 sites ok"
    )
    assert summary([Finding(3, "t down")], noun="tenants") == "t down, 0 of 1 tenants ok"


def test_the_plugin_line() -> None:
    perf = (Perf("prod", 30, warn=Range(61), crit=Range(0)),)
    assert plugin_line("LICENSE", 1, "prod 30 days left", perf) == (
        "LICENSE WARNING - prod 30 days left | prod=30;61:;0:"
    )
    assert plugin_line("LICENSE", 0, "fine") == "LICENSE OK - fine"
    assert plugin_line("X", 2, "a") == "X CRITICAL - a"
    assert plugin_line("X", 7, "a") == "X UNKNOWN - a"
    # No `|` or line break may leak from a site's error text into the status text.
    assert one_line("a | b\nc; d") == "a \u00a6 b c, d"
    assert output("X", 3, "a|b", long="T | x\nrow") == "X UNKNOWN - a\u00a6b\nT \u00a6 x\nrow"

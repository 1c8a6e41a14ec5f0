"""Differential tests: our later.js port against the real @breejs/later 4.2.0 under Node.js.

Each test sends its whole batch of cases to ONE node process (tests/laterjs_reference.js) and
compares, case by case: the parsed structure (key order included), the error position of
invalid texts, ``next(count, start)`` to the millisecond, and the delay ``later.setTimeout``
picks. Cases come from a fixed table and from a hypothesis grammar generator (derandomized,
so CI sees the same cases every run).
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from licmon.laterjs import LaterParseError, LaterScheduleError, parse_text, raw_fire_ms, raw_next
from licmon.laterjs.engine import LaterLimitError
from tests.conftest import service_missing
from tests.laterjs_cases import ALL_TAGS, MAX_JS_DELAY, Case, case, run_reference

pytestmark = pytest.mark.node

LATER_VERSION = "4.2.0"
GENERATED_EXAMPLES = 1400  # hypothesis repeats itself a little; about 1100 stay unique

FIXED_TEXTS = [
    "every 24 hours",
    "every 14 days",
    "every 5 mins",
    "at 10:15 am",
    "every weekday at 8:00 am",
    "every 1 hour",
    "every 6 hours",
    "every 30 seconds",
    "every 2 weeks",
    "every 3 months",
    "every 2 years",
    "every 5 minutes starting on the 3rd minute",
    "every 10 minutes between the 5th and 35th minute",
    "every 10 minutes between 5 and 35",
    "every weekend at 12:00 pm",
    "at 12:30 am",
    "at 10:15 am and 5:30 pm and 23:59",
    "@ 10:15",
    "on the first day of the month at 09:00",
    "on the last day of the month",
    "on the last day of the week",
    "on the 1st,15th day",
    "on the 1st-5th,10th day of the year",
    "on the 2nd day instance on tue",
    "on the last day instance on fri",
    "on the 3rd week of the month",
    "on the last week of the month",
    "on the 10th through 12th week of the year",
    "on the 52nd week",
    "on mon, wed and fri at 08:00",
    "on mon-fri at 17:00",
    "on monday through friday",
    "of jan,jul",
    "of march to may on the 1st day",
    "of ma",
    "in 2027",
    "in 2025-2030 of december",
    "after 10:00 before 17:00",
    "after 5th hour before 18th hour",
    "after 23rd day",
    "before 2nd month",
    "every 5 mins except at 10:00",
    "every 1 hour except on sat,sun",
    "every 1 hour also at 10:15 am",
    "at 10:00 also at 11:00 except on sat",
    "every 5 minutes except at 10:00 except at 11:00",
    "every 5 mins also",
    "on the 31st day of feb",
    "every 5 minutes between 50 and 10",
    "EVERY 5 MINS",
    "Every Weekday At 8:00 AM",
    "",
    "every 5 mins ",
    " every 5 mins",
    "every",
    "every 5",
    "every five minutes",
    "at 25:00",
    "at 10:15 xm",
    "on the 1st",
    "every 5 starting on 3 minutes",
    "on tues and thur",
    "every 1 second",
    "every 2 days of the week",
    "every 3 day instance",
    "every 100 minutes",
    "every 0 hours",
]
FIXED_STARTS = ["2026-11-28T03:17:00Z", "2026-02-28T23:59:59.500Z", "2024-12-31T00:00:00Z"]


def _ms(iso: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


@pytest.fixture(scope="session")
def later_node_modules(
    node_tools: tuple[str, str], tmp_path_factory: pytest.TempPathFactory, pytestconfig
) -> Path:
    """A node_modules holding @breejs/later 4.2.0: $LICMON_LATERJS_NODE_MODULES, or npm's."""
    preset = os.environ.get("LICMON_LATERJS_NODE_MODULES")
    if preset:
        return Path(preset)
    _, npm = node_tools
    root = tmp_path_factory.mktemp("laterjs")
    command = [
        npm, "install", "--no-audit", "--no-fund", "--no-save", "--loglevel=error",
        "--cache", str(root / "npm-cache"), "--prefix", str(root),
        f"@breejs/later@{LATER_VERSION}",
    ]  # fmt: skip
    try:
        subprocess.run(command, check=True, capture_output=True, text=True, timeout=180)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        output = getattr(exc, "stderr", "") or ""
        service_missing(pytestconfig, f"npm install @breejs/later@{LATER_VERSION} ({output})")
    return root / "node_modules"


def python_answer(c: Case, today_ms: int) -> dict[str, Any]:
    """Our answer in the reference script's shape (``parseThrows`` etc. as booleans)."""
    out: dict[str, Any] = {"error": None, "parse": None, "next": None, "fire": None}
    try:
        schedule = parse_text(c.text)
    except LaterParseError as exc:
        out["error"] = exc.position
        out["reason"] = exc.reason
        return out
    out["error"] = -1
    data = schedule.as_dict()
    out["parse"] = json.dumps(
        {"schedules": data["schedules"], "exceptions": data["exceptions"]},
        separators=(",", ":"),
    )
    try:
        out["next"] = raw_next(schedule, c.start, c.count, today_ms=today_ms)
        fire = raw_fire_ms(schedule, c.start, today_ms=today_ms)
        out["fire"] = None if fire is None else min(fire, c.start + MAX_JS_DELAY)
    except LaterScheduleError as exc:
        out["scheduleThrows"] = str(exc)
        out["overBudget"] = isinstance(exc, LaterLimitError)
    return out


def never_fires(js: dict[str, Any]) -> bool:
    return js["fire"] is None and not any(js["next"] or ())


def mismatch(c: Case, js: dict[str, Any], py: dict[str, Any]) -> str | None:
    """None if both agree, else what differs."""
    if js["parseThrows"] is not None:
        # later.js crashes only after a parse error; we must refuse the text too.
        return None if py["error"] not in (None, -1) else "later.js throws, we accept"
    if js["error"] != py["error"]:
        return f"error position: later.js {js['error']}, ours {py['error']}"
    if js["error"] != -1:
        return None
    if js["parse"] != py["parse"]:
        return "parsed structure differs"
    if js["scheduleThrows"] is None and py.get("overBudget") and never_fires(js):
        # Our one deliberate difference: a schedule whose next occurrence takes more than the
        # engine's step budget to find is refused (at load, naming it), where later.js may
        # search on and conclude it never fires. Never firing is no schedule either way.
        return None
    if (js["scheduleThrows"] is not None) != ("scheduleThrows" in py):
        return "later.schedule() throws in one and not the other"
    if js["scheduleThrows"] is not None:
        return None
    if js["next"] != py["next"]:
        return "next() differs"
    if js["fire"] != py["fire"]:
        return "setTimeout fire time differs"
    return None


def compare_all(node: str, node_modules: Path, cases: list[Case]) -> float:
    """Run the batch through node and Python; fail listing every mismatch. Returns seconds."""
    began = time.monotonic()
    now_ms, results = run_reference(node, node_modules, cases)
    failures = []
    for c, js in zip(cases, results, strict=True):
        py = python_answer(c, now_ms)
        problem = mismatch(c, js, py)
        if problem:
            failures.append(
                f"{problem}\n  text:  {c.text!r}\n  start: {c.start} ({_iso(c.start)})"
                f" count {c.count}\n  later.js: {json.dumps(js)}\n  ours:     {json.dumps(py)}"
            )
    if failures:
        pytest.fail(
            f"{len(failures)} of {len(cases)} cases differ from later.js:\n\n"
            + "\n\n".join(failures[:25]),
            pytrace=False,
        )
    return time.monotonic() - began


def _iso(ms: int) -> str:
    from datetime import UTC, datetime, timedelta

    try:
        return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)).isoformat()
    except OverflowError:
        return "out of datetime range"


@functools.cache
def generated_cases(count: int = GENERATED_EXAMPLES) -> tuple[Case, ...]:
    """Unique cases from ``count`` hypothesis draws, derandomized: every run sees the same."""
    drawn: dict[tuple[str, int, int], Case] = {}

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case())
    def collect(c: Case) -> None:
        drawn.setdefault((c.text, c.start, c.count), c)

    collect()
    return tuple(drawn.values())


def test_fixed_table_matches_later_js(
    node_tools: tuple[str, str], later_node_modules: Path
) -> None:
    cases = [
        Case(text, _ms(start), count)
        for text in FIXED_TEXTS
        for start in FIXED_STARTS
        for count in (1, 6)
    ]
    compare_all(node_tools[0], later_node_modules, cases)


def test_generated_schedules_match_later_js(
    node_tools: tuple[str, str], later_node_modules: Path
) -> None:
    began = time.monotonic()
    cases = list(generated_cases())
    assert len(cases) >= 1000
    compare_all(node_tools[0], later_node_modules, cases)
    elapsed = time.monotonic() - began
    print(f"\n{len(cases)} generated later.js cases compared in {elapsed:.1f} s")


def test_generator_reaches_every_grammar_branch() -> None:
    cases = generated_cases()
    reached = frozenset().union(*(c.tags for c in cases))
    assert ALL_TAGS - reached == set()
    invalid = sum("invalid" in c.tags for c in cases)
    assert invalid >= 100, invalid

"""`licmon schedule "TEXT"`: show when a later.js schedule text fires, as Butler would.

Top-level imports stay at the standard library and licmon.laterjs, so the command starts fast.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from licmon.cli.exit_codes import exit_help
from licmon.laterjs import (
    LaterLimitError,
    LaterParseError,
    LaterScheduleError,
    next_occurrences,
    parse_text,
)

EXIT_INVALID = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "schedule",
        help="print the next times a later.js schedule text fires (UTC)",
        description="Print the next occurrences of a later.js text schedule, in UTC, "
        "exactly as @breejs/later computes them (e.g. 'every 24 hours', 'at 10:15 am').",
        **exit_help("schedule"),
    )
    parser.add_argument("text", help="later.js schedule text, e.g. 'every 24 hours'")
    parser.add_argument(
        "--start",
        type=_instant,
        default=None,
        help="ISO 8601 start instant (default: now); a time without an offset is UTC",
    )
    parser.add_argument("--count", type=_count, default=5, help="how many occurrences (default: 5)")
    parser.add_argument(
        "--json", action="store_true", help="print the parsed schedule and occurrences as JSON"
    )
    parser.set_defaults(handler=run)


def _instant(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date-time: {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _count(value: str) -> int:
    try:
        count = int(value)
    except ValueError:
        count = -1
    if count < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1: {value!r}")
    return count


def _format(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def run(args: argparse.Namespace) -> int:
    try:
        schedule = parse_text(args.text)
    except LaterParseError as exc:
        print(exc.caret_message(), file=sys.stderr)
        return EXIT_INVALID
    except LaterLimitError as exc:  # too long a text: not worth showing back
        print(f"later.js schedule refused: {exc}", file=sys.stderr)
        return EXIT_INVALID
    start = args.start or datetime.now(UTC)
    try:
        occurrences = next_occurrences(schedule, start, args.count)
    except LaterScheduleError as exc:
        print(f"{args.text}\nlater.js cannot run this schedule: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if args.json:
        document = {
            "text": args.text,
            "parsed": schedule.as_dict(),
            "start": _format(start),
            "occurrences": [_format(moment) for moment in occurrences],
        }
        print(json.dumps(document, indent=2))
    else:
        for moment in occurrences:
            print(_format(moment))
    return 0

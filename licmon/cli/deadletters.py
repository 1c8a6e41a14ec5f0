"""`licmon deadletters`: what failed for good, newest first, from the Redis dead-letter list."""

from __future__ import annotations

import argparse
import json
import sys

from licmon.cli.common import add_config_option, load_or_report

EXIT_CONFIG, EXIT_UNREACHABLE = 2, 3


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "deadletters", help="list checks and deliveries that failed after every retry"
    )
    add_config_option(parser)
    parser.add_argument("--limit", type=int, default=50, help="newest N (default 50)")
    parser.add_argument("--json", action="store_true", help="print a JSON array")
    parser.add_argument("--clear", action="store_true", help="empty the list after printing")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import redis

    from licmon.deadletters import DeadLetters

    config = load_or_report(args)
    if config is None:
        return EXIT_CONFIG
    url = config.broker.url.get_secret_value()
    if not url.startswith(("redis://", "rediss://", "unix://")):
        scheme = url.split(":", 1)[0]
        print(f"licmon deadletters: the broker is {scheme}://, not Redis: no list", file=sys.stderr)
        return EXIT_UNREACHABLE
    letters = DeadLetters(redis.Redis.from_url(url))
    try:
        entries = letters.newest(args.limit)
        total = letters.count()
        cleared = letters.clear() if args.clear else 0
    except redis.RedisError as exc:
        print(f"licmon deadletters: cannot read Redis: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    if args.json:
        print(json.dumps([entry.to_json() for entry in entries], indent=2))
    else:
        print(
            f"{total} dead letter{'s' if total != 1 else ''}"
            + (f", newest {len(entries)}:" if entries else "")
        )
        for entry in entries:
            where = "/".join(part for part in (entry.destination, entry.target) if part)
            attempts = f"after {entry.attempts} attempt(s)"
            print(f"{entry.at}  {entry.site}  {where}  {entry.checkId}  {attempts}: {entry.reason}")
    if cleared:
        print(f"cleared {cleared}", file=sys.stderr)
    return 0

"""`licmon check`: every site a check kind checks, once, without Celery: a monitoring
plugin for Nagios, Icinga or Checkmk, and a command for cron or a terminal.

Output (without --json): `<WORD> <STATE> - <summary> | <perfdata>`, the kind's word
(`LICENSE`, `ACCESS`, ...), then the kind's table as long output (licmon/plugin_output.py).
Exit codes follow the monitoring-plugin convention, each kind saying what its levels are:
0 ok, 1 warning, 2 expired (critical), 3 unknown (a check failed, the configuration is
wrong, or the run passed its deadline, -t). With several sites the most severe wins, in the
order 2, 1, 3, 0: an expired license matters more than a site we could not reach.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from licmon.cli.common import load_or_report, read_state
from licmon.cli.deadline import Deadline, bounded_call, bounded_map
from licmon.cli.exit_codes import exit_help
from licmon.cli.kinds import (
    add_kind_options,
    add_plugin_options,
    chosen_kind,
    chosen_sites,
    limits_of,
    print_report,
    sites_checked,
)
from licmon.views import EXIT_CRITICAL, EXIT_OK, EXIT_UNKNOWN, EXIT_WARNING

if TYPE_CHECKING:
    from licmon.checks.base import CheckKind
    from licmon.config import MonitorConfig, Site

# Kept for callers of the first release's names.
EXIT_EXPIRED = EXIT_CRITICAL
__all__ = ["EXIT_EXPIRED", "EXIT_OK", "EXIT_UNKNOWN", "EXIT_WARNING", "register", "run"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "check",
        help="check every enabled site once and print the result",
        description="A monitoring plugin: `<KIND> <STATE> - <summary> | <perfdata>`, then "
        "the table. Exit 0 ok, 1 warning, 2 expired (critical), 3 check failed, bad config "
        "or deadline (-t) passed.",
        **exit_help("check"),
    )
    add_plugin_options(parser)
    parser.add_argument("--json", action="store_true", help="print a JSON array on stdout")
    add_kind_options(parser)
    parser.set_defaults(handler=run)


def check_all(
    kind: CheckKind, config: MonitorConfig, sites: list[Site], deadline: Deadline
) -> list[Any | None]:
    """Every site in parallel, each through the kind's own data source; None for a site
    that did not answer by the deadline."""
    from datetime import UTC, datetime

    from licmon.checking import check_site
    from licmon.resources import Resources

    checked_at = datetime.now(UTC)
    # Connections live for this run only; Redis is not touched unless a kind asks.
    connections = Resources(config.broker)
    futures = bounded_map(
        lambda site: check_site(kind, site, connections, checked_at, config), sites, deadline
    )
    if all(future.done() and not future.cancelled() for future in futures):
        connections.close()  # else an abandoned check may still use them: the exit frees them
        return [future.result() for future in futures]
    return [
        future.result() if future.done() and not future.cancelled() else None for future in futures
    ]


def run(args: argparse.Namespace) -> int:
    deadline = Deadline(args.timeout)
    config = load_or_report(args)
    if config is None:
        print("licmon check: no site was checked (exit 3: configuration error)", file=sys.stderr)
        return EXIT_UNKNOWN
    kind = chosen_kind(args, config, "check")
    if kind is None:
        return EXIT_UNKNOWN
    sites = chosen_sites(config, list(config.sites), args.site, "check")
    if not sites:
        return EXIT_UNKNOWN
    sites = sites_checked(kind, config, sites, args.site, "check")
    if not sites:
        return EXIT_UNKNOWN
    statuses = check_all(kind, config, sites, deadline)
    late = [site.name for site, status in zip(sites, statuses, strict=True) if status is None]
    if late:
        answered = [
            f"{status.site}: {kind.summary(status)}" for status in statuses if status is not None
        ]
        return timed_out(
            kind,
            args,
            f"no answer within {args.timeout:g} s from {', '.join(late)} "
            f"({len(sites) - len(late)} of {len(sites)} sites answered)",
            answered,
        )
    future = bounded_call(
        lambda: kind.check_report(
            config,
            statuses,
            lambda read: read_state(config, read, "check", timeout=5),
            limits_of(args),
        ),
        deadline,
    )
    if not future.done() or future.cancelled():
        return timed_out(
            kind,
            args,
            f"every site answered, but the state in Redis did not within {args.timeout:g} s",
            [f"{status.site}: {kind.summary(status)}" for status in statuses],
        )
    return print_report(kind, future.result(), args.json, f"{len(sites)} sites checked")


def timed_out(kind: CheckKind, args: argparse.Namespace, text: str, answered: list[str]) -> int:
    from licmon.plugin_output import output

    shown = output(kind.plugin_word, EXIT_UNKNOWN, text, long="\n".join(answered))
    # --json promises JSON on stdout: the reason goes to stderr, stdout stays empty.
    print(shown, file=sys.stderr if args.json else sys.stdout)
    return EXIT_UNKNOWN

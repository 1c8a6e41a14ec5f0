"""What `licmon check` and `licmon status` share: `--kind NAME` (and `--access`, its alias
for the access licenses, kept from the first release), the sites a kind checks, and the
monitoring-plugin options: `--site S` (repeatable), `-w`/`-c` (the kind's thresholds for
this run), `-t SECONDS` (the whole run's deadline).

`-c` was `--config` before it was the critical threshold, and commands written then still
run: `-c` followed by a whole number is the critical threshold, anything else a config
file (a config file named like a number needs `--config` or `./30`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from licmon.cli.deadline import DEFAULT_SECONDS

if TYPE_CHECKING:
    from licmon.checks.base import CheckKind
    from licmon.config import MonitorConfig, Site
    from licmon.views import Limits, Report

# `--access`, kept from the first release: the kind that answers to this alias.
ACCESS_ALIAS = "access"


def add_kind_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kind",
        metavar="NAME",
        help="the check kind's name or alias (default: the first registered, the server "
        "license); an unknown one lists them",
    )
    parser.add_argument(
        "--access", action="store_true", help=f"the same as --kind {ACCESS_ALIAS} (access licenses)"
    )


def add_plugin_options(parser: argparse.ArgumentParser) -> None:
    """--config (with -c, see above), --site, -w, -c, -t."""
    parser.add_argument(
        "--config", metavar="FILE", help="Butler or licmon YAML config (default: $LICMON_CONFIG)"
    )
    parser.add_argument(
        "--site",
        metavar="S",
        action="append",
        help="this site (or tenant) only; repeat for several (default: every one)",
    )
    parser.add_argument(
        "-w",
        "--warning",
        metavar="N",
        type=_whole,
        help="warning at or below N for this run: days left (access licenses: available "
        "seats or tokens); default: the configured threshold",
    )
    parser.add_argument(
        "-c",
        dest="critical",
        metavar="N",
        action=CriticalOrConfig,
        help="critical at or below N (same unit as -w); default: expired (access licenses: "
        "never). -c FILE, not a number, is --config FILE, as in earlier releases",
    )
    parser.add_argument("--critical", metavar="N", type=_whole, help="the same as -c N")
    parser.add_argument(
        "-t",
        "--timeout",
        metavar="SECONDS",
        type=_seconds,
        default=DEFAULT_SECONDS,
        help=f"the whole run's deadline (default {DEFAULT_SECONDS:g}): then UNKNOWN, "
        "naming what did not answer, exit 3",
    )


class CriticalOrConfig(argparse.Action):
    """`-c N`: the critical threshold; `-c FILE`: the config file (the first release's)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        text = str(values)
        if text.isdigit():
            namespace.critical = int(text)
        else:
            namespace.config = text


def _whole(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"not a whole number >= 0: {text!r}")
    return int(text)


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0
    if not 0 < seconds < 86400:
        raise argparse.ArgumentTypeError(f"not a number of seconds above 0: {text!r}")
    return seconds


def chosen_sites(
    config: MonitorConfig, sites: list[Site], asked: list[str] | None, command: str
) -> list[Site]:
    """`sites`, or those named by --site (in the configuration's order); none, said on
    stderr with the names there are, when one asked for is not configured."""
    if not asked:
        return sites
    unknown = [name for name in dict.fromkeys(asked) if name not in {s.name for s in sites}]
    if unknown:
        print(
            f"licmon {command}: no site named {', '.join(map(repr, unknown))} in "
            f"{config.source} (sites: {', '.join(site.name for site in sites)})",
            file=sys.stderr,
        )
        return []
    return [site for site in sites if site.name in asked]


def chosen_kind(args: argparse.Namespace, config: MonitorConfig, command: str) -> CheckKind | None:
    """The kind asked for; None, said on stderr, when it is unknown or contradicts --access."""
    plugins = config.plugins
    name = args.kind
    if args.access:
        if name is not None and plugins.kind_or_none(name) is not plugins.kind_or_none(
            ACCESS_ALIAS
        ):
            print(f"licmon {command}: --access contradicts --kind {name}", file=sys.stderr)
            return None
        name = ACCESS_ALIAS
    try:
        return plugins.kind(name)
    except KeyError:
        known = ", ".join(" or ".join((kind.name, *kind.aliases)) for kind in plugins.kinds)
        print(f"licmon {command}: no check kind {name!r} (kinds: {known})", file=sys.stderr)
        return None


def sites_checked(
    kind: CheckKind,
    config: MonitorConfig,
    sites: list[Site],
    asked: list[str] | None,
    command: str,
) -> list[Site]:
    """The sites among `sites` that `kind` checks; none, said on stderr with the switches
    that decide it and the kinds that do check them, when it checks none of them."""
    checked = [site for site in sites if kind.frequency(site) is not None]
    if not checked:
        where = "every site" if not asked else "site " + ", ".join(map(repr, asked))
        others = [
            other.name
            for other in config.plugins.kinds
            if other is not kind and any(other.frequency(site) is not None for site in sites)
        ]
        shown = "".join(f"; --kind {name} shows it" for name in others)
        print(f"licmon {command}: {where}: {kind.not_checked}{shown}", file=sys.stderr)
    return checked


def limits_of(args: argparse.Namespace) -> Limits:
    from licmon.views import Limits

    return Limits(warning=args.warning, critical=args.critical)


def print_report(kind: CheckKind, report: Report, as_json: bool, otherwise: str) -> int:
    """The report on stdout: its JSON, or the plugin line and the table; its exit code.
    `otherwise`: the summary when the kind gives none."""
    import json

    from licmon.plugin_output import output

    if as_json:
        print(json.dumps(report.document, indent=2))
    else:
        word = getattr(kind, "plugin_word", None) or kind.name.upper()
        print(
            output(
                word, report.exit_code, report.summary or otherwise, report.perfdata, report.table
            )
        )
    return report.exit_code

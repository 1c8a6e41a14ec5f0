"""What `licmon check` and `licmon status` share: `--kind NAME` (and `--access`, its alias
for the access licenses, kept from the first release), and the sites a kind checks."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from licmon.checks.base import CheckKind
    from licmon.config import MonitorConfig, Site

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
    kind: CheckKind, config: MonitorConfig, sites: list[Site], asked: str | None, command: str
) -> list[Site]:
    """The sites among `sites` that `kind` checks; none, said on stderr with the switches
    that decide it and the kinds that do check them, when it checks none of them."""
    checked = [site for site in sites if kind.frequency(site) is not None]
    if not checked:
        where = "every site" if asked is None else f"site {asked!r}"
        others = [
            other.name
            for other in config.plugins.kinds
            if other is not kind and any(other.frequency(site) is not None for site in sites)
        ]
        shown = "".join(f"; --kind {name} shows it" for name in others)
        print(f"licmon {command}: {where}: {kind.not_checked}{shown}", file=sys.stderr)
    return checked

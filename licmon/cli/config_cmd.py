"""`licmon config validate`: check a config file without contacting anything."""

from __future__ import annotations

import argparse

from licmon.cli.common import add_config_option, load_or_report
from licmon.cli.exit_codes import exit_help

EXIT_INVALID = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    config = subparsers.add_parser("config", help="work with configuration files")
    actions = config.add_subparsers(dest="config_action", required=True, metavar="ACTION")
    validate = actions.add_parser(
        "validate",
        help="print OK, or every problem in the file (exit 2)",
        **exit_help("config validate"),
    )
    add_config_option(validate)
    validate.set_defaults(handler=run_validate)


def run_validate(args: argparse.Namespace) -> int:
    config = load_or_report(args)
    if config is None:
        return EXIT_INVALID
    print("OK")
    return 0

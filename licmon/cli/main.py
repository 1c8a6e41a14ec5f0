"""Entry point of ``licmon``: one sub-command per module, each registering itself.

Sub-command modules keep their top-level imports light (no Celery, no requests) and import
what they need inside ``run``, so that ``licmon schedule`` starts fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# Each module has `register(subparsers)`; its parser sets `handler=run`, `run(args) -> int`.
SUBCOMMAND_MODULES = (
    "licmon.cli.check",
    "licmon.cli.config_cmd",
    "licmon.cli.schedule",
    "licmon.cli.simulator",
    "licmon.cli.deadletters",
    "licmon.cli.status",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="licmon", description="Qlik Sense server license monitor (Butler-compatible)."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

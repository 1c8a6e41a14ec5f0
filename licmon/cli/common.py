"""Pieces the sub-commands share: the --config option and reporting a bad config."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from licmon.config import MonitorConfig


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        "-c",
        metavar="FILE",
        help="Butler or licmon YAML config (default: $LICMON_CONFIG)",
    )


def load_or_report(args: argparse.Namespace) -> MonitorConfig | None:
    """The config, or None after printing every problem to stderr."""
    from licmon.config import ConfigError, load_config

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"configuration error: {exc.report()}", file=sys.stderr)
        return None
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return config

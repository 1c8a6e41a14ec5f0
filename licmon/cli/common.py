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


def aligned(rows: list[tuple[str, ...]]) -> list[str]:
    """Table rows as text lines: every column padded to its widest cell but the last, which
    may be long (a detail, an error's reason)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return [
        "  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)), row[-1]])
        for row in rows
    ]
